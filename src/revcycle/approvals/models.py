"""Approval requests: a refund or write-off above the requester's limit, held until another user
approves (and it executes) or rejects it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('requested', 'approved', 'executed', 'rejected', 'cancelled', 'failed')",
            name="status_known",
        ),
        Index("ix_approval_requests_practice_status", "practice_id", "status", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    operation: Mapped[str] = mapped_column(String(20))  # refund | write_off
    object_type: Mapped[str] = mapped_column(String(20))  # payment | invoice
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    limit_minor: Mapped[Minor]  # the requester's limit when asked
    # The exact operation to execute on approval (the request body as validated).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_at: Mapped[dt.datetime] = created_at_column()
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(300))
    executed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the refund / invoice it produced
    # status failed: why the payment gateway refused the approved card refund
    failure_code: Mapped[str | None] = mapped_column(String(40))
