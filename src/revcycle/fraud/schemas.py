from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from revcycle.fraud.rules import RuleAction
from revcycle.kit.schemas import ReadSchema, Schema, Text300


class ReviewStatus(StrEnum):
    OPEN = "open"  # a flag, or the trace of a blocked attempt: dismiss or confirm
    HELD = "held"  # a refund not executed: approve (it executes) or reject
    APPROVED = "approved"
    REJECTED = "rejected"
    DISMISSED = "dismissed"
    CONFIRMED = "confirmed"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DISMISS = "dismiss"
    CONFIRM = "confirm"


class ReviewDecide(Schema):
    decision: Decision
    note: Text300 | None = None


class FindingRead(ReadSchema):
    rule: str
    action: str
    explanation: str
    facts: dict[str, int]
    params: dict[str, int]


class RelatedPayment(ReadSchema):
    id: uuid.UUID
    method: str
    amount: str
    currency: str
    status: str
    received_on: dt.date
    created_by: uuid.UUID | None


class RelatedRefund(ReadSchema):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount: str
    status: str
    created_by: uuid.UUID | None


class ReviewRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID | None
    rule_code: str
    action: str
    status: str
    subject_type: str
    subject_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    amount: str | None
    currency: str | None
    explanation: str
    findings: list[FindingRead]
    payload: dict[str, Any] | None
    actor_user_id: uuid.UUID | None
    created_at: dt.datetime
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None
    decision_note: str | None
    result_id: uuid.UUID | None


class ReviewDetail(ReviewRead):
    payment: RelatedPayment | None = None  # the payment concerned
    refund: RelatedRefund | None = None  # the refund flagged, or the one an approval made


class RuleRead(ReadSchema):
    code: str
    description: str
    applies_to: str
    enabled: bool
    action: str
    params: dict[str, int]
    default_action: str
    default_params: dict[str, int]


class RuleList(ReadSchema):
    practice_id: uuid.UUID
    items: list[RuleRead]


class RuleUpdate(Schema):
    enabled: bool | None = None
    action: RuleAction | None = None
    # Only the rule's own parameters; integers (minutes, counts, percent, minor units).
    params: (
        dict[Annotated[str, Field(max_length=40)], Annotated[int, Field(ge=0, le=10**12)]] | None
    ) = None
