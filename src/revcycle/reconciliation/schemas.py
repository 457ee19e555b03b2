from __future__ import annotations

import datetime as dt
import uuid

from revcycle.kit.schemas import ReadSchema


class DifferenceRead(ReadSchema):
    kind: str  # missing_in_ledger | missing_at_gateway | amount_mismatch
    item: str  # charge | refund
    reference: str
    charge_id: str | None
    practice_id: uuid.UUID | None
    source_id: uuid.UUID | None
    gateway_amount: str | None
    ledger_amount: str | None


class PayoutRead(ReadSchema):
    practice_id: uuid.UUID
    payout_id: str
    cleared: str
    fees: str
    net: str
    entry_id: uuid.UUID


class RunRead(ReadSchema):
    id: uuid.UUID
    provider: str
    day: dt.date
    payout_id: str
    currency: str
    status: str
    gateway_gross: str
    gateway_refunded: str
    gateway_fees: str
    gateway_net: str
    ledger_charges: str
    ledger_refunds: str
    differences: list[DifferenceRead]
    payouts: list[PayoutRead]
    created_at: dt.datetime


class RunList(ReadSchema):
    items: list[RunRead]


class UnmatchedRefundRead(ReadSchema):
    provider: str
    gateway_refund_id: str
    charge_id: str
    payment_id: uuid.UUID | None
    practice_id: uuid.UUID | None
    amount: str
    currency: str
    received_at: dt.datetime


class UnmatchedRefundList(ReadSchema):
    items: list[UnmatchedRefundRead]
