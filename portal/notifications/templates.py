"""Notification templates: which words a message uses, rendering them in Jinja's sandbox,
and the admin's editing (validate, save, reset, seed the defaults, the table of every key).

A key is (type, channel, language). Stored words win over the built-in ones in
`defaults.py`; a language without words falls back to English; no words at all means the
message is not sent on that channel.

Minimum necessary (HIPAA's rule, and India's DPDP Act's purpose limitation): the variables that
reveal health are emptied before rendering, whatever the words say. SMS and push never carry
them (a locked phone's screen, a shared phone, an SMS in the clear at the carrier); an email
does only when its template's `include_details` is on; in-app messages do (they are read
after logging in, like the portal's own pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, select

from portal.auth.models import User
from portal.exceptions import NotFound, ValidationFailed
from portal.extensions import db
from portal.notifications.context import sample_context
from portal.notifications.defaults import DEFAULTS, LANGUAGES
from portal.notifications.models import Channel, NotificationTemplate, NotificationType
from portal.transactions import write

_sandbox = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                                trim_blocks=True, keep_trailing_newline=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


@dataclass(frozen=True)
class MessageTemplate:
    """The words of one message, and whether (on email) it may carry the details."""

    subject: str
    body: str
    include_details: bool = True


# Variables that reveal health. The doctor's name is one: a name is one search away from a
# specialty (an oncologist, a psychiatrist), and so is the doctor's public page, which
# `doctor_url` opens without logging in. `ics_appointment_id` attaches the calendar invitation,
# which names the doctor, the specialty and the reason for the visit.
SENSITIVE_VARIABLES = ("doctor_name", "specialty", "visit_reason", "reason", "doctor_url")
_ATTACHES_DETAILS = ("ics_appointment_id",)
NEVER_DETAILED = frozenset({Channel.SMS.value, Channel.PUSH.value})


def may_carry_details(channel: str, include_details: bool = True) -> bool:
    """Whether a message on `channel` may name the doctor, the specialty or a reason: never by
    SMS or push, by email when its template says so, in-app always."""
    if channel in NEVER_DETAILED:
        return False
    return include_details if channel == Channel.EMAIL.value else True


def minimum_necessary(context: dict[str, Any], channel: str,
                      include_details: bool = True) -> dict[str, Any]:
    """`context` with the sensitive variables empty (and no calendar invitation) unless the
    message may carry the details."""
    if may_carry_details(channel, include_details):
        return context
    return {**{key: value for key, value in context.items() if key not in _ATTACHES_DETAILS},
            **dict.fromkeys(SENSITIVE_VARIABLES, "")}


def check_template_key(kind: str, channel: str, language: str) -> None:
    """NotFound unless (kind, channel, language) names a type, a channel and a language."""
    if kind not in NotificationType.__members__ or channel not in Channel.__members__ or \
            language not in LANGUAGES:
        raise NotFound("No such template.")


def _stored(kind: str, channel: str, language: str) -> NotificationTemplate | None:
    return db.session.scalar(select(NotificationTemplate).where(
        NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
        NotificationTemplate.language == language))


def message_template(kind: str, channel: str, language: str) -> MessageTemplate | None:
    """The words, most specific first: the stored words in the language, the built-in ones in
    the language, then the same two in English. None: not sent on this channel."""
    for lang in dict.fromkeys((language, "en")):
        row = _stored(kind, channel, lang)
        if row is not None:
            return MessageTemplate(row.subject, row.body_text, row.include_details)
        builtin = DEFAULTS.get(lang, {}).get(kind, {}).get(channel)
        if builtin is not None:
            return MessageTemplate(*builtin)
    return None


def template_source(kind: str, channel: str, language: str) -> tuple[str, str] | None:
    """(subject, body) of `message_template`, or None."""
    found = message_template(kind, channel, language)
    return (found.subject, found.body) if found is not None else None


def render_message(template: MessageTemplate, channel: str,
                   context: dict[str, Any]) -> tuple[Rendered, dict[str, Any]]:
    """A message as it goes out on `channel`, and the variables it was given (what may be
    stored with it): the sensitive ones emptied unless the message may carry them."""
    allowed = minimum_necessary(context, channel, template.include_details)
    return render_source(template.subject, template.body, allowed), allowed


def render_source(subject: str, body: str, context: dict[str, Any]) -> Rendered:
    """Render admin-editable templates in Jinja's sandbox (no attribute tricks, no imports)."""
    try:
        return Rendered(_sandbox.from_string(subject).render(context).strip(),
                        _sandbox.from_string(body).render(context).strip())
    except TemplateError as exc:
        raise ValidationFailed({"body_text": f"The template does not render: {exc}"}) from None


def validate_template(subject: str, body: str) -> None:
    """ValidationFailed unless the words are there, fit, and render on sample data."""
    if not body.strip():
        raise ValidationFailed({"body_text": "Write the message."})
    if len(subject) > 200:
        raise ValidationFailed({"subject": "Use at most 200 characters."})
    render_source(subject, body, sample_context())


def save_template(kind: str, channel: str, language: str, subject: str, body: str,
                  editor: User, include_details: bool = True) -> NotificationTemplate:
    """Store the admin's words for one key (NotFound for an unknown key, ValidationFailed
    for words that do not render). `include_details` matters for email only: SMS and push
    never carry the details, in-app messages always may."""
    check_template_key(kind, channel, language)
    validate_template(subject, body)
    with write():
        row = _stored(kind, channel, language) or NotificationTemplate(
            type=kind, channel=channel, language=language)
        row.subject, row.body_text, row.updated_by_id = subject.strip(), body, editor.id
        row.include_details = include_details if channel == Channel.EMAIL.value else True
        # Added once complete: reading `editor` may autoflush, and a half-made row fails.
        db.session.add(row)
    return row


def reset_template(kind: str, channel: str, language: str) -> bool:
    """Forget the stored words of one key (the built-in default applies again)."""
    with write():
        removed = db.session.execute(delete(NotificationTemplate).where(
            NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
            NotificationTemplate.language == language)).rowcount
    return bool(removed)


def seed_default_templates() -> int:
    """Write the built-in defaults for every key not in the database yet (idempotent)."""
    added = 0
    with write():
        for language, kinds in DEFAULTS.items():
            for kind, by_channel in kinds.items():
                for channel, (subject, body) in by_channel.items():
                    exists = db.session.scalar(select(NotificationTemplate.id).where(
                        NotificationTemplate.type == kind,
                        NotificationTemplate.channel == channel,
                        NotificationTemplate.language == language))
                    if exists is None:
                        db.session.add(NotificationTemplate(type=kind, channel=channel,
                                                            language=language, subject=subject,
                                                            body_text=body))
                        added += 1
    return added


def offered_pairs() -> set[tuple[str, str]]:
    """(type, channel) pairs that have words in some language, built in or stored: the cells
    of the settings grid that can be switched (the others are never sent)."""
    pairs = {(kind, channel) for kinds in DEFAULTS.values() for kind, by_channel in kinds.items()
             for channel in by_channel}
    stored = db.session.execute(select(NotificationTemplate.type,
                                       NotificationTemplate.channel).distinct()).all()
    return pairs | {(kind, channel) for kind, channel in stored}


# --- the admin's view of them ------------------------------------------------------------------


@dataclass(frozen=True)
class EditableTemplate:
    """What the editor shows for one key."""

    stored: NotificationTemplate | None  # the words in the database, if any
    source: tuple[str, str] | None  # the words sent now (stored, built in, or English)
    has_default: bool  # built-in words exist in this language


def editable_template(kind: str, channel: str, language: str) -> EditableTemplate:
    """One key for the editor; NotFound for an unknown key."""
    check_template_key(kind, channel, language)
    return EditableTemplate(
        stored=_stored(kind, channel, language),
        source=template_source(kind, channel, language),
        has_default=DEFAULTS.get(language, {}).get(kind, {}).get(channel) is not None)


@dataclass(frozen=True)
class TemplateCell:
    language: str
    state: str  # edited | stored | default | fallback | none
    label: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TemplateRow:
    kind: str
    channel: str
    cells: list[TemplateCell]

    @property
    def offered(self) -> bool:
        return any(cell.state != "none" for cell in self.cells)


def template_table() -> list[TemplateRow]:
    """Every type x channel, with the state of its words in each language."""
    stored = {(t.type, t.channel, t.language): t
              for t in db.session.scalars(select(NotificationTemplate))}
    rows = []
    for kind in NotificationType:
        for channel in Channel:
            cells = []
            for language in LANGUAGES:
                row = stored.get((kind.value, channel.value, language))
                default = DEFAULTS.get(language, {}).get(kind.value, {}).get(channel.value)
                english = (stored.get((kind.value, channel.value, "en")) or
                           DEFAULTS["en"].get(kind.value, {}).get(channel.value))
                if row is not None:
                    same = default is not None and (row.subject, row.body_text) == (
                        default[0].strip(), default[1]) and row.include_details
                    cells.append(TemplateCell(language, "stored" if same else "edited",
                                              "Default" if same else "Edited", row.updated_at))
                elif default is not None:
                    cells.append(TemplateCell(language, "default", "Default"))
                elif language != "en" and english is not None:
                    cells.append(TemplateCell(language, "fallback", "English words"))
                else:
                    cells.append(TemplateCell(language, "none", "Not sent"))
            rows.append(TemplateRow(kind.value, channel.value, cells))
    return rows
