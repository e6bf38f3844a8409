"""Account pages: register, log in (password, then a second factor where there is one) and out,
reset and change the password; two-factor sign-in; your profile (name, phone, time zone,
language) and changing your email address; claiming an account the clinic made (an
invitation)."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import urlsplit

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from portal.auth import profile as account
from portal.auth import service, signin, throttle, twofactor
from portal.auth.api import email_confirm_link
from portal.auth.cli import two_factor_off
from portal.auth.forms import (
    ChangePasswordForm,
    ClaimForm,
    CodeForm,
    ConfirmEmailForm,
    DisableTwoFactorForm,
    EmailChangeForm,
    EnableTwoFactorForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    ProfileForm,
    RegistrationForm,
    ResetPasswordForm,
)
from portal.clock import utcnow
from portal.desk.service import is_placeholder_email
from portal.exceptions import ValidationFailed
from portal.extensions import limiter
from portal.mailer import send_templated_email
from portal.security import login_required
from portal.web import apply_errors, home_for

bp = Blueprint("auth", __name__, url_prefix="/account")
bp.cli.add_command(two_factor_off)  # flask auth two-factor-off EMAIL
log = logging.getLogger(__name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths, so a crafted link cannot bounce a user to another site."""
    if not target:
        return None
    # Browsers read a backslash as "/" and drop tabs and newlines, so "/\\evil.example" and
    # "/<tab>/evil.example" would leave the site just as "//evil.example" does.
    if "\\" in target or any(char.isspace() or not char.isprintable() for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _start_session(user, remember: bool = False) -> None:
    # A fresh session at login: nothing from before (a planted session id) carries over.
    session.clear()
    login_user(user, remember=remember)
    session.permanent = True


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def register():
    """Patient self-registration; logs the new patient in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            user = service.register_patient(service.Registration(
                name=form.name.data, email=form.email.data, phone=form.phone.data,
                timezone=form.timezone.data, password=form.password.data,
                accept_terms=form.accept_terms.data, marketing=form.marketing.data))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            _start_session(user)
            flash(f"Welcome, {user.name}. Your account is ready.", "success")
            return redirect(url_for("doctors.directory"))
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Log in with email and password; rate-limited per address and per account.

    An account with two-factor sign-in goes on to `login_verify`; one whose role needs it and
    has none yet, to set it up (`two_factor`). Until then the session is not logged in.
    """
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            checked = signin.check_password(form.email.data, form.password.data)
        except throttle.AccountLocked as exc:
            return _locked("auth/login.html", form, exc)
        except service.InvalidCredentials as exc:
            form.form_errors.append(exc.message)
        else:
            return _after_password(checked, form.remember.data,
                                   _safe_next(request.args.get("next")))
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("auth/login.html", form=form), status


def _locked(template: str, form, exc: throttle.AccountLocked, **context):
    """The form again with the account's wait, as 429 with Retry-After."""
    form.form_errors.append(exc.message)
    return (render_template(template, form=form, **context), 429,
            {"Retry-After": str(exc.retry_after)})


# --- the steps after the password ------------------------------------------------------------

# Session keys: a sign-in whose password is checked and whose next step is due; the secret of
# a second factor being set up (sealed). Neither logs anyone in.
PENDING = "sign_in"
SETUP = "two_factor_setup"
PENDING_MINUTES = 10


def _after_password(checked: signin.PasswordChecked, remember: bool, next_path: str | None):
    user = checked.user
    if checked.next_step == signin.NextStep.DONE:
        _start_session(user, remember=remember)
        flash(f"Logged in as {user.name}.", "success")
        return redirect(next_path or home_for(user))
    _begin_step(user, checked.next_step, remember, next_path)
    if checked.next_step == signin.NextStep.ENROL:
        flash("Your account needs two-factor sign-in. Set it up now to continue.", "info")
        return redirect(url_for(".two_factor"))
    return redirect(url_for(".login_verify"))


def _begin_step(user, step: signin.NextStep, remember: bool, next_path: str | None) -> None:
    session.clear()  # nothing from before the password carries over
    session[PENDING] = {"uid": str(user.id), "ver": user.session_version, "step": step.value,
                        "remember": bool(remember), "next": next_path,
                        "at": int(utcnow().timestamp())}


def _pending(step: signin.NextStep):
    """(user, state) of the sign-in waiting for `step` in this session, or None: none, another
    step, older than PENDING_MINUTES, or the account changed since (password, logout)."""
    data = session.get(PENDING)
    if not isinstance(data, dict) or data.get("step") != step.value:
        return None
    try:
        user = service.get_user(uuid.UUID(str(data.get("uid"))))
    except ValueError:
        user = None
    fresh = utcnow().timestamp() - float(data.get("at") or 0) <= PENDING_MINUTES * 60
    if user is None or not user.active or user.session_version != data.get("ver") or not fresh:
        session.pop(PENDING, None)
        return None
    return user, data


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_verify():
    """The second step of logging in: a code from the authenticator app or a recovery code.

    Only after the password (else back to the login page); rate-limited per address, and wrong
    codes count towards the account's lock like wrong passwords.
    """
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    pending = _pending(signin.NextStep.CODE)
    if pending is None:
        flash("Log in with your email and password first.", "info")
        return redirect(url_for(".login"))
    user, state = pending
    form = CodeForm()
    if form.validate_on_submit():
        try:
            signin.check_code(user, form.code.data)
        except throttle.AccountLocked as exc:
            form.code.data = ""
            return _locked("auth/verify.html", form, exc)
        except (twofactor.InvalidCode, ValidationFailed) as exc:
            form.code.data = ""  # a used or wrong code is no use in the box
            form.code.errors = [exc.message]
        else:
            _start_session(user, remember=state.get("remember", False))
            flash(f"Logged in as {user.name}.", "success")
            return redirect(state.get("next") or home_for(user))
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    return render_template("auth/verify.html", form=form), status


# --- two-factor sign-in: set up, see, turn off -------------------------------------------


def _setup_secret(user) -> str:
    """The secret being set up in this session (kept sealed in it), or a new one."""
    data = session.get(SETUP)
    if isinstance(data, dict) and data.get("uid") == str(user.id):
        secret = twofactor.unseal(str(data.get("secret") or ""))
        if secret:
            return secret
    secret = twofactor.new_secret()
    session[SETUP] = {"uid": str(user.id), "secret": twofactor.seal(secret)}
    return secret


def _qr_code(uri: str) -> str:
    """The otpauth URI as an SVG QR code in a data: URI (black on white, as scanners like)."""
    return segno.make(uri, error="m").svg_data_uri(scale=4, dark="#000", light="#fff")


def _status_page(user, form: DisableTwoFactorForm, status: int = 200, headers=None):
    return render_template("auth/two_factor.html", user=user, enabled=True, form=form,
                           codes_left=twofactor.recovery_codes_left(user),
                           required=service.two_factor_required(user)), status, headers or {}


@bp.route("/two-factor", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def two_factor():
    """Set up two-factor sign-in: a QR code of the otpauth URI and the secret as text, confirmed
    with a first code; ten recovery codes are then shown, once. When it is on: its state and
    the form that turns it off. Also the step after the password for a role that must have it
    (the session is logged in only once it is set up)."""
    pending = None
    if current_user.is_authenticated:
        user = current_user._get_current_object()
    else:
        pending = _pending(signin.NextStep.ENROL)
        if pending is None:
            abort(401)
        user = pending[0]
    if user.two_factor_enabled:
        return _status_page(user, DisableTwoFactorForm(formdata=None))
    secret = _setup_secret(user)
    form = EnableTwoFactorForm()
    if form.validate_on_submit():
        try:
            codes = twofactor.enable(user, secret, form.code.data)
        except ValidationFailed as exc:
            form.code.data = ""
            apply_errors(form, exc)
        else:
            state = pending[1] if pending else {}
            # Other sessions ended (enable bumped the version); this one starts afresh.
            _start_session(user, remember=state.get("remember", False))
            continue_to = (state.get("next") or home_for(user)) if pending else \
                url_for(".two_factor")
            response = make_response(render_template("auth/recovery_codes.html", codes=codes,
                                                     continue_to=continue_to))
            response.headers["Cache-Control"] = "no-store"
            return response
    status = 422 if form.is_submitted() and (form.errors or form.form_errors) else 200
    uri = twofactor.provisioning_uri(user, secret)
    return render_template("auth/two_factor.html", user=user, enabled=False, form=form,
                           qr_code=_qr_code(uri), secret=secret, enrolling=pending is not None,
                           required=service.two_factor_required(user)), status


@bp.post("/two-factor/disable")
@login_required
@limiter.limit(_login_limit)
def two_factor_disable():
    """Turn two-factor sign-in off, with the password and a code (or a recovery code); other
    sessions end. A role that must have it is sent to set it up again (a new phone)."""
    user = current_user._get_current_object()
    if not user.two_factor_enabled:
        flash("Two-factor sign-in is not on.", "info")
        return redirect(url_for(".two_factor"), 303)
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            twofactor.disable(user, form.password.data, form.code.data)
        except throttle.AccountLocked as exc:
            form.form_errors.append(exc.message)
            return _status_page(user, form, 429, {"Retry-After": str(exc.retry_after)})
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            if service.two_factor_required(user):
                _begin_step(user, signin.NextStep.ENROL, False, None)
                flash("Two-factor sign-in is off. Your account needs it: set it up again, "
                      "with your new phone or app, to continue.", "info")
            else:
                _start_session(user)
                flash("Two-factor sign-in is off. Other devices have been logged out.",
                      "success")
            return redirect(url_for(".two_factor"), 303)
    return _status_page(user, form, 422)


@bp.post("/logout")
def logout():
    """End this session and, through the session version, every other one of this user."""
    form = LogoutForm()
    if current_user.is_authenticated and form.validate_on_submit():
        service.revoke_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password():
    """Email a reset link; the answer is the same whether or not the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = service.find_user_by_email(form.email.data)
        if user is not None and user.active:
            token = service.make_reset_token(user)
            # From PUBLIC_URL, never the request's Host header, which the asker controls.
            link = current_app.config["PUBLIC_URL"] + url_for("auth.reset_password", token=token)
            try:
                send_templated_email(user.email, "Reset your password", "password_reset",
                                     user=user, link=link,
                                     minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60)
            except OSError:
                log.exception("password reset email could not be sent")
                flash("We could not send the email just now. Please try again in a few minutes.",
                      "error")
                return render_template("auth/forgot.html", form=form), 503
        flash("If an account exists for that address, we have sent a link to reset the password.",
              "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str):
    """Set a new password from an emailed link; ends every existing session."""
    try:
        service.user_for_reset_token(token)
    except service.InvalidToken as exc:
        flash(exc.message, "error")
        return redirect(url_for("auth.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.password.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except service.InvalidToken as exc:
            flash(exc.message, "error")
            return redirect(url_for("auth.forgot_password"))
        else:
            logout_user()
            session.clear()
            flash("Your password has been changed. Log in with the new one.", "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("auth/reset.html", form=form, token=token), status


@bp.route("/claim/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def claim(token: str):
    """Set the first password of an account the clinic made (a receptionist invited by an
    admin, a patient registered at the desk) from the invitation link, and log in. When the
    clinic had no email address for the person, ask for one too."""
    try:
        user = service.user_for_invite_token(token)
    except service.InvalidToken as exc:
        flash(exc.message, "error")
        return redirect(url_for("auth.login"))
    needs_email = is_placeholder_email(user.email)
    form = ClaimForm()
    if not needs_email:
        del form.email
    if form.validate_on_submit():
        try:
            user = service.claim_account(token, form.password.data,
                                         form.email.data if needs_email else None)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except service.InvalidToken as exc:
            flash(exc.message, "error")
            return redirect(url_for("auth.login"))
        else:
            if service.two_factor_setup_missing(user):
                # A receptionist's first sign-in still needs the second factor set up.
                _begin_step(user, signin.NextStep.ENROL, False, None)
                flash("Your password is set. Your account needs two-factor sign-in: set it "
                      "up now to continue.", "info")
                return redirect(url_for(".two_factor"))
            _start_session(user)
            flash(f"Welcome, {user.name}. Your password is set and you are logged in.",
                  "success")
            return redirect(home_for(user))
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("auth/claim.html", form=form, user=user, token=token,
                           needs_email=needs_email), status


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password; other sessions end, this one is renewed."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            service.change_password(user, form.current_password.data, form.password.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            _start_session(user)
            flash("Your password has been changed. Other devices have been logged out.",
                  "success")
            return redirect(url_for("auth.change_password"))
    status = 422 if form.is_submitted() and form.errors else 200
    return render_template("auth/password.html", form=form), status


# --- your profile and email address ------------------------------------------------------------

EMAIL_FORM_PREFIX = "email_change"


def _profile_page(form: ProfileForm, email_form: EmailChangeForm, status: int = 200):
    return render_template("auth/profile.html", form=form, email_form=email_form,
                           hours=account.EMAIL_CHANGE_MAX_AGE // 3600), status


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Your name, phone, time zone and preferred language (checked as at registration);
    the page also holds the form that changes the email address (`change_email`)."""
    user = current_user._get_current_object()
    form = ProfileForm(obj=user)
    email_form = EmailChangeForm(prefix=EMAIL_FORM_PREFIX, formdata=None)
    if form.validate_on_submit():
        try:
            account.update_account(user, account.AccountChanges(
                name=form.name.data, phone=form.phone.data, timezone=form.timezone.data,
                language=form.language.data))
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash("Your profile is saved.", "success")
            return redirect(url_for(".profile"), 303)
    status = 422 if form.is_submitted() and form.errors else 200
    return _profile_page(form, email_form, status)


@bp.post("/email")
@login_required
@limiter.limit(_login_limit)
def change_email():
    """Email a confirmation link to a new address (and tell the old one); nothing changes
    until the link is opened. Needs the current password; rate-limited like logging in."""
    user = current_user._get_current_object()
    form = ProfileForm(obj=user, formdata=None)
    email_form = EmailChangeForm(prefix=EMAIL_FORM_PREFIX)
    if email_form.validate_on_submit():
        try:
            new_email = account.request_email_change(user, email_form.email.data,
                                                     email_form.password.data,
                                                     email_confirm_link)
        except ValidationFailed as exc:
            apply_errors(email_form, exc)
        except OSError:
            log.exception("email change confirmation could not be sent")
            flash("We could not send the email just now. Please try again in a few minutes.",
                  "error")
            return _profile_page(form, email_form, 503)
        else:
            hours = account.EMAIL_CHANGE_MAX_AGE // 3600
            flash(f"We sent a link to {new_email}. Open it within {hours} hours to confirm the "
                  f"change; until then, keep logging in with {user.email}.", "info")
            return redirect(url_for(".profile"), 303)
    return _profile_page(form, email_form, 422)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def confirm_email(token: str):
    """The emailed link: GET shows the new address and a button, POST makes the change.

    A GET changes nothing, because mail scanners open links before people do. The signed
    token is the credential, so no login is needed; a bad, used or expired one shows why,
    with status 400.
    """
    form = ConfirmEmailForm()
    if form.validate_on_submit():
        try:
            user = account.confirm_email_change(token)
        except service.InvalidToken as exc:
            return _confirm_page(form, token, error=exc.message, status=400)
        except ValidationFailed as exc:
            return _confirm_page(form, token, error=exc.message, status=409)
        flash(f"Your email address is now {user.email}.", "success")
        if current_user.is_authenticated and current_user.id == user.id:
            return redirect(url_for(".profile"), 303)
        return redirect(url_for(".login"), 303)
    try:
        _user, new_email = account.pending_email_change(token)
    except service.InvalidToken as exc:
        return _confirm_page(form, token, error=exc.message, status=400)
    return _confirm_page(form, token, new_email=new_email)


def _confirm_page(form: ConfirmEmailForm, token: str, *, new_email: str = "", error: str = "",
                  status: int = 200):
    return render_template("auth/confirm_email.html", form=form, token=token,
                           new_email=new_email, error=error), status
