from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class RefundNotFound(NotFound):
    code = "refund.not_found"


class ExceedsRefundable(Conflict):
    code = "refund.exceeds_refundable"


class PaymentVoid(Conflict):
    code = "refund.payment_void"


class MethodUnavailable(Conflict):
    """The payment's method cannot be refunded here yet (cards need the payment gateway)."""

    code = "refund.method_unavailable"


class CurrencyMismatch(InvalidInput):
    code = "refund.currency_mismatch"


class IdempotencyKeyRequired(InvalidInput):
    code = "idempotency.key_required"
    title = "Idempotency-Key required"


class PaymentNotSettled(Conflict):
    code = "refund.payment_not_settled"


class PaymentReturned(Conflict):
    code = "refund.payment_returned"


class GatewayRefused(Conflict):
    """The gateway refused the card refund (nothing refunded; the refund is recorded failed)."""

    code = "refund.gateway_refused"
