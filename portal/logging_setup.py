"""Log lines as JSON (production) or text, each carrying the request id and the job id.

`LOG_FORMAT=json` (the default with PORTAL_ENV=production) writes one JSON object per line to
stderr: time, level, logger, message, request_id, job_id, the `extra=` fields of the call and
the traceback. Kubernetes and compose collect stderr; a log pipeline parses the lines without
a grok pattern. `LOG_FORMAT=text` is the readable form for `make run`.

The request id comes from `X-Request-ID` when a proxy (ingress-nginx, Caddy) or a client sent
a sane one, else a new one; it is returned in the response header, stored in the meta of every
RQ job the request enqueues (portal.jobqueue.AppQueue) and set again by the worker while it runs
that job (portal.jobqueue.AppWorker), so one id follows a booking from the click to the email.

Redaction of reset-link tokens (portal.logging_filters) still applies: its filter rewrites the
records of the loggers that print paths, and the JSON formatter scrubs its finished line too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from portal.logging_filters import redact

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# What we accept from X-Request-ID: ingress-nginx sends 32 hex digits, others UUIDs; anything
# longer or with other characters (log injection) is replaced by a new id.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "request_id", "job_id", "taskName"}


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's X-Request-ID if it looks like an id, else a fresh one."""
    if value and REQUEST_ID_RE.match(value):
        return value
    return new_request_id()


class ContextFilter(logging.Filter):
    """Puts the current request id and job id on every record a handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id_var.get() or "-"
        record.job_id = getattr(record, "job_id", None) or job_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; reset-link tokens are redacted from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value and value != "-":
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


class PortalHandler(logging.StreamHandler):
    """Our stderr handler on the root logger (one per process, replaced on reconfiguration)."""


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Send the root logger's records to stderr in `log_format`, with request and job ids.

    Idempotent: create_app runs once per process in production but many times in tests.
    A root logger that already has other handlers (pytest's capture) keeps them.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, PortalHandler)]:
        root.removeHandler(handler)
    handler = PortalHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)


def gunicorn_logconfig(log_format: str) -> dict:
    """logging.config dict for gunicorn's own loggers, in the same format as the app's.

    gunicorn.error carries start-up, worker and timeout messages. gunicorn.access is left
    without a handler in JSON mode: the app logs one line per request itself (portal.access),
    with the request id, the endpoint and the duration.
    """
    formatter = ({"()": "portal.logging_setup.JsonFormatter"} if log_format == "json"
                 else {"format": TEXT_FORMAT})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "portal.logging_setup.ContextFilter"}},
        "formatters": {"portal": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "portal", "filters": ["context"]}},
        # The app adds its own handler to the root logger when it loads (configure_logging).
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"] if log_format == "text" else [],
                                "level": "INFO", "propagate": False},
        },
    }
