"""One error model: services raise DomainError subclasses with a stable code and an HTTP status.

The API renders them as RFC 9457 problem+json, the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from typing import Any, TypeVar


class DomainError(Exception):
    code: str = "error"
    status: int = 400
    title: str = "Request refused"
    # Set by out_of_scope(): (object type, object id) the caller asked for but may not see.
    denied_object: tuple[str, str] | None = None

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


E = TypeVar("E", bound=DomainError)


def out_of_scope(exc: E, object_type: str, object_id: object) -> E:
    """Mark a refusal as an access denial: the caller is answered exactly as for a missing object
    (existence is not disclosed), and the adapter records an ``access_denied`` security event."""
    exc.denied_object = (object_type, str(object_id))
    return exc


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
