from __future__ import annotations

from revcycle.errors import Conflict, DomainError, InvalidInput, NotFound


class PaymentNotFound(NotFound):
    code = "payment.not_found"


class AllocationExceedsBalance(Conflict):
    code = "payment.exceeds_balance"


class Overpayment(Conflict):
    """More than the open balance, and the practice keeps no patient credit (allow_overpayment
    is off)."""

    code = "payment.overpayment_not_allowed"


class AllocationsExceedAmount(InvalidInput):
    code = "payment.allocations_exceed_amount"


class CurrencyMismatch(InvalidInput):
    code = "payment.currency_mismatch"


class InvoiceNotPayable(Conflict):
    code = "payment.invoice_not_payable"


class CardDeclined(DomainError):
    """The gateway declined the card (402, as gateways answer). ``decline_code`` says why."""

    code = "payment.card_declined"
    status = 402
    title = "Card declined"


class IdempotencyKeyRequired(DomainError):
    code = "payment.idempotency_key_required"
    status = 428
    title = "Idempotency-Key required"


class GatewayUnavailable(DomainError):
    code = "payment.gateway_unavailable"
    status = 503
    title = "Payment gateway unavailable"


class BankTransfersUnavailable(Conflict):
    """The configured gateway takes no bank debits."""

    code = "payment.bank_transfers_unavailable"


class BankCurrencyUnsupported(InvalidInput):
    """ACH-style debits move US dollars only."""

    code = "payment.bank_currency_unsupported"
