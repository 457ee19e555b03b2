"""One error model: services raise DomainError subclasses with a stable code and an HTTP status.

The API renders them as RFC 9457 problem+json, the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "error"
    status: int = 400
    title: str = "Request refused"

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **data: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.data = data


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class Unauthorized(DomainError):
    code = "auth.unauthenticated"
    status = 401
    title = "Authentication required"


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400
    title = "Invalid input"
