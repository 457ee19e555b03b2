from __future__ import annotations

from typing import Any

from revcycle.auth.principal import Principal
from revcycle.errors import Conflict, InvalidInput, NotFound


class FraudStopped(Conflict):
    """A payment or refund the rules stopped. The request's transaction rolls back (nothing of
    the attempt is written); the adapter then writes ``review`` (the ``fraud_reviews`` row) in a
    transaction of its own (:func:`revcycle.fraud.screen.record_stopped`)."""

    def __init__(
        self, message: str, *, review: dict[str, Any], actor: Principal, **data: Any
    ) -> None:
        super().__init__(message, **data)
        self.review = review
        self.actor = actor


class FraudBlocked(FraudStopped):
    code = "fraud.blocked"
    title = "Refused by the fraud rules"


class FraudHeld(FraudStopped):
    code = "fraud.held"
    title = "Held for review"


class ReviewNotFound(NotFound):
    code = "fraud.review_not_found"


class ReviewNotPending(Conflict):
    code = "fraud.review_not_pending"


class DecisionNotAllowed(Conflict):
    """approve/reject are for held items; dismiss/confirm for flags and blocked attempts."""

    code = "fraud.decision_not_allowed"


class UnknownRule(NotFound):
    code = "fraud.rule_not_found"


class UnknownParameter(InvalidInput):
    code = "fraud.unknown_parameter"


class IdempotencyKeyRequired(InvalidInput):
    code = "idempotency.key_required"
    title = "Idempotency-Key required"
