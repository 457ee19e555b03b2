"""Pure schedule maths for payment plans: integer minor units in, (due date, Money) out.

* **By count**: every installment is ``total // count``; the remainder (fewer minor units than
  ``count``) goes on the **last** installment, so the patient's regular amount is the round one
  and the final payment squares the balance. ``sum == total`` always.
* **By amount**: ``ceil(total / amount)`` installments of ``amount``; the last is what is left
  (``0 < last <= amount``).
* **Dates**: weekly = +7 days, biweekly = +14 days, monthly = the same day of the month as the
  first due date, clamped to the month's last day (Jan 31 -> Feb 28/29 -> Mar 31: the clamp never
  drifts the later dates).
"""

from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum

from revcycle.money import Money
from revcycle.plans.errors import BadSchedule

MAX_INSTALLMENTS = 120


class Frequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"


def add_months(start: dt.date, months: int) -> dt.date:
    """``start`` moved by ``months`` calendar months, its day clamped to the month's last day."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(start.day, last))


def due_dates(first: dt.date, frequency: Frequency, count: int) -> list[dt.date]:
    if frequency is Frequency.MONTHLY:
        return [add_months(first, k) for k in range(count)]
    step = 7 if frequency is Frequency.WEEKLY else 14
    return [first + dt.timedelta(days=step * k) for k in range(count)]


def split(total: Money, *, count: int | None = None, amount: Money | None = None) -> list[Money]:
    """The installment amounts (exactly one of ``count`` / ``amount``)."""
    if (count is None) == (amount is None):
        raise BadSchedule("Give either an installment count or an installment amount")
    if not total.is_positive():
        raise BadSchedule("There is no balance to split", code="plan.nothing_to_split")
    if amount is not None:
        if not amount.is_positive():
            raise BadSchedule("The installment amount must be positive")
        if amount > total:
            raise BadSchedule(
                f"The installment amount {amount.format()} exceeds the balance {total.format()}",
                code="plan.amount_above_balance",
            )
        count = -(-total.amount_minor // amount.amount_minor)
        if count > MAX_INSTALLMENTS:
            raise BadSchedule(
                f"That amount needs {count} installments; at most {MAX_INSTALLMENTS}",
                code="plan.too_many_installments",
            )
        last = total.amount_minor - amount.amount_minor * (count - 1)
        return [amount] * (count - 1) + [Money(last, total.currency)]
    assert count is not None
    if not 1 <= count <= MAX_INSTALLMENTS:
        raise BadSchedule(
            f"An installment count is 1 to {MAX_INSTALLMENTS}", code="plan.too_many_installments"
        )
    base = total.amount_minor // count
    if base == 0:
        raise BadSchedule(
            f"{total.format()} cannot be split into {count} installments",
            code="plan.installment_too_small",
        )
    last = total.amount_minor - base * (count - 1)
    return [Money(base, total.currency)] * (count - 1) + [Money(last, total.currency)]


def schedule(
    total: Money,
    frequency: Frequency,
    first_due: dt.date,
    *,
    count: int | None = None,
    amount: Money | None = None,
) -> list[tuple[dt.date, Money]]:
    amounts = split(total, count=count, amount=amount)
    return list(zip(due_dates(first_due, frequency, len(amounts)), amounts, strict=True))


def retry_dates(due: dt.date, retry_days: list[int]) -> list[dt.date]:
    return [due + dt.timedelta(days=d) for d in retry_days]


def parse_retry_days(value: str) -> list[int]:
    """``"3,7"`` -> [3, 7] (Settings.plan_retry_days; validated there), ascending, unique."""
    return sorted({int(p) for p in value.split(",") if p.strip()})


# Declines that a retry may fix (money may be there in a few days) vs. ones that need the patient
# to update their payment method (stop retrying, ask them).
# Bank debits decline with their NACHA return code: R01 (insufficient funds) and R09 (uncollected
# funds) may clear later; R02 account closed, R03 no account, R04 invalid number... need a new one.
SOFT_DECLINES = frozenset(
    {
        "insufficient_funds",
        "generic_decline",
        "card_declined",
        "processing_error",
        "try_again",
        "R01",
        "R09",
    }
)


def is_hard_decline(code: str | None) -> bool:
    """expired_card, incorrect_cvc, authentication_required, lost/stolen card, a refused token..."""
    return code not in SOFT_DECLINES
