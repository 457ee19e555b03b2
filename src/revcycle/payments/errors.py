from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class PaymentNotFound(NotFound):
    code = "payment.not_found"


class AllocationExceedsBalance(Conflict):
    code = "payment.exceeds_balance"


class AllocationsExceedAmount(InvalidInput):
    code = "payment.allocations_exceed_amount"


class CurrencyMismatch(InvalidInput):
    code = "payment.currency_mismatch"


class InvoiceNotPayable(Conflict):
    code = "payment.invoice_not_payable"
