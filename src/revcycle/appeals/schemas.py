from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from revcycle.claims.schemas import ClaimRead
from revcycle.kit.schemas import NonNegativeAmount, Schema, Text300

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("text.control_characters", "control characters are not allowed")
    return value


# The staff's argument: paragraphs (newlines allowed), bounded.
ArgumentText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=8_000),
    AfterValidator(_no_control_chars),
]
AppealStatus = Literal["draft", "sent", "won", "lost", "partially_won"]
Outcome = Literal["won", "lost", "partially_won"]
LostAction = Literal["none", "write_off", "patient"]
ContentType = Literal["application/pdf", "image/png", "image/jpeg", "image/tiff", "text/plain"]


class AppealCreate(Schema):
    claim_id: uuid.UUID
    level: Annotated[int, Field(ge=1, le=2)] = 1
    argument: ArgumentText
    # Required after the payer's appeal deadline: why it is filed late.
    late_reason: Text300 | None = None


class AppealOutcomeIn(Schema):
    outcome: Outcome
    # Won: defaults to the amount at stake; partially won: required, below it.
    expected_amount: NonNegativeAmount | None = None
    # Lost: leave the claim denied (a second-level appeal may follow), write the balance off,
    # or move it to the patient.
    lost_action: LostAction = "none"
    note: Text300 | None = None


class AttachmentCreate(Schema):
    # A plain file name: letters, digits, spaces and . _ ( ) - (no folders, no markup).
    filename: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}$")]
    content_type: ContentType
    # The file, base64 (standard alphabet, padded); at most 2 MiB once decoded.
    content_base64: Annotated[
        str,
        StringConstraints(min_length=4, max_length=2_800_000, pattern=r"^[A-Za-z0-9+/]+={0,2}$"),
    ]


class CodeRead(BaseModel):
    group: str
    reason: str
    amount: str
    description: str
    group_description: str
    # What to do about it (docs/denials-appeals.md, "What to do about an adjustment").
    action: str


class RemarkRead(BaseModel):
    code: str
    description: str


class DeniedLineRead(BaseModel):
    line_control_number: str
    procedure: str
    modifiers: list[str]
    units: int
    at_stake: str
    adjustments: list[CodeRead]
    action: str


class DenialRead(BaseModel):
    claim_id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    control_number: str
    claim_status: str
    payer_id: uuid.UUID
    payer_name: str
    payer_claim_number: str | None
    adjudicated_on: dt.date
    status_code: str | None
    currency: str
    charge: str
    paid: str
    patient_responsibility: str
    at_stake: str
    age_days: int
    age_bucket: str
    deadline: dt.date
    days_left: int
    primary_reason: str
    # The primary reason's action.
    action: str
    adjustments: list[CodeRead]
    remarks: list[RemarkRead]
    lines: list[DeniedLineRead]


class DenialGroupRead(BaseModel):
    key: str
    label: str
    count: int
    at_stake: str | None


class DenialQueueRead(BaseModel):
    as_of: dt.date
    group_by: str | None
    count: int
    currency: str | None
    at_stake: str | None
    truncated: bool
    groups: list[DenialGroupRead]
    items: list[DenialRead]


class AttachmentRead(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime


class AppealEventRead(BaseModel):
    id: uuid.UUID
    kind: str
    from_status: str | None
    to_status: str
    actor_user_id: uuid.UUID | None
    actor_kind: str
    note: str | None
    detail: dict[str, object]
    at: dt.datetime


class AppealRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    claim_id: uuid.UUID
    payer_id: uuid.UUID
    level: int
    status: str
    claim_status_before: str
    adjudicated_on: dt.date
    deadline: dt.date
    late_reason: str | None
    argument: str
    currency: str
    at_stake: str
    expected: str | None
    lost_action: str | None
    outcome_entry_id: uuid.UUID | None
    # The payer's later 835 that paid the appeal, and what it recovered.
    remittance_claim_id: uuid.UUID | None
    recovered: str | None
    sent_on: dt.date | None
    decided_on: dt.date | None
    created_at: dt.datetime
    attachments: list[AttachmentRead]
    events: list[AppealEventRead]


class SecondaryRead(BaseModel):
    primary_claim_id: uuid.UUID
    outcome: str  # secondary | crossover
    created: bool
    secondary_claim: ClaimRead | None
