"""Razorpay's error body, and the exception the sandbox raises to send one.

Every failure answers ``{"error": {code, description, source, step, reason, metadata, field}}`` in
the key order of Razorpay's documented sample (razorpay-samples/api-error-bad-request.json);
``field`` is ``null`` when no request parameter is to blame, as on razorpay.com/docs/errors/.
"""

from __future__ import annotations

BAD_REQUEST_ERROR = "BAD_REQUEST_ERROR"

# source / step / reason of input validation errors, as in the documented samples.
VALIDATION = ("business", "payment_initiation", "input_validation_failed")
# ... and of errors that are about the request itself (URL, idempotency, credentials).
NOT_APPLICABLE = ("NA", "NA", "NA")

URL_NOT_FOUND = "The requested URL was not found on the server."
ID_NOT_FOUND = "The id provided does not exist"


class ApiError(Exception):
    """An error answer of the Razorpay API: HTTP ``status`` and Razorpay's error body."""

    def __init__(
        self,
        description: str,
        *,
        field: str | None = None,
        status: int = 400,
        code: str = BAD_REQUEST_ERROR,
        origin: tuple[str, str, str] = VALIDATION,
        metadata: dict | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.status = status
        self.code = code
        self.origin = origin
        self.metadata = metadata or {}

    def body(self) -> dict:
        source, step, reason = self.origin
        return error_body(
            self.description, code=self.code, source=source, step=step, reason=reason,
            metadata=self.metadata, field=self.field,
        )  # fmt: skip


def error_body(
    description: str,
    *,
    code: str = BAD_REQUEST_ERROR,
    source: str = "NA",
    step: str = "NA",
    reason: str = "NA",
    metadata: dict | None = None,
    field: str | None = None,
) -> dict:
    """``{"error": {...}}`` with the seven documented keys in the documented order."""
    return {
        "error": {
            "code": code,
            "description": description,
            "source": source,
            "step": step,
            "reason": reason,
            "metadata": metadata or {},
            "field": field,
        }
    }


def not_found(field: str | None = None) -> ApiError:
    """Razorpay's answer to an id it does not know."""
    return ApiError(ID_NOT_FOUND, field=field)


def validation(description: str, field: str | None) -> ApiError:
    return ApiError(description, field=field)
