"""Domain errors raised by services and turned into 4xx responses once, in `portal.errors`."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain said no. `field` names the input at fault, when there is one."""

    status = 400
    title = "Request not possible"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Input broke a rule; `errors` maps each field at fault to its message."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: dict[str, str]) -> None:
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, first_field)
        self.errors = errors


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
