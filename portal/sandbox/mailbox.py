"""The sandbox's dev mailbox: every email (and, later, SMS) the local stand-ins receive.

One JSON file per message in a directory (``MAILBOX_DIR``). Files are written to a temporary name
and moved into place with ``os.replace``, so readers in other processes (the web app showing
``/dev/mailbox``, tests) never see a half-written message. File names start with a zero-padded
nanosecond timestamp, so sorting names sorts messages by arrival time; the name without ``.json``
is the message id.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

_ID_RE = re.compile(r"^\d{20}-[0-9a-f]{12}$")
_SUFFIX = ".json"


@dataclass(frozen=True)
class MailboxMessage:
    """One message as stored in the mailbox. ``received_at`` is an aware UTC datetime."""

    id: str
    channel: str
    sender: str
    to: list[str]
    subject: str
    text: str
    html: str | None
    received_at: datetime
    meta: dict = field(default_factory=dict)
    raw: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (``received_at`` as ISO 8601)."""
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> MailboxMessage:
        """Inverse of ``to_dict``."""
        received_at = datetime.fromisoformat(data["received_at"])
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        return cls(
            id=data["id"],
            channel=data["channel"],
            sender=data.get("sender", ""),
            to=list(data.get("to") or []),
            subject=data.get("subject", ""),
            text=data.get("text", ""),
            html=data.get("html"),
            received_at=received_at.astimezone(UTC),
            meta=dict(data.get("meta") or {}),
            raw=data.get("raw"),
        )


class Mailbox:
    """A directory of messages, safe to share between processes; created on the first add()."""

    _clock_lock = threading.Lock()
    _last_ns = 0

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def add(
        self,
        channel: str,
        sender: str,
        to: list[str],
        subject: str,
        text: str,
        html: str | None,
        raw: str | None = None,
        meta: dict | None = None,
    ) -> MailboxMessage:
        """Store a message and return it (with its new id and arrival time)."""
        ns = self._next_timestamp_ns()
        message = MailboxMessage(
            id=f"{ns:020d}-{uuid.uuid4().hex[:12]}",
            channel=channel,
            sender=sender,
            to=list(to),
            subject=subject,
            text=text,
            html=html,
            received_at=datetime.fromtimestamp(ns / 1e9, tz=UTC),
            meta=dict(meta or {}),
            raw=raw,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=_SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(message.to_dict(), fh, ensure_ascii=False)
            os.replace(tmp_name, self.directory / f"{message.id}{_SUFFIX}")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return message

    def list(self, limit: int = 100, channel: str | None = None) -> list[MailboxMessage]:
        """Up to ``limit`` messages, newest first, optionally only those of one ``channel``."""
        result: list[MailboxMessage] = []
        if limit <= 0:
            return result
        for message_id in sorted(self._ids(), reverse=True):
            message = self.get(message_id)
            if message is None or (channel is not None and message.channel != channel):
                continue
            result.append(message)
            if len(result) >= limit:
                break
        return result

    def get(self, message_id: str) -> MailboxMessage | None:
        """The message with this id, or None (also for ids that are not well-formed)."""
        if not _ID_RE.match(message_id or ""):
            return None
        try:
            with open(self.directory / f"{message_id}{_SUFFIX}", encoding="utf-8") as fh:
                return MailboxMessage.from_dict(json.load(fh))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            # Gone (cleared by another process) or not one of ours: skip it.
            return None

    def clear(self) -> int:
        """Delete every message; return how many were deleted."""
        removed = 0
        for message_id in self._ids():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.directory / f"{message_id}{_SUFFIX}")
                removed += 1
        return removed

    def __len__(self) -> int:
        return sum(1 for _ in self._ids())

    def _ids(self):
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(_SUFFIX) and _ID_RE.match(name[: -len(_SUFFIX)]):
                yield name[: -len(_SUFFIX)]

    @classmethod
    def _next_timestamp_ns(cls) -> int:
        # Strictly increasing within this process, so two quick adds keep their order.
        with cls._clock_lock:
            ns = max(time.time_ns(), cls._last_ns + 1)
            cls._last_ns = ns
            return ns
