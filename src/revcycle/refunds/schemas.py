from __future__ import annotations

import datetime as dt
import uuid

from revcycle.kit.schemas import PositiveAmount, ReadSchema, Schema, Text300


class RefundCreate(Schema):
    # In the payment's currency; at most what is still refundable on the payment.
    amount: PositiveAmount
    reason: Text300 | None = None


class RefundPartRead(ReadSchema):
    invoice_id: uuid.UUID | None  # None: taken from the payment's unapplied patient credit
    amount: str


class RefundRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    payment_id: uuid.UUID
    method: str
    amount: str
    currency: str
    status: str
    reason: str | None
    parts: list[RefundPartRead]
    entry_id: uuid.UUID | None  # None while a card refund is pending, or when it failed
    payout_entry_id: uuid.UUID | None
    approval_request_id: uuid.UUID | None
    gateway_refund_id: str | None = None
    failure_code: str | None = None
    created_at: dt.datetime


class RefundList(ReadSchema):
    items: list[RefundRead]
