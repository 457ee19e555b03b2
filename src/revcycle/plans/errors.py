from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput, NotFound


class PlanNotFound(NotFound):
    code = "plan.not_found"


class PaymentMethodNotFound(NotFound):
    code = "payment_method.not_found"


class BadSchedule(InvalidInput):
    code = "plan.bad_schedule"


class InvoiceNotPlannable(Conflict):
    code = "plan.invoice_not_plannable"


class InvoiceAlreadyInPlan(Conflict):
    code = "plan.invoice_in_plan"


class WrongState(Conflict):
    code = "plan.wrong_state"


class AmountExceedsRemaining(Conflict):
    code = "plan.amount_exceeds_remaining"


class MethodNotUsable(Conflict):
    code = "payment_method.not_usable"


class TokenRefused(InvalidInput):
    code = "payment_method.token_refused"


class IdempotencyKeyRequired(DomainError):
    code = "plan.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"


class PayoffDeclined(DomainError):
    code = "plan.payoff_declined"
    status = 402
    title = "Card declined"
