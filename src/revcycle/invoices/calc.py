"""Pure invoice maths: Money in, Money out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from revcycle.errors import InvalidInput
from revcycle.ledger.chart import EntryKind
from revcycle.money import MAX_MINOR, Money, sum_money

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LineAmounts:
    gross: Money
    discount: Money
    net: Money


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    discount: Money
    total: Money


def line_amounts(
    units: int,
    unit_price: Money,
    *,
    discount_amount: Money | None = None,
    discount_percent: Decimal | None = None,
) -> LineAmounts:
    """Gross = units x price; the discount is an amount or a percentage of gross (rounded once)."""
    if units <= 0:
        raise InvalidInput("units must be positive", code="invoice.units_invalid")
    if unit_price.is_negative():
        raise InvalidInput("unit price must not be negative", code="invoice.price_invalid")
    if discount_amount is not None and discount_percent is not None:
        raise InvalidInput(
            "give a discount amount or a percentage, not both", code="invoice.discount_ambiguous"
        )
    gross = unit_price * units
    _storable(gross)
    if discount_percent is not None:
        if not Decimal(0) <= discount_percent <= HUNDRED:
            raise InvalidInput(
                "a discount percentage is between 0 and 100", code="invoice.discount_invalid"
            )
        discount = gross.times_rate(discount_percent / HUNDRED)
    elif discount_amount is not None:
        discount = discount_amount
    else:
        discount = Money.zero(gross.currency)
    if discount.is_negative() or discount > gross:
        raise InvalidInput(
            f"the discount {discount.format()} exceeds the line's {gross.format()}",
            code="invoice.discount_exceeds_line",
        )
    return LineAmounts(gross, discount, gross - discount)


def _storable(amount: Money) -> None:
    if abs(amount.amount_minor) > MAX_MINOR:
        raise InvalidInput(
            "The amount is larger than this service can store", code="money.out_of_range"
        )


def totals(lines: Sequence[LineAmounts], currency: str) -> Totals:
    result = Totals(
        subtotal=sum_money([ln.gross for ln in lines], currency),
        discount=sum_money([ln.discount for ln in lines], currency),
        total=sum_money([ln.net for ln in lines], currency),
    )
    _storable(result.subtotal)
    return result


def due_date(
    terms: str, issue_date: dt.date, *, days: int | None, fixed: dt.date | None
) -> dt.date:
    """Due on receipt -> the issue date; net N -> issue date + N days; fixed -> that date."""
    if terms == "due_on_receipt":
        return issue_date
    if terms == "net":
        if days is None or days < 0:
            raise InvalidInput("net terms need a number of days", code="invoice.terms_invalid")
        return issue_date + dt.timedelta(days=days)
    if terms == "fixed_date":
        if fixed is None:
            raise InvalidInput("fixed-date terms need a due date", code="invoice.terms_invalid")
        if fixed < issue_date:
            raise InvalidInput(
                "the due date is before the issue date",
                code="invoice.due_before_issue",
                due_date=fixed.isoformat(),
            )
        return fixed
    raise InvalidInput(f"unknown payment terms {terms!r}", code="invoice.terms_invalid")


def derive_status(current: str, *, total: int, balance: int, paid: int) -> str:
    """The status an issued invoice should have given its ledger-derived figures."""
    if current in {"draft", "void", "written_off"}:
        return current
    if balance == 0:
        return "paid"
    if paid > 0 and balance < total:
        return "partially_paid"
    return "open"


def is_overdue(status: str, due: dt.date | None, today: dt.date) -> bool:
    return status in {"open", "partially_paid"} and due is not None and due < today


# Refunds reopen the receivable: "paid" is what the patient paid net of what was refunded.
PAYMENT_KINDS = {
    EntryKind.PAYMENT.value,
    EntryKind.REFUND.value,
    EntryKind.PAYMENT_RETURN.value,
    # Insurance money (835 claim payments, and their reversals).
    EntryKind.CLAIM_PAYMENT.value,
}
# Contractual and other payer adjustments reduce what is owed like a credit note.
ADJUSTMENT_KINDS = {
    EntryKind.CREDIT_NOTE.value,
    EntryKind.CREDIT_NOTE_VOID.value,
    EntryKind.CLAIM_ADJUSTMENT.value,
}


@dataclass(frozen=True)
class InvoiceFigures:
    """What the ledger says about one invoice (minor units, receivable side)."""

    charged: int
    paid: int
    adjusted: int
    written_off: int
    balance: int


def figures_from_movements(movements: list[tuple[str, int]]) -> InvoiceFigures:
    by_kind: dict[str, int] = {}
    for kind, amount in movements:
        by_kind[kind] = by_kind.get(kind, 0) + amount
    charged = by_kind.get(EntryKind.INVOICE_ISSUE.value, 0) + by_kind.get(
        EntryKind.INVOICE_VOID.value, 0
    )
    paid = -sum(v for k, v in by_kind.items() if k in PAYMENT_KINDS)
    adjusted = -sum(v for k, v in by_kind.items() if k in ADJUSTMENT_KINDS)
    written_off = -by_kind.get(EntryKind.WRITE_OFF.value, 0)
    return InvoiceFigures(charged, paid, adjusted, written_off, sum(by_kind.values()))
