"""Notification templates: which words a message uses, rendering them in Jinja's sandbox,
and the admin's editing (validate, save, reset, seed the defaults, the table of every key).

A key is (type, channel, language). Stored words win over the built-in ones in
`defaults.py`; a language without words falls back to English; no words at all means the
message is not sent on that channel.
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


def check_template_key(kind: str, channel: str, language: str) -> None:
    """NotFound unless (kind, channel, language) names a type, a channel and a language."""
    if kind not in NotificationType.__members__ or channel not in Channel.__members__ or \
            language not in LANGUAGES:
        raise NotFound("No such template.")


def _stored(kind: str, channel: str, language: str) -> NotificationTemplate | None:
    return db.session.scalar(select(NotificationTemplate).where(
        NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
        NotificationTemplate.language == language))


def template_source(kind: str, channel: str, language: str) -> tuple[str, str] | None:
    """(subject, body), most specific first: the stored words in the language, the built-in
    ones in the language, then the same two in English. None: not sent on this channel."""
    for lang in dict.fromkeys((language, "en")):
        row = _stored(kind, channel, lang)
        if row is not None:
            return row.subject, row.body_text
        builtin = DEFAULTS.get(lang, {}).get(kind, {}).get(channel)
        if builtin is not None:
            return builtin
    return None


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
                  editor: User) -> NotificationTemplate:
    """Store the admin's words for one key (NotFound for an unknown key, ValidationFailed
    for words that do not render)."""
    check_template_key(kind, channel, language)
    validate_template(subject, body)
    with write():
        row = _stored(kind, channel, language) or NotificationTemplate(
            type=kind, channel=channel, language=language)
        row.subject, row.body_text, row.updated_by_id = subject.strip(), body, editor.id
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
                        default[0].strip(), default[1])
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
