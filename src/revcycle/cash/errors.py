from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput, NotFound


class DrawerNotFound(NotFound):
    code = "cash.drawer_not_found"


class DepositNotFound(NotFound):
    code = "cash.deposit_not_found"


class DrawerAlreadyOpen(Conflict):
    code = "cash.drawer_already_open"


class DrawerClosed(Conflict):
    code = "cash.drawer_closed"


class DrawerNotClosed(Conflict):
    code = "cash.drawer_not_closed"


class AlreadyDeposited(Conflict):
    code = "cash.drawer_already_deposited"


class NothingToDeposit(Conflict):
    code = "cash.nothing_to_deposit"


class CountMismatch(InvalidInput):
    code = "cash.count_mismatch"


class NeedsUser(InvalidInput):
    """Drawers belong to a signed-in user (the CLI operator has none)."""

    code = "cash.user_required"


class InvalidDate(InvalidInput):
    code = "cash.date_invalid"


class IdempotencyKeyRequired(DomainError):
    code = "cash.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"
