"""Stable error codes of remittance posting (docs/remittance-posting.md, "Errors")."""

from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput, NotFound


class RemittanceNotFound(NotFound):
    code = "remittance.not_found"


class UnmatchedNotFound(NotFound):
    code = "remittance.unmatched_not_found"


class UnreadableRemittance(InvalidInput):
    code = "remittance.unreadable"


class AlreadyMatched(Conflict):
    code = "remittance.already_matched"


class CannotMatch(Conflict):
    code = "remittance.cannot_match"


class IdempotencyKeyRequired(DomainError):
    code = "remittance.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"
