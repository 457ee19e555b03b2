"""Fraud and error review items and per-practice rule settings (docs/fraud.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.clock import utcnow
from revcycle.kit.columns import UUIDPk, created_at_column


class FraudReview(Base):
    """One screened attempt (or one after-the-fact finding) that a rule blocked, held or flagged.

    ``status``: ``held`` (a refund parked until a reviewer approves -> it executes, or rejects),
    ``open`` (a flag, or the trace of a blocked attempt, to be dismissed or confirmed), then
    ``approved`` / ``rejected`` / ``dismissed`` / ``confirmed``."""

    __tablename__ = "fraud_reviews"
    __table_args__ = (
        CheckConstraint("action IN ('block', 'hold', 'flag')", name="action_known"),
        CheckConstraint(
            "status IN ('open', 'held', 'approved', 'rejected', 'dismissed', 'confirmed')",
            name="status_known",
        ),
        Index("ix_fraud_reviews_practice_status", "practice_id", "status", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    rule_code: Mapped[str] = mapped_column(String(40), index=True)  # the decisive finding's rule
    action: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    # payment | refund (the attempt screened) | user (refund ratio) | payment_pair (paid twice)
    subject_type: Mapped[str] = mapped_column(String(20))
    # The payment / refund made (flags), None when nothing was made (block, hold).
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the payment concerned, if any
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    explanation: Mapped[str] = mapped_column(Text)
    # [{"rule", "action", "explanation", "facts": {...}, "params": {...}}, ...]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # A held operation, exactly as validated when it was attempted: executed on approval.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The user whose transaction this is (may not decide it); None for the server operator.
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # After-the-fact findings: one review per finding however often the job runs.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(300))
    result_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the refund an approval made


class FraudRuleConfig(Base):
    """A practice's override of one rule's defaults (absent: the defaults in ``rules.py``)."""

    __tablename__ = "fraud_rule_configs"
    __table_args__ = (
        UniqueConstraint("practice_id", "rule_code"),
        CheckConstraint(
            "action IS NULL OR action IN ('block', 'hold', 'flag')", name="action_known"
        ),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    rule_code: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    action: Mapped[str | None] = mapped_column(String(10))
    params: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
