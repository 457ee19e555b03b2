"""Stable error codes of eligibility checks (docs/eligibility.md, "Error codes")."""

from __future__ import annotations

from revcycle.errors import DomainError, Forbidden, InvalidInput, NotFound


class CoverageNotFound(NotFound):
    code = "coverage.not_found"


class CheckNotFound(NotFound):
    code = "eligibility.not_found"


class InvalidCheck(InvalidInput):
    code = "eligibility.invalid"


class RawForbidden(Forbidden):
    code = "eligibility.raw_forbidden"


class IdempotencyKeyRequired(DomainError):
    code = "eligibility.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"


class ClearinghouseFailed(DomainError):
    """The clearinghouse did not answer (timeout, unavailable) or refused the interchange: the
    check is stored as ``error`` with this code; nothing is stored as a success."""

    title = "Clearinghouse failure"

    def __init__(self, message: str, *, code: str, **data: object) -> None:
        status = {"clearinghouse.timeout": 504, "clearinghouse.unavailable": 503}.get(code, 502)
        super().__init__(message, code=code, status=status, **data)
