from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from revcycle.kit.schemas import (
    NonNegativeAmount,
    PositiveAmount,
    ReadSchema,
    Schema,
    Text60,
    Text300,
)


class DrawerOpen(Schema):
    location: Text60  # e.g. "Front desk 1"
    opening_float: NonNegativeAmount  # the change fund put in the drawer (kept off the ledger)


class Denomination(Schema):
    value: PositiveAmount  # "20.00", "0.25"
    count: int = Field(ge=0, le=1_000_000)


class DrawerClose(Schema):
    # The cash counted in the drawer, float included: as a total, or by denomination (or both,
    # when they must agree).
    counted_cash: NonNegativeAmount | None = None
    denominations: list[Denomination] | None = Field(default=None, max_length=40)
    # The cheques counted; default: the cheques recorded (each listed on the deposit slip).
    counted_checks: NonNegativeAmount | None = None
    note: Text300 | None = None


class DepositCreate(Schema):
    drawer_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    deposited_on: dt.date | None = None  # default today; never in the future
    bank_reference: Text60 | None = None  # the bank's deposit slip / batch number


class DrawerItemRead(ReadSchema):
    payment_id: uuid.UUID | None
    refund_id: uuid.UUID | None
    receipt_number: str | None
    method: str
    amount: str
    reference: str | None
    created_at: dt.datetime


class DrawerRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    user_id: uuid.UUID
    location: str
    business_date: dt.date
    status: str
    currency: str
    opening_float: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    expected_cash: str  # the float plus cash in minus cash out (so far, while open)
    expected_checks: str
    counted_cash: str | None
    counted_checks: str | None
    over_short: str | None  # counted - expected (negative: short)
    denominations: list[dict[str, str | int]] | None
    note: str | None
    deposit_id: uuid.UUID | None
    items: list[DrawerItemRead]


class CheckLine(ReadSchema):
    payment_id: uuid.UUID
    receipt_number: str | None
    check_number: str | None
    amount: str


class DepositRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    deposited_on: dt.date
    bank_reference: str | None
    currency: str
    cash: str
    checks: str
    total: str
    entry_id: uuid.UUID
    drawer_ids: list[uuid.UUID]
    check_lines: list[CheckLine]  # the deposit slip: every cheque by number and amount
    created_at: dt.datetime


class ReportRow(ReadSchema):
    user_id: uuid.UUID | None
    username: str | None
    method: str  # cash | check
    taken: str  # payments received that day (any drawer or none)
    refunded: str  # refunds paid out in cash that day
    expected: str  # that day's drawers: money in minus money out (float excluded)
    counted: str  # that day's closed drawers: counted (float excluded)
    over_short: str
    deposited: str  # that day's drawers, deposited since
    undeposited: str  # that day's drawers: counted (closed) or expected (open), not deposited
    outside_drawers: str  # taken - refunded outside any drawer (never deposited through one)


class LedgerDay(ReadSchema):
    payments: str
    refunds: str
    over_short: str
    deposits: str
    other: str
    net: str  # the day's movement of account 1000 (debits - credits)


class DailyReport(ReadSchema):
    practice_id: uuid.UUID
    date: dt.date
    currency: str
    rows: list[ReportRow]
    drawers: list[DrawerRead]
    deposits: list[DepositRead]  # bank deposits dated that day
    totals: LedgerDay  # from payments, refunds, drawers and deposits
    ledger: LedgerDay  # account 1000 movements of the day, by entry kind
    reconciled: bool
