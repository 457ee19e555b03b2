from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from revcycle.kit.schemas import ReadSchema, Schema, Text300


class ApprovalStatus(StrEnum):
    REQUESTED = "requested"
    # transient: approval executes the operation in the same transaction, except a card refund,
    # which stays approved while the payment gateway is asked (docs/refunds-approvals.md)
    APPROVED = "approved"
    EXECUTED = "executed"
    FAILED = "failed"  # a card refund the payment gateway refused (failure_code says why)
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ApprovalReject(Schema):
    reason: Text300


class ApprovalRequestRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    operation: str
    object_type: str
    object_id: uuid.UUID
    amount: str
    currency: str
    limit: str
    payload: dict[str, Any]
    status: str
    requested_by: uuid.UUID | None
    requested_at: dt.datetime
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    executed_at: dt.datetime | None
    result_id: uuid.UUID | None
    failure_code: str | None = None
