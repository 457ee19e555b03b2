"""Pure drawer maths in integer minor units (docs/front-desk.md).

A drawer holds its float (the change fund, kept off the ledger) plus what went through it: cash
and cheque payments in, cash refunds out. At closing::

    expected_cash   = Σ cash in - Σ cash out            (float excluded)
    expected_checks = Σ cheques in
    over_short      = (counted_cash - float - expected_cash) + (counted_checks - expected_checks)

and a deposit of closed drawers takes ``counted_cash - float`` (the float goes back to the safe,
topped up from the takings when it came up short) plus the counted cheques: exactly what the
drawer's takings and its over/short entry put on account 1000.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    cash_minor: int  # float excluded
    checks_minor: int


@dataclass(frozen=True)
class Count:
    cash_minor: int  # float included
    checks_minor: int


def expected(items: Iterable[tuple[str, int]]) -> Expected:
    """``items``: (method, signed amount) of what went into (+) or out of (-) the drawer."""
    cash = checks = 0
    for method, amount_minor in items:
        if method == "cash":
            cash += amount_minor
        elif method == "check":
            checks += amount_minor
        else:
            raise ValueError(f"a drawer holds cash and cheques only, not {method!r}")
    return Expected(cash, checks)


def denominations_total(counts: Iterable[tuple[int, int]]) -> int:
    """Σ value x count, values in minor units."""
    total = 0
    for value_minor, count in counts:
        if value_minor <= 0 or count < 0:
            raise ValueError("denominations are positive values with non-negative counts")
        total += value_minor * count
    return total


def over_short(float_minor: int, exp: Expected, count: Count) -> tuple[int, int]:
    """(cash over/short, cheques over/short): positive over, negative short."""
    return count.cash_minor - float_minor - exp.cash_minor, count.checks_minor - exp.checks_minor


def deposit_parts(drawers: Iterable[tuple[int, Count]]) -> tuple[int, int]:
    """(cash, cheques) a deposit of these closed drawers (float, count) takes to the bank."""
    cash = checks = 0
    for float_minor, count in drawers:
        cash += count.cash_minor - float_minor
        checks += count.checks_minor
    return cash, checks
