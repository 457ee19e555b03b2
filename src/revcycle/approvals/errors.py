from __future__ import annotations

from revcycle.errors import Conflict, NotFound


class ApprovalNotFound(NotFound):
    code = "approval.not_found"


class NotPending(Conflict):
    code = "approval.not_pending"


class AmountChanged(Conflict):
    """The operation would now move more money than was approved (e.g. a write-off of a balance
    that grew after the request): it needs a new request."""

    code = "approval.amount_changed"


class AlreadyPending(Conflict):
    code = "approval.already_pending"
