from __future__ import annotations

from revcycle.errors import Conflict, InvalidInput, NotFound


class InvoiceNotFound(NotFound):
    code = "invoice.not_found"


class InvoiceNotEditable(Conflict):
    code = "invoice.not_editable"


class IllegalTransition(Conflict):
    code = "invoice.illegal_transition"


class InvoiceHasPayments(Conflict):
    code = "invoice.has_payments"


class CreditExceedsBalance(Conflict):
    code = "invoice.credit_exceeds_balance"


class NoPriceForService(InvalidInput):
    code = "invoice.no_price"


class InvalidLine(InvalidInput):
    code = "invoice.line_invalid"
