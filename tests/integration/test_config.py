"""Configuration from the environment: safe development defaults, and a production start that
refuses an unsafe setting and names it."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import ConfigError, load_config, production_problems

# Everything production needs, with the real services' credentials (no sandbox).
PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "4f1c0e7a9b2d4c8e8f0a6b3d5e7c9a1b2d4f6a8c0e2b4d6f",
    "DATABASE_URL": "postgresql://portal:pw@db.internal:5432/portal",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "RAZORPAY_KEY_ID": "rzp_live_abc", "RAZORPAY_KEY_SECRET": "secret",
    "TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "token",
    "MAIL_SERVER": "smtp.example.com",
    "PUBLIC_URL": "https://clinic.example.com/",
    "JITSI_DOMAIN": "meet.clinic.example.in",
    "JITSI_APP_SECRET": "jitsi-shared-secret-of-at-least-32-bytes",
}
SETTINGS = ["PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RAZORPAY_KEY_ID",
            "RAZORPAY_KEY_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "MAIL_SERVER",
            "RAZORPAY_SANDBOX", "TWILIO_SANDBOX", "MAIL_SANDBOX", "RATELIMIT_STORAGE_URI",
            "PUBLIC_URL", "PORT", "VIDEO_PROVIDER", "JITSI_DOMAIN", "JITSI_APP_ID",
            "JITSI_APP_SECRET"]


@pytest.fixture
def environ(monkeypatch):
    """Set the process environment to exactly `env` for the settings above."""

    def set_env(env: dict[str, str]) -> None:
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_a_complete_production_environment_has_no_problems():
    config = load_config(PRODUCTION)

    assert production_problems(config) == []
    assert config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://portal:pw@db.internal:5432/portal")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert config["PUBLIC_URL"] == "https://clinic.example.com"
    assert not any(config[switch] for switch in ("RAZORPAY_SANDBOX", "TWILIO_SANDBOX",
                                                 "MAIL_SANDBOX"))


def test_development_defaults_need_no_settings():
    config = load_config({})

    assert config["PORTAL_ENV"] == "development"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/portal.db")
    assert config["SECRET_KEY"]
    assert config["PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert load_config({"PORT": "8080"})["PUBLIC_URL"] == "http://127.0.0.1:8080"
    assert all(config[s] for s in ("RAZORPAY_SANDBOX", "TWILIO_SANDBOX", "MAIL_SANDBOX"))
    assert production_problems(config) == []


@pytest.mark.parametrize(("change", "setting"), [
    ({"SECRET_KEY": None}, "SECRET_KEY"),
    ({"SECRET_KEY": "   "}, "SECRET_KEY"),
    ({"DATABASE_URL": None}, "DATABASE_URL"),
    ({"DATABASE_URL": "sqlite:////srv/portal.db"}, "DATABASE_URL"),
    ({"REDIS_URL": None}, "REDIS_URL"),
    ({"PUBLIC_URL": None}, "PUBLIC_URL"),
    ({"RAZORPAY_KEY_ID": None}, "RAZORPAY_SANDBOX"),
    ({"RAZORPAY_SANDBOX": "1"}, "RAZORPAY_SANDBOX"),
    ({"TWILIO_SANDBOX": "true"}, "TWILIO_SANDBOX"),
    ({"MAIL_SERVER": None}, "MAIL_SANDBOX"),
])
def test_production_names_the_one_unsafe_setting(change, setting):
    env = {k: v for k, v in {**PRODUCTION, **change}.items() if v is not None}

    problems = production_problems(load_config(env))

    assert len(problems) == 1
    assert problems[0].startswith(setting)


@pytest.mark.parametrize(("change", "words"), [
    ({"SECRET_KEY": None}, ["SECRET_KEY"]),
    ({"DATABASE_URL": "sqlite:////srv/portal.db"}, ["DATABASE_URL", "SQLite"]),
    ({"RAZORPAY_SANDBOX": "on"}, ["RAZORPAY_SANDBOX", "sandbox", "RAZORPAY_KEY_ID"]),
    ({"MAIL_SERVER": None}, ["MAIL_SANDBOX", "MAIL_SERVER"]),
])
def test_create_app_refuses_to_start_in_production_and_says_which_setting(environ, change,
                                                                          words):
    environ({k: v for k, v in {**PRODUCTION, **change}.items() if v is not None})

    with pytest.raises(ConfigError) as refused:
        create_app()

    assert "Refusing to start in production" in str(refused.value)
    for word in words:
        assert word in str(refused.value)


def test_create_app_lists_every_unsafe_setting_at_once(environ):
    environ({"PORTAL_ENV": "production"})

    with pytest.raises(ConfigError) as refused:
        create_app()

    message = str(refused.value)
    for setting in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "RAZORPAY_SANDBOX",
                    "TWILIO_SANDBOX", "MAIL_SANDBOX"):
        assert setting in message


def test_production_is_recognised_in_any_case_and_spacing(environ):
    environ({"PORTAL_ENV": " Production "})

    with pytest.raises(ConfigError):
        create_app()


def test_a_setting_that_must_be_a_number_is_named_when_it_is_not():
    with pytest.raises(ConfigError, match="MAIL_PORT"):
        load_config({"MAIL_PORT": "twenty-five"})


def test_hosting_style_postgres_urls_use_the_psycopg_driver():
    config = load_config({"DATABASE_URL": "postgres://u:p@host:5432/db"})

    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@host:5432/db"


def test_a_sandbox_switch_can_be_forced_on_beside_real_credentials():
    config = load_config({"RAZORPAY_KEY_ID": "rzp_test_1", "RAZORPAY_SANDBOX": "yes"})

    assert config["RAZORPAY_SANDBOX"] is True
    assert load_config({"RAZORPAY_KEY_ID": "rzp_test_1"})["RAZORPAY_SANDBOX"] is False


def test_production_refuses_a_sandbox_checkout_or_api_address():
    env = {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40,
           "DATABASE_URL": "postgresql://u@db/portal", "REDIS_URL": "redis://r:6379/0",
           "PUBLIC_URL": "https://clinic.example.com", "RAZORPAY_KEY_ID": "rzp_live_x",
           "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "MAIL_SERVER": "smtp.example.com",
           "RAZORPAY_CHECKOUT_URL": "http://127.0.0.1:5001/checkout", "VIDEO_PROVIDER": "none"}
    problems = production_problems(load_config(env))
    assert any("RAZORPAY_CHECKOUT_URL" in p for p in problems), problems


def test_two_factor_is_required_of_the_clinics_people_in_production_only():
    assert load_config(PRODUCTION)["TWO_FACTOR_REQUIRED_ROLES"] == ("doctor", "staff", "admin")
    assert load_config({})["TWO_FACTOR_REQUIRED_ROLES"] == ()  # make run's demo logs straight in
    assert load_config({**PRODUCTION, "TWO_FACTOR_REQUIRED_ROLES": " Admin, staff "})[
        "TWO_FACTOR_REQUIRED_ROLES"] == ("admin", "staff")
    assert load_config({**PRODUCTION, "TWO_FACTOR_REQUIRED_ROLES": ""})[
        "TWO_FACTOR_REQUIRED_ROLES"] == ()


def test_an_unknown_role_in_two_factor_required_roles_is_named():
    with pytest.raises(ConfigError, match=r"TWO_FACTOR_REQUIRED_ROLES.*\['nurse'\]"):
        load_config({"TWO_FACTOR_REQUIRED_ROLES": "doctor,nurse"})


def test_push_hosts_default_to_the_browsers_push_services_and_can_be_replaced():
    assert load_config({})["PUSH_ALLOWED_HOSTS"] == (
        "fcm.googleapis.com", "updates.push.services.mozilla.com",
        "*.push.services.mozilla.com", "*.push.apple.com", "*.notify.windows.com")
    assert load_config({"PUSH_ALLOWED_HOSTS": "push.clinic.example, *.push.apple.com"})[
        "PUSH_ALLOWED_HOSTS"] == ("push.clinic.example", "*.push.apple.com")


def test_login_limits_are_generous_per_address_and_strict_per_account():
    config = load_config({})
    assert config["LOGIN_RATE_LIMIT"] == "60 per minute"
    assert (config["ACCOUNT_LOCK_AFTER"], config["ACCOUNT_LOCK_WINDOW_MINUTES"],
            config["ACCOUNT_LOCK_MAX_MINUTES"]) == (5, 15, 60)
