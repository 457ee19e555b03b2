"""Request and response shapes of remittance posting (docs/remittance-posting.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from revcycle.kit.schemas import ReadSchema, Schema

# An X12 interchange: starts with ISA (a byte-order mark and whitespace tolerated). 20 MB at most
# through the API; larger files go through ``revcycle era post``, which streams.
X12Text = Annotated[
    str, Field(min_length=106, max_length=20_000_000, pattern="^[\\s\ufeff]*ISA[^\\s\\w]")
]
UnmatchedStatus = Literal["open", "matched", "reversed"]
UnderpaymentStatus = Literal["open", "reversed"]


class RemittanceUpload(Schema):
    practice_id: uuid.UUID
    content: X12Text


class SetOutcomeRead(BaseModel):
    control_number: str
    outcome: Literal["posted", "duplicate", "quarantined", "refused"]
    code: str | None
    message: str
    remittance_id: uuid.UUID | None
    trace_number: str
    payment: str
    claims: int
    unmatched: int


class PostResultRead(BaseModel):
    sets: list[SetOutcomeRead]
    errors: list[str]


class RemittanceRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    payer_identifier: str
    payer_name: str
    payer_id: uuid.UUID | None
    payee_identifier: str
    payee_name: str
    trace_number: str
    payment: str
    payment_date: dt.date
    payment_method: str
    currency: str
    sha256: str
    claim_count: int
    unmatched_count: int
    provider_adjustments: str
    created_at: dt.datetime


class RemittanceClaimRead(BaseModel):
    id: uuid.UUID
    position: int
    claim_id: uuid.UUID | None
    patient_control_number: str
    payer_claim_number: str
    status_code: str
    outcome: str
    charge: str
    paid: str
    adjusted: str
    patient_responsibility: str
    deductible: str
    coinsurance: str
    copay: str
    other_patient: str
    reverses_id: uuid.UUID | None
    entry_ids: list[uuid.UUID]


class RemittanceDetailRead(RemittanceRead):
    claims: list[RemittanceClaimRead]


class UnmatchedRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    remittance_id: uuid.UUID
    remittance_claim_id: uuid.UUID
    patient_control_number: str
    payer_claim_number: str
    status_code: str
    charge: str
    held: str
    currency: str
    reason: str
    status: str
    matched_claim_id: uuid.UUID | None
    matched_at: dt.datetime | None
    created_at: dt.datetime


class MatchIn(Schema):
    claim_id: uuid.UUID


class UnderpaymentRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    claim_id: uuid.UUID
    remittance_claim_id: uuid.UUID
    expected: str
    actual: str
    difference: str
    currency: str
    status: str
    created_at: dt.datetime
