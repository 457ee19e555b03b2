from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class ReceiptNotFound(NotFound):
    code = "receipt.not_found"


class NotSettled(Conflict):
    """A pending, declined or failed payment (or a refund not paid) has no receipt."""

    code = "receipt.not_issued"


class HistoryCursorInvalid(InvalidInput):
    code = "pagination.invalid_cursor"
