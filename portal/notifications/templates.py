"""Notification templates: which words a message uses, rendering them in Jinja's sandbox,
and the admin's editing (validate, save, reset, seed the defaults).

A key is (type, channel, language). Stored words win over the built-in ones in
`defaults.py`; a language without words falls back to English; no words at all means the
message is not sent on that channel.
"""

from __future__ import annotations

from dataclasses import dataclass
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

_sandbox = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False,
                                trim_blocks=True, keep_trailing_newline=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


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
    if kind not in NotificationType.__members__ or channel not in Channel.__members__ or \
            language not in LANGUAGES:
        raise NotFound("No such template.")
    validate_template(subject, body)
    row = _stored(kind, channel, language)
    if row is None:
        row = NotificationTemplate(type=kind, channel=channel, language=language)
        db.session.add(row)
    row.subject, row.body_text, row.updated_by_id = subject.strip(), body, editor.id
    db.session.commit()
    return row


def reset_template(kind: str, channel: str, language: str) -> bool:
    """Forget the stored words of one key (the built-in default applies again)."""
    removed = db.session.execute(delete(NotificationTemplate).where(
        NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
        NotificationTemplate.language == language)).rowcount
    db.session.commit()
    return bool(removed)


def seed_default_templates() -> int:
    """Write the built-in defaults for every key not in the database yet (idempotent)."""
    added = 0
    for language, kinds in DEFAULTS.items():
        for kind, by_channel in kinds.items():
            for channel, (subject, body) in by_channel.items():
                exists = db.session.scalar(select(NotificationTemplate.id).where(
                    NotificationTemplate.type == kind, NotificationTemplate.channel == channel,
                    NotificationTemplate.language == language))
                if exists is None:
                    db.session.add(NotificationTemplate(type=kind, channel=channel,
                                                        language=language, subject=subject,
                                                        body_text=body))
                    added += 1
    db.session.commit()
    return added
