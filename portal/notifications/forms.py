"""Forms of the notification pages. They only parse input; the rules live in the
service modules beside them (`preferences.py`, `templates.py`, `announcements.py`).

The preferences grid (type x channel checkboxes) is not a WTForms field: which cells exist
depends on the user's role and on which templates exist, so `ChannelGrid` builds it and reads
the posted checkboxes back into the `{channel: {type: bool}}` shape `update_preferences` takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.auth.models import Role
from portal.notifications.defaults import LANGUAGES
from portal.notifications.models import Channel
from portal.notifications.models import NotificationType as T
from portal.notifications.preferences import ALWAYS_ON, channel_enabled

CHANNEL_LABELS = {Channel.EMAIL: "Email", Channel.SMS: "SMS", Channel.PUSH: "Push",
                  Channel.IN_APP: "In the portal"}

TYPE_LABELS = {
    T.APPOINTMENT_RESERVED: "Slot held",
    T.APPOINTMENT_CONFIRMED: "Booking confirmed",
    T.APPOINTMENT_CANCELLED: "Booking cancelled",
    T.APPOINTMENT_RESCHEDULED: "Booking moved",
    T.APPOINTMENT_REMINDER: "Reminders",
    T.PAYMENT_RECEIPT: "Payment receipts",
    T.PAYMENT_FAILED: "Failed payments",
    T.REFUND_INITIATED: "Refund started",
    T.REFUND_COMPLETED: "Refund completed",
    T.DOCTOR_NEW_BOOKING: "New bookings",
    T.DOCTOR_BOOKING_CANCELLED: "Cancelled bookings",
    T.DOCTOR_BOOKING_MOVED: "Moved bookings",
    T.ANNOUNCEMENT: "Clinic announcements",
}

# What each role receives (the settings page shows only these rows).
TYPES_BY_ROLE = {
    Role.PATIENT: [T.APPOINTMENT_CONFIRMED, T.APPOINTMENT_REMINDER, T.APPOINTMENT_RESCHEDULED,
                   T.APPOINTMENT_CANCELLED, T.APPOINTMENT_RESERVED, T.PAYMENT_RECEIPT,
                   T.PAYMENT_FAILED, T.REFUND_INITIATED, T.REFUND_COMPLETED, T.ANNOUNCEMENT],
    Role.DOCTOR: [T.DOCTOR_NEW_BOOKING, T.DOCTOR_BOOKING_MOVED, T.DOCTOR_BOOKING_CANCELLED,
                  T.ANNOUNCEMENT],
    Role.ADMIN: [T.ANNOUNCEMENT],
}

REMINDER_CHOICES = [(7 * 1440, "7 days before"), (1440, "1 day before"), (180, "3 hours before"),
                    (60, "1 hour before"), (30, "30 minutes before"), (15, "15 minutes before")]
MAX_REMINDERS = 5


def offset_label(minutes: int) -> str:
    """'2 hours before' for an offset that is not one of the standard choices."""
    for value, label in REMINDER_CHOICES:
        if value == minutes:
            return label
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days != 1 else ''} before"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''} before"
    return f"{minutes} minutes before"


def type_label(kind: str) -> str:
    return TYPE_LABELS.get(kind, kind.replace("_", " ").capitalize())


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes for one multi-valued field."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PreferencesForm(FlaskForm):
    language = SelectField("Language of messages",
                           choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()],
                           description="Emails, SMS and push messages use this language.")
    reminder_offsets = MultiCheckboxField(
        "Remind me before each appointment", coerce=int,
        choices=[SelectChoice(m, label) for m, label in REMINDER_CHOICES],
        description=f"Choose up to {MAX_REMINDERS}. Reminders already past when you book are "
                    "skipped.")

    def __init__(self, *args, offsets: list[int] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Offsets set through the API that are not standard choices stay choosable.
        extra = sorted({m for m in offsets or [] if m not in dict(REMINDER_CHOICES)},
                       reverse=True)
        choices = REMINDER_CHOICES + [(m, offset_label(m)) for m in extra]
        self.reminder_offsets.choices = [SelectChoice(m, label) for m, label in
                                         sorted(choices, key=lambda c: -c[0])]

    def validate_reminder_offsets(self, field) -> None:
        if not field.data:
            # An empty list means "the defaults" to the reminder scheduler: say how to opt out.
            raise ValidationError("Choose at least one reminder time, or switch Reminders off "
                                  "on every channel below.")
        if len(field.data) > MAX_REMINDERS:
            raise ValidationError(f"Choose at most {MAX_REMINDERS} reminders.")


@dataclass(frozen=True)
class Cell:
    """One checkbox of the grid: a type on a channel."""

    kind: str
    channel: str
    name: str  # the form field name
    label: str  # its accessible name, e.g. "Reminders by SMS"
    offered: bool  # False: this type never goes out on this channel
    locked: bool  # always on (receipts by email)
    checked: bool


@dataclass(frozen=True)
class GridRow:
    kind: str
    label: str
    cells: list[Cell]


class ChannelGrid:
    """Which types go out on which channels for one user, as rows of checkboxes."""

    def __init__(self, role: Role, prefs, offered: set[tuple[str, str]],
                 formdata: MultiDict | None = None) -> None:
        self.channels = [(c.value, CHANNEL_LABELS[c]) for c in Channel]
        self.rows: list[GridRow] = []
        for kind in TYPES_BY_ROLE.get(role, TYPES_BY_ROLE[Role.PATIENT]):
            cells = []
            for channel in Channel:
                name = f"ch-{channel.value}-{kind.value}"
                locked = (channel.value, kind.value) in ALWAYS_ON
                is_offered = (kind.value, channel.value) in offered
                if formdata is not None and is_offered and not locked:
                    checked = name in formdata
                else:
                    checked = channel_enabled(prefs, channel.value, kind.value)
                cells.append(Cell(kind.value, channel.value, name,
                                  f"{type_label(kind)} by {CHANNEL_LABELS[channel]}"
                                  if channel != Channel.IN_APP
                                  else f"{type_label(kind)} in the portal",
                                  is_offered, locked, checked))
            self.rows.append(GridRow(kind.value, type_label(kind), cells))

    def as_preferences(self) -> dict[str, dict[str, bool]]:
        """The posted grid as `update_preferences(channels_=...)` wants it (locked cells and
        channels a type is never sent on are left out)."""
        result: dict[str, dict[str, bool]] = {}
        for row in self.rows:
            for cell in row.cells:
                if cell.offered and not cell.locked:
                    result.setdefault(cell.channel, {})[cell.kind] = cell.checked
        return result


# --- admin -------------------------------------------------------------------------------------

STATUS_CHOICES = [SelectChoice(value, label) for value, label in [
    ("", "Any status"), ("FAILED", "Failed"), ("PENDING", "Pending"), ("SENDING", "Sending"),
    ("SENT", "Sent"), ("DELIVERED", "Delivered")]]


class LogFilterForm(FlaskForm):
    """The delivery log's filters: a GET form (no CSRF token: it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectField("Status", choices=STATUS_CHOICES, default="")
    channel = SelectField("Channel", default="", choices=[SelectChoice("", "Any channel")] + [
        SelectChoice(c.value, CHANNEL_LABELS[c]) for c in Channel])
    type = SelectField("Type", default="", choices=[SelectChoice("", "Any type")] + [
        SelectChoice(k.value, type_label(k)) for k in T])
    email = StringField("User email (or part of it)",
                        validators=[Optional(), Length(max=254)])


class TemplateForm(FlaskForm):
    subject = StringField("Subject", validators=[Length(max=200)])
    body_text = TextAreaField("Message", validators=[DataRequired("Write the message.")])
    # Email only (the editor shows it there): SMS and push never carry the details.
    include_details = BooleanField(
        "This email may name the doctor, the specialty and the reasons")


AUDIENCES = [SelectChoice("patients", "All patients"), SelectChoice("doctors", "All doctors"),
             SelectChoice("one", "One person, by email")]


class AnnouncementForm(FlaskForm):
    audience = RadioField("Send to", choices=AUDIENCES, default="patients")
    email = EmailField("Email of the person", validators=[Optional(), Email(), Length(max=254)],
                       description="Only when sending to one person.")
    title = StringField("Title", validators=[DataRequired("Write a title."), Length(max=150)])
    message = TextAreaField("Message", validators=[DataRequired("Write the message."),
                                                   Length(max=1000)])
    channels = MultiCheckboxField("Channels", choices=[SelectChoice(c.value, CHANNEL_LABELS[c])
                                                       for c in Channel],
                                  default=[Channel.IN_APP.value, Channel.EMAIL.value])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Not an inline validator: Optional() would stop the chain before it on an empty field.
        if self.audience.data == "one" and not (self.email.data or "").strip():
            self.email.errors = [*self.email.errors, "Enter the email of the person."]
            return False
        return valid

    def validate_channels(self, field) -> None:
        if not field.data:
            raise ValidationError("Choose at least one channel.")
