from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from revcycle.kit.schemas import ReadSchema, Schema, Text300

PlaceOfService = Annotated[str, Field(pattern=r"^[0-9]{2}$")]
AuthNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,50}$")]
ClaimStatus = Literal[
    "draft",
    "scrubbed",
    "held",
    "submitted",
    "accepted",
    "rejected",
    "adjudicated",
    "denied",
    "appealed",
    "closed",
    "void",
]


class ClaimCreate(Schema):
    invoice_id: uuid.UUID
    # Default: every billable line of the invoice.
    invoice_line_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=50)] | None = None
    # Default: the patient's primary coverage on the first date of service.
    coverage_id: uuid.UUID | None = None
    place_of_service: PlaceOfService = "11"
    rendering_provider_id: uuid.UUID | None = None
    referring_provider_id: uuid.UUID | None = None
    # Default: the number of the authorisation the lines drew units from.
    prior_authorization: AuthNumber | None = None


class ClaimTransitionIn(Schema):
    status: Literal["draft", "held", "void", "closed"]
    reason: Text300


class ClaimLineRead(BaseModel):
    id: uuid.UUID
    position: int
    invoice_line_id: uuid.UUID
    procedure: str
    modifiers: list[str]
    units: int
    charge: str
    diagnosis_pointers: list[int]
    service_date: dt.date
    expected_allowed: str | None
    line_control_number: str


class ClaimRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    invoice_id: uuid.UUID
    coverage_id: uuid.UUID
    payer_id: uuid.UUID
    plan_id: uuid.UUID
    number: int
    control_number: str
    sequence: str
    frequency_code: str
    primary_claim_id: uuid.UUID | None
    replaces_claim_id: uuid.UUID | None
    status: ClaimStatus
    status_reason: str | None
    place_of_service: str
    rendering_provider_id: uuid.UUID | None
    referring_provider_id: uuid.UUID | None
    prior_authorization: str | None
    diagnosis_codes: list[str]
    service_date_from: dt.date
    service_date_to: dt.date
    currency: str
    charge: str
    expected_allowed: str | None
    payer_claim_number: str | None
    # Every payer claim number (835 CLP07) the claim was answered under: several when the payer
    # split it.
    payer_claim_numbers: list[str]
    # The latest predetermination (835 CLP02 25): the payer's pricing, nothing paid.
    predetermination: dict[str, Any] | None
    billed: bool
    submitted_at: dt.datetime | None
    created_at: dt.datetime
    lines: list[ClaimLineRead]


class ClaimEventRead(ReadSchema):
    id: uuid.UUID
    kind: str
    from_status: str | None
    to_status: str
    actor_user_id: uuid.UUID | None
    actor_kind: str
    reason: str | None
    detail: dict[str, Any]
    at: dt.datetime


class ClaimEventList(BaseModel):
    items: list[ClaimEventRead]
