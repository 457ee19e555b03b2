"""The test gateway's daily settlement: what it pays out for one UTC day.

Every charge captured that day adds its amount, every refund made that day takes its amount
back, and the gateway keeps a processing fee per captured charge: 2.9 % of the amount (rounded
half-up to the cent, ``money.round_to_minor``) plus 0.30. Fees are not returned on refunds (as
with the common card gateways). The payout is gross - refunds - fees and may be negative (the
gateway then debits the bank account). The payout id is derived from the day: one per day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.gateway.base import SettlementLine, SettlementReport
from revcycle.gateway.testgw.models import TestgwCharge, TestgwRefund
from revcycle.money import exponent, round_to_minor

FEE_RATE = Decimal("0.029")
FEE_FIXED_MINOR = 30
CURRENCY = "USD"


def fee_minor(amount_minor: int, currency: str = CURRENCY) -> int:
    major = Decimal(amount_minor).scaleb(-exponent(currency))
    return round_to_minor(major * FEE_RATE, currency) + FEE_FIXED_MINOR


def payout_id(day: dt.date) -> str:
    return f"po_{day:%Y%m%d}"


def report(session: Session, day: dt.date) -> SettlementReport:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    lines: list[SettlementLine] = []
    for c in session.scalars(
        select(TestgwCharge)
        .where(TestgwCharge.captured_at >= start, TestgwCharge.captured_at < end)
        .order_by(TestgwCharge.captured_at, TestgwCharge.id)
    ):
        lines.append(
            SettlementLine("charge", c.id, c.id, c.captured_minor, fee_minor(c.captured_minor))
        )
    for r in session.scalars(
        select(TestgwRefund)
        .where(
            TestgwRefund.created_at >= start,
            TestgwRefund.created_at < end,
            TestgwRefund.status == "succeeded",
        )
        .order_by(TestgwRefund.created_at, TestgwRefund.id)
    ):
        lines.append(SettlementLine("refund", r.id, r.charge_id, r.amount_minor))
    return SettlementReport(
        day=day,
        payout_id=payout_id(day),
        currency=CURRENCY,
        gross_minor=sum(x.amount_minor for x in lines if x.kind == "charge"),
        refunded_minor=sum(x.amount_minor for x in lines if x.kind == "refund"),
        fees_minor=sum(x.fee_minor for x in lines),
        lines=tuple(lines),
    )
