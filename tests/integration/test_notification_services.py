"""The queries the notification pages and API call, tested as services: the admin's delivery
log and its filters, a user's history, announcement audiences, and the template table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from portal.auth.models import Role
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications.announcements import audience, users_by_ids
from portal.notifications.history import (
    LogFilter,
    failed_count,
    log_page,
    log_query,
    user_notifications,
)
from portal.notifications.models import Channel, NotificationLog, NotificationType
from portal.notifications.notify import notify
from portal.notifications.templates import (
    editable_template,
    offered_pairs,
    save_template,
    seed_default_templates,
    template_table,
)

START = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)


def announce(user, title: str, cause: str, channels=(Channel.IN_APP,)) -> NotificationLog:
    (row,) = notify(user, NotificationType.ANNOUNCEMENT, {"title": title, "message": title},
                    cause, only=set(channels))
    return row


def subjects(rows) -> list[str]:
    return [row.subject for row in rows]


@pytest.fixture
def log(factory, frozen_clock):
    """Pat: in-app (sent), then two emails that FAILED (the older one failed last);
    Ravi: in-app (sent). One minute apart, in that order."""
    pat = factory.create_patient(name="Pat Kumar", email="pat@example.com")
    ravi = factory.create_patient(name="Ravi Shah", email="Ravi.Shah@example.com")
    frozen_clock.freeze(START)
    announce(pat, "Closed Friday", "t:1")
    frozen_clock.advance(timedelta(minutes=1))
    flu = announce(pat, "Flu shots", "t:2", channels=(Channel.EMAIL,))
    frozen_clock.advance(timedelta(minutes=1))
    parking = announce(pat, "Parking", "t:3", channels=(Channel.EMAIL,))
    frozen_clock.advance(timedelta(minutes=1))
    announce(ravi, "Lifts", "t:4")
    flu.status, flu.last_attempt_at = "FAILED", START + timedelta(hours=1)
    parking.status, parking.last_attempt_at = "FAILED", START + timedelta(minutes=30)
    db.session.commit()
    return {"pat": pat, "ravi": ravi}


@pytest.mark.parametrize(("f", "shown"), [
    (LogFilter(), ["Lifts", "Parking", "Flu shots", "Closed Friday"]),
    (LogFilter(channel="IN_APP"), ["Lifts", "Closed Friday"]),
    (LogFilter(status="SENT"), ["Lifts", "Closed Friday"]),
    (LogFilter(kind="ANNOUNCEMENT", channel="EMAIL"), ["Parking", "Flu shots"]),
    (LogFilter(kind="PAYMENT_RECEIPT"), []),
    (LogFilter(email="ravi.SHAH"), ["Lifts"]),
    (LogFilter(email="pat@", status="SENT"), ["Closed Friday"]),
    (LogFilter(email="%"), []),  # a LIKE wildcard is a literal character here
])
def test_the_log_filters_newest_first(app_ctx, log, f, shown):
    assert subjects(db.session.scalars(log_query(f))) == shown


def test_failures_are_listed_by_their_latest_attempt(app_ctx, log):
    assert subjects(db.session.scalars(log_query(LogFilter(status="FAILED")))) == [
        "Flu shots", "Parking"]


def test_the_failure_count_ignores_the_filters(app_ctx, log):
    assert failed_count() == 2
    assert log_page(LogFilter(channel="IN_APP"), 1, 25).failed == 2


def test_a_log_page_names_the_people_on_it(app_ctx, log):
    first = log_page(LogFilter(), 1, 2)
    second = log_page(LogFilter(), 2, 2)

    assert (first.page.total, first.page.pages) == (4, 2)
    assert subjects(first.page.items) == ["Lifts", "Parking"]
    assert set(first.users) == {log["ravi"].id, log["pat"].id}
    assert subjects(second.page.items) == ["Flu shots", "Closed Friday"]
    assert set(second.users) == {log["pat"].id}


def test_a_users_history_is_theirs_newest_first_on_the_channel_asked(app_ctx, log):
    pat = log["pat"].id
    assert subjects(user_notifications(pat)) == ["Parking", "Flu shots", "Closed Friday"]
    assert subjects(user_notifications(pat, channel="EMAIL")) == ["Parking", "Flu shots"]
    assert subjects(user_notifications(pat, limit=1, offset=1)) == ["Flu shots"]


# --- announcements -----------------------------------------------------------------------------


def test_an_announcement_goes_to_every_active_person_of_the_role(factory):
    first = factory.create_patient()
    second = factory.create_patient()
    gone = factory.create_patient()
    gone.active = False
    db.session.commit()
    doctor = factory.create_doctor(hours=())

    assert [u.id for u in audience("patients")] == [first.id, second.id]
    assert [u.id for u in audience("doctors")] == [doctor.user.id]
    assert [u.id for u in audience("one", second.email.upper())] == [second.id]
    with pytest.raises(ValidationFailed) as refused:
        audience("one", gone.email)
    assert refused.value.errors == {"email": "No active account uses this email."}


def test_an_announcement_to_nobody_is_refused_on_the_audience(factory):
    factory.create_patient()
    with pytest.raises(ValidationFailed) as refused:
        audience("doctors")
    assert refused.value.errors == {"audience": f"There are no active {Role.DOCTOR.value}s yet."}


def test_announcement_recipients_by_id_name_the_unknown_ones(factory):
    patient = factory.create_patient()
    assert [u.id for u in users_by_ids([patient.id])] == [patient.id]
    stranger = uuid.uuid4()
    with pytest.raises(ValidationFailed) as refused:
        users_by_ids([patient.id, stranger])
    assert refused.value.errors == {"user_ids": f"Unknown user ids: {stranger}"}


# --- templates ---------------------------------------------------------------------------------


def cell(rows, kind: str, channel: str, language: str) -> str:
    (row,) = [r for r in rows if (r.kind, r.channel) == (kind, channel)]
    (found,) = [c for c in row.cells if c.language == language]
    return found.state


def test_the_template_table_tells_where_the_words_come_from(factory):
    admin = factory.create_admin()
    assert cell(template_table(), "APPOINTMENT_CONFIRMED", "EMAIL", "en") == "default"
    assert cell(template_table(), "APPOINTMENT_RESERVED", "IN_APP", "hi") == "fallback"
    assert cell(template_table(), "APPOINTMENT_RESERVED", "EMAIL", "en") == "none"

    seed_default_templates()
    save_template("APPOINTMENT_CONFIRMED", "EMAIL", "en", "Booked", "See you {{ start }}.",
                  admin)

    rows = template_table()
    assert cell(rows, "APPOINTMENT_CONFIRMED", "EMAIL", "en") == "edited"
    assert cell(rows, "APPOINTMENT_CONFIRMED", "SMS", "en") == "stored"
    (unsent,) = [r for r in rows if (r.kind, r.channel) == ("APPOINTMENT_RESERVED", "EMAIL")]
    assert not unsent.offered


def test_words_written_for_a_new_channel_make_it_offered(factory):
    admin = factory.create_admin()
    assert ("APPOINTMENT_RESERVED", "EMAIL") not in offered_pairs()
    editing = editable_template("APPOINTMENT_RESERVED", "EMAIL", "en")
    assert (editing.stored, editing.source, editing.has_default) == (None, None, False)

    save_template("APPOINTMENT_RESERVED", "EMAIL", "en", "Held", "Until {{ hold_until }}.",
                  admin)

    assert ("APPOINTMENT_RESERVED", "EMAIL") in offered_pairs()
    editing = editable_template("APPOINTMENT_RESERVED", "EMAIL", "en")
    assert editing.source == ("Held", "Until {{ hold_until }}.")
    assert editing.stored is not None


@pytest.mark.parametrize("key", [("NOPE", "EMAIL", "en"), ("ANNOUNCEMENT", "FAX", "en"),
                                 ("ANNOUNCEMENT", "EMAIL", "fr")])
def test_an_unknown_template_key_is_not_found(app_ctx, key):
    with pytest.raises(NotFound):
        editable_template(*key)
