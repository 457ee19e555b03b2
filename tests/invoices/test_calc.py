"""Pure invoice maths: line amounts, totals, due dates, the status rule and overdue-ness."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revcycle.errors import InvalidInput
from revcycle.invoices import calc
from revcycle.money import CurrencyMismatch, Money


def usd(value: str) -> Money:
    return Money.parse(value, "USD")


# line_amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "price", "discount_amount", "discount_percent", "gross", "discount", "net"),
    [
        (1, "125.00", None, None, "125.00", "0.00", "125.00"),
        (3, "40.00", None, None, "120.00", "0.00", "120.00"),
        (9999, "0.01", None, None, "99.99", "0.00", "99.99"),
        (1, "0.00", None, None, "0.00", "0.00", "0.00"),
        (2, "50.00", "10.00", None, "100.00", "10.00", "90.00"),
        (1, "80.00", "80.00", None, "80.00", "80.00", "0.00"),  # discount == gross is fine
        (1, "80.00", "0.00", None, "80.00", "0.00", "80.00"),
        (1, "100.00", None, "15", "100.00", "15.00", "85.00"),
        (1, "100.00", None, "0", "100.00", "0.00", "100.00"),
        (1, "100.00", None, "100", "100.00", "100.00", "0.00"),
        (4, "12.50", None, "10", "50.00", "5.00", "45.00"),
        # Percentages round once, half up (away from zero), on the line's gross amount.
        (1, "0.10", None, "5", "0.10", "0.01", "0.09"),  # 0.005 -> 0.01
        (1, "10.05", None, "50", "10.05", "5.03", "5.02"),  # 5.025 -> 5.03
        (1, "0.30", None, "12.5", "0.30", "0.04", "0.26"),  # 0.0375 -> 0.04
        (1, "0.01", None, "50", "0.01", "0.01", "0.00"),  # 0.005 -> 0.01
        (1, "0.01", None, "49.9999", "0.01", "0.00", "0.01"),  # 0.004999 -> 0.00
        (1, "1.00", None, "33.3333", "1.00", "0.33", "0.67"),  # 0.333333 -> 0.33
        (3, "33.35", None, "10", "100.05", "10.01", "90.04"),  # 10.005 -> 10.01 (on gross)
        (1, "2.25", None, "10", "2.25", "0.23", "2.02"),  # 0.225 -> 0.23 (not banker's 0.22)
    ],
)
def test_line_amounts(
    units: int,
    price: str,
    discount_amount: str | None,
    discount_percent: str | None,
    gross: str,
    discount: str,
    net: str,
) -> None:
    got = calc.line_amounts(
        units,
        usd(price),
        discount_amount=usd(discount_amount) if discount_amount is not None else None,
        discount_percent=Decimal(discount_percent) if discount_percent is not None else None,
    )
    assert (got.gross, got.discount, got.net) == (usd(gross), usd(discount), usd(net))


def test_line_amounts_zero_decimal_currency_rounds_half_up() -> None:
    got = calc.line_amounts(1, Money(1005, "JPY"), discount_percent=Decimal(50))
    assert got == calc.LineAmounts(Money(1005, "JPY"), Money(503, "JPY"), Money(502, "JPY"))


@pytest.mark.parametrize(
    ("units", "price", "discount_amount", "discount_percent", "code"),
    [
        (1, "100.00", "100.01", None, "invoice.discount_exceeds_line"),
        (2, "10.00", "20.01", None, "invoice.discount_exceeds_line"),
        (1, "0.00", "0.01", None, "invoice.discount_exceeds_line"),
        (1, "100.00", "-1.00", None, "invoice.discount_exceeds_line"),
        (1, "100.00", None, "100.01", "invoice.discount_invalid"),
        (1, "100.00", None, "-0.01", "invoice.discount_invalid"),
        (1, "100.00", "1.00", "1", "invoice.discount_ambiguous"),
        (0, "100.00", None, None, "invoice.units_invalid"),
        (-1, "100.00", None, None, "invoice.units_invalid"),
        (1, "-0.01", None, None, "invoice.price_invalid"),
    ],
)
def test_line_amounts_refused(
    units: int, price: str, discount_amount: str | None, discount_percent: str | None, code: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        calc.line_amounts(
            units,
            usd(price),
            discount_amount=usd(discount_amount) if discount_amount is not None else None,
            discount_percent=Decimal(discount_percent) if discount_percent is not None else None,
        )
    assert exc.value.code == code
    assert exc.value.status == 400


def test_discount_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch) as exc:
        calc.line_amounts(1, usd("10.00"), discount_amount=Money(100, "EUR"))
    assert exc.value.code == "money.currency_mismatch"


@given(
    units=st.integers(min_value=1, max_value=9999),
    price_minor=st.integers(min_value=0, max_value=10_000_000),
    percent=st.decimals(min_value=0, max_value=100, places=4),
)
def test_percent_discount_property(units: int, price_minor: int, percent: Decimal) -> None:
    got = calc.line_amounts(units, Money(price_minor, "USD"), discount_percent=percent)
    gross = units * price_minor
    exact = Decimal(gross) * percent / 100
    assert got.gross == Money(gross, "USD")
    assert got.discount.amount_minor == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert got.discount.amount_minor + got.net.amount_minor == gross
    assert 0 <= got.net.amount_minor <= gross


def test_totals_sum_each_column() -> None:
    lines = [
        calc.line_amounts(2, usd("50.00"), discount_amount=usd("10.00")),
        calc.line_amounts(1, usd("10.05"), discount_percent=Decimal(50)),
        calc.line_amounts(1, usd("0.00")),
    ]
    assert calc.totals(lines, "USD") == calc.Totals(usd("110.05"), usd("15.03"), usd("95.02"))


def test_totals_of_no_lines_is_zero() -> None:
    zero = Money.zero("EUR")
    assert calc.totals([], "EUR") == calc.Totals(zero, zero, zero)


# due_date ----------------------------------------------------------------------------------------

D = dt.date


@pytest.mark.parametrize(
    ("terms", "issue", "days", "fixed", "due"),
    [
        ("due_on_receipt", D(2026, 3, 10), None, None, D(2026, 3, 10)),
        ("due_on_receipt", D(2026, 3, 10), 30, D(2026, 4, 1), D(2026, 3, 10)),  # extras ignored
        ("net", D(2026, 3, 10), 30, None, D(2026, 4, 9)),
        ("net", D(2026, 3, 10), 0, None, D(2026, 3, 10)),
        ("net", D(2026, 12, 15), 30, None, D(2027, 1, 14)),
        ("net", D(2028, 2, 15), 14, None, D(2028, 2, 29)),  # leap year
        ("net", D(2026, 1, 31), 365, None, D(2027, 1, 31)),
        ("fixed_date", D(2026, 3, 10), None, D(2026, 5, 1), D(2026, 5, 1)),
        ("fixed_date", D(2026, 3, 10), None, D(2026, 3, 10), D(2026, 3, 10)),  # same day ok
    ],
)
def test_due_date(
    terms: str, issue: dt.date, days: int | None, fixed: dt.date | None, due: dt.date
) -> None:
    assert calc.due_date(terms, issue, days=days, fixed=fixed) == due


@pytest.mark.parametrize(
    ("terms", "days", "fixed", "code"),
    [
        ("net", None, None, "invoice.terms_invalid"),
        ("net", -1, None, "invoice.terms_invalid"),
        ("fixed_date", None, None, "invoice.terms_invalid"),
        ("fixed_date", None, D(2026, 3, 9), "invoice.due_before_issue"),
        ("fixed_date", None, D(2025, 12, 31), "invoice.due_before_issue"),
        ("monthly", None, None, "invoice.terms_invalid"),
    ],
)
def test_due_date_refused(terms: str, days: int | None, fixed: dt.date | None, code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        calc.due_date(terms, D(2026, 3, 10), days=days, fixed=fixed)
    assert exc.value.code == code


def test_fixed_due_date_before_issue_names_the_date() -> None:
    with pytest.raises(InvalidInput) as exc:
        calc.due_date("fixed_date", D(2026, 3, 10), days=None, fixed=D(2026, 3, 9))
    assert exc.value.data == {"due_date": "2026-03-09"}


# derive_status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "total", "balance", "paid", "expected"),
    [
        # Statuses the ledger never changes.
        ("draft", 12500, 0, 0, "draft"),
        ("void", 12500, 0, 0, "void"),
        ("void", 12500, 12500, 0, "void"),
        ("written_off", 12500, 0, 5000, "written_off"),
        ("written_off", 12500, 7500, 5000, "written_off"),
        # Issued invoices follow their balance.
        ("open", 12500, 12500, 0, "open"),
        ("open", 12500, 7500, 5000, "partially_paid"),
        ("open", 12500, 0, 12500, "paid"),
        ("open", 12500, 0, 0, "paid"),  # fully credited
        ("open", 12500, 7500, 0, "open"),  # partly credited, nothing paid
        ("open", 12500, 2500, 5000, "partially_paid"),  # paid 50 + credited 50
        ("partially_paid", 12500, 0, 12500, "paid"),
        ("partially_paid", 12500, 1, 12499, "partially_paid"),
        ("partially_paid", 12500, 12500, 0, "open"),
        ("paid", 12500, 0, 12500, "paid"),
        ("paid", 12500, 12500, 0, "open"),
        ("paid", 0, 0, 0, "paid"),  # a zero-total invoice
    ],
)
def test_derive_status(current: str, total: int, balance: int, paid: int, expected: str) -> None:
    assert calc.derive_status(current, total=total, balance=balance, paid=paid) == expected


# is_overdue --------------------------------------------------------------------------------------

TODAY = D(2026, 6, 15)


@pytest.mark.parametrize(
    ("status", "due", "expected"),
    [
        ("open", D(2026, 6, 14), True),
        ("partially_paid", D(2026, 1, 1), True),
        ("open", TODAY, False),  # due today is not yet overdue
        ("open", D(2026, 6, 16), False),
        ("open", None, False),
        ("paid", D(2026, 1, 1), False),
        ("void", D(2026, 1, 1), False),
        ("written_off", D(2026, 1, 1), False),
        ("draft", D(2026, 1, 1), False),
    ],
)
def test_is_overdue(status: str, due: dt.date | None, expected: bool) -> None:
    assert calc.is_overdue(status, due, TODAY) is expected
