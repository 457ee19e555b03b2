"""Pydantic schemas of claim submission (docs/claim-submission.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from revcycle.kit.schemas import Schema


class ClaimSubmitIn(Schema):
    practice_id: uuid.UUID
    # Default: every scrubbed claim of the practice (up to REVCYCLE_CLAIMS_BATCH_SIZE).
    claim_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=500)] | None = None


class BatchClaimRead(BaseModel):
    claim_id: uuid.UUID
    control_number: str
    status: str
    attempt: int
    set_control_number: str
    first_segment: int
    last_segment: int


class ClaimBatchRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    interchange_control_number: int
    batch_reference: str
    status: str
    claim_count: int
    total_charge: str
    currency: str
    content_sha256: str
    clearinghouse: str
    file_id: str | None
    error: str | None
    submitted_at: dt.datetime | None
    created_at: dt.datetime
    claims: list[BatchClaimRead] = []


class ReturnedRead(BaseModel):
    claim_id: uuid.UUID
    control_number: str
    reason: str


class SubmissionRead(BaseModel):
    batch: ClaimBatchRead | None
    claim_ids: list[uuid.UUID]
    returned_to_draft: list[ReturnedRead]


class RejectionRead(BaseModel):
    claim_id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    number: int
    control_number: str
    charge: str
    currency: str
    service_date_from: dt.date
    rejected_at: dt.datetime | None
    reason: str | None
    source: str | None
    codes: list[str]
    message: str | None
    segment: str | None
    position: int | None
    detail: dict[str, Any]
