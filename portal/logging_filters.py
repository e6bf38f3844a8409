"""Keep credentials that travel in URLs out of the access logs.

A password-reset link carries its signed token in the path (/account/reset/<token>). Access logs
print request lines, and gunicorn's default format also prints the Referer, which holds the same
path for every request the reset page makes (its CSS, its form post). Whoever can read the logs
could then set the password of the account until the link expires. This filter rewrites such
paths to /account/reset/[redacted] in every record of the loggers that print request paths,
before any handler formats it: werkzeug's (the development server), gunicorn's (production,
--access-logfile) and the app's error logs.
"""

from __future__ import annotations

import logging
import re

RESET_PATH = re.compile(r"(/account/reset/)[^\s?#\"'&]+")
REDACTED = r"\1[redacted]"
# Loggers whose records carry request paths: werkzeug's server log, gunicorn's access and error
# logs, Flask's app logger ("portal": "Exception on <path>") and our unhandled-error log. A
# logger's filters see only the records logged on it, not those propagated from its children.
# "portal.access" is the app's own line per request (LOG_FORMAT=json, portal.logging_setup).
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "portal", "portal.errors",
                  "portal.access")


def redact(text: str) -> str:
    """`text` with the token of any reset link in it replaced by [redacted]."""
    if "/account/reset/" not in text:
        return text
    return RESET_PATH.sub(REDACTED, text)


class RedactResetTokens(logging.Filter):
    """Replace the token of a reset link in a record's message; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to the handler
            return True
        if "/account/reset/" in message:
            record.msg = redact(message)
            record.args = ()
        return True


def install_log_filters() -> None:
    """Add the redaction to those loggers, once per process (create_app may run often)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactResetTokens) for f in logger.filters):
            logger.addFilter(RedactResetTokens())
