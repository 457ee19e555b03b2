from __future__ import annotations

import datetime as dt
import uuid

from revcycle.kit.schemas import ReadSchema


class AppliedRead(ReadSchema):
    invoice_id: uuid.UUID | None  # None: patient credit
    invoice_number: str | None
    amount: str


class ReceiptRead(ReadSchema):
    number: str  # R-2026-000123 (payments) / RF-2026-000045 (refunds)
    kind: str  # payment | refund
    issued_at: dt.datetime
    practice_id: uuid.UUID
    practice_name: str
    patient_id: uuid.UUID
    account_number: str
    date: dt.date
    method: str
    method_detail: str
    amount: str
    currency: str
    applied: list[AppliedRead]
    credited: str
    balance_after: str  # amount due (+) or credit held (-) after this payment / refund
    payment_id: uuid.UUID
    refund_id: uuid.UUID | None
    payment_receipt_number: str | None
    reason: str | None


class InvoiceShareRead(ReadSchema):
    invoice_id: uuid.UUID
    invoice_number: str | None
    amount: str


class HistoryRowRead(ReadSchema):
    entry_id: uuid.UUID
    date: dt.date
    kind: str
    description: str
    amount: str  # + charges, - payments and credits
    balance: str  # running balance after this row
    invoices: list[InvoiceShareRead]
    payment_id: uuid.UUID | None
    refund_id: uuid.UUID | None
    receipt_number: str | None
    method: str | None


class PaymentHistoryRead(ReadSchema):
    owner_id: uuid.UUID  # the patient or invoice
    currency: str
    balance: str  # what the ledger derives now
    items: list[HistoryRowRead]
    next_cursor: str | None
