from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput


class KeyReused(DomainError):
    code = "idempotency.key_reused"
    status = 422
    title = "Idempotency-Key reused with a different request"


class RequestInProgress(Conflict):
    code = "idempotency.in_progress"


class InvalidKey(InvalidInput):
    code = "idempotency.invalid_key"
