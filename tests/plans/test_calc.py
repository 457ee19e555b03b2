"""Schedule maths: counts, amounts, remainders, month ends, weekly/biweekly."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revcycle.money import Money
from revcycle.plans import calc
from revcycle.plans.errors import BadSchedule

D = dt.date
M, W, B = calc.Frequency.MONTHLY, calc.Frequency.WEEKLY, calc.Frequency.BIWEEKLY


def usd(minor: int) -> Money:
    return Money(minor, "USD")


@pytest.mark.parametrize(
    ("total", "count", "amount", "expected"),
    [
        (30000, 3, None, [10000, 10000, 10000]),
        (10000, 3, None, [3333, 3333, 3334]),  # remainder on the last
        (10001, 4, None, [2500, 2500, 2500, 2501]),
        (99, 1, None, [99]),
        (5, 5, None, [1, 1, 1, 1, 1]),
        (30000, None, 10000, [10000, 10000, 10000]),
        (25000, None, 10000, [10000, 10000, 5000]),  # the last is what is left
        (10000, None, 10000, [10000]),
        (10001, None, 5000, [5000, 5000, 1]),
    ],
)
def test_split(total: int, count: int | None, amount: int | None, expected: list[int]) -> None:
    got = calc.split(usd(total), count=count, amount=None if amount is None else usd(amount))
    assert [m.amount_minor for m in got] == expected


@pytest.mark.parametrize(
    ("total", "count", "amount", "code"),
    [
        (100, None, None, "plan.bad_schedule"),
        (100, 2, 50, "plan.bad_schedule"),
        (0, 2, None, "plan.nothing_to_split"),
        (4, 5, None, "plan.installment_too_small"),
        (100, 121, None, "plan.too_many_installments"),
        (100, 0, None, "plan.too_many_installments"),
        (100, None, 101, "plan.amount_above_balance"),
        (100_000, None, 1, "plan.too_many_installments"),
    ],
)
def test_split_refusals(total: int, count: int | None, amount: int | None, code: str) -> None:
    with pytest.raises(BadSchedule) as exc:
        calc.split(usd(total), count=count, amount=None if amount is None else usd(amount))
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("first", "frequency", "count", "expected"),
    [
        (D(2026, 1, 31), M, 4, [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31), D(2026, 4, 30)]),
        (D(2028, 1, 31), M, 2, [D(2028, 1, 31), D(2028, 2, 29)]),  # leap year
        (D(2026, 11, 30), M, 3, [D(2026, 11, 30), D(2026, 12, 30), D(2027, 1, 30)]),
        (D(2026, 3, 15), M, 2, [D(2026, 3, 15), D(2026, 4, 15)]),
        (D(2026, 12, 29), W, 3, [D(2026, 12, 29), D(2027, 1, 5), D(2027, 1, 12)]),
        (D(2026, 2, 20), B, 3, [D(2026, 2, 20), D(2026, 3, 6), D(2026, 3, 20)]),
    ],
)
def test_due_dates(
    first: dt.date, frequency: calc.Frequency, count: int, expected: list[dt.date]
) -> None:
    assert calc.due_dates(first, frequency, count) == expected


def test_schedule_pairs_dates_and_amounts() -> None:
    rows = calc.schedule(usd(10000), M, D(2026, 1, 31), count=3)
    assert rows == [
        (D(2026, 1, 31), usd(3333)),
        (D(2026, 2, 28), usd(3333)),
        (D(2026, 3, 31), usd(3334)),
    ]


def test_declines_and_retries() -> None:
    assert not calc.is_hard_decline("insufficient_funds")
    assert calc.is_hard_decline("expired_card")
    assert calc.is_hard_decline("authentication_required")
    assert calc.parse_retry_days("7,3,3") == [3, 7]
    assert calc.retry_dates(D(2026, 1, 30), [3, 7]) == [D(2026, 2, 2), D(2026, 2, 6)]


@given(st.integers(1, 10**12), st.integers(1, 120))
def test_split_by_count_sums_to_total(total: int, count: int) -> None:
    if total < count:
        return
    parts = calc.split(usd(total), count=count)
    assert sum(p.amount_minor for p in parts) == total
    assert len(parts) == count
    assert all(p.amount_minor == parts[0].amount_minor for p in parts[:-1])
    assert 0 <= parts[-1].amount_minor - parts[0].amount_minor < count


@given(st.integers(1, 10**9), st.integers(1, 10**9))
def test_split_by_amount_sums_to_total(total: int, amount: int) -> None:
    if amount > total or -(-total // amount) > 120:
        return
    parts = calc.split(usd(total), amount=usd(amount))
    assert sum(p.amount_minor for p in parts) == total
    assert all(p.amount_minor == amount for p in parts[:-1])
    assert 0 < parts[-1].amount_minor <= amount
