from __future__ import annotations

import datetime as dt
import uuid

from revcycle.kit.schemas import ReadSchema


class TrialBalanceRowRead(ReadSchema):
    account_code: str
    account_name: str
    account_type: str
    currency: str
    opening: str  # signed: positive = debit balance
    debits: str
    credits: str
    closing: str


class TrialBalanceRead(ReadSchema):
    practice_id: uuid.UUID
    date_from: dt.date | None
    date_to: dt.date
    rows: list[TrialBalanceRowRead]
    total_debits: dict[str, str]
    total_credits: dict[str, str]
    balanced: bool


class PostingRead(ReadSchema):
    account_code: str
    amount: str  # positive = debit, negative = credit
    currency: str
    patient_id: uuid.UUID | None
    invoice_id: uuid.UUID | None


class JournalEntryRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    kind: str
    memo: str | None
    effective_date: dt.date
    created_at: dt.datetime
    reverses_id: uuid.UUID | None
    source_type: str | None
    source_id: uuid.UUID | None
    postings: list[PostingRead]
