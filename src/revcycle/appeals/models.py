"""Appeals of denied claims: the appeal, its append-only history, its attachments and the
staff reminders before its deadline (docs/denials-appeals.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.crypto.fields import EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

STATUSES = ("draft", "sent", "won", "lost", "partially_won")
OUTCOMES = ("won", "lost", "partially_won")
LOST_ACTIONS = ("none", "write_off", "patient")


class Appeal(Base):
    """One appeal of one claim at one level (1st, 2nd): UNIQUE(claim_id, level) makes creating
    it idempotent and keeps two people from opening the same appeal twice."""

    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("claim_id", "level"),
        Index("ix_appeals_practice_status", "practice_id", "status", "deadline"),
        CheckConstraint("level IN (1, 2)", name="level_known"),
        CheckConstraint(
            "status IN ('draft', 'sent', 'won', 'lost', 'partially_won')", name="status_known"
        ),
        CheckConstraint(
            "lost_action IS NULL OR lost_action IN ('none', 'write_off', 'patient')",
            name="lost_action_known",
        ),
        CheckConstraint("at_stake_minor >= 0", name="at_stake_nonnegative"),
        CheckConstraint(
            "expected_minor IS NULL OR expected_minor >= 0", name="expected_nonnegative"
        ),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payers.id"))
    level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # The claim event holding the denial facts appealed (835 detail).
    denial_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claim_events.id"))
    # The claim's status before the appeal (denied or adjudicated with denied lines).
    claim_status_before: Mapped[str] = mapped_column(String(20))
    adjudicated_on: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)
    late_reason: Mapped[str | None] = mapped_column(Text)
    # The staff's argument (may name the patient's condition: PHI, sealed).
    argument: Mapped[str] = mapped_column(EncryptedString("appeals.argument"))
    currency: Mapped[Currency]
    at_stake_minor: Mapped[Minor]
    # Won / partially won: what the payer's new 835 is expected to pay.
    expected_minor: Mapped[int | None] = mapped_column(BigInteger)
    lost_action: Mapped[str | None] = mapped_column(String(20))
    # Lost: the ledger entry that wrote the balance off or moved it to the patient.
    outcome_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journal_entries.id")
    )
    # The payer's later 835 that paid the appeal (docs/denials-appeals.md, "When the payer
    # pays"): its remittance_claims row and what it recovered beyond the appealed denial.
    remittance_claim_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("remittance_claims.id")
    )
    recovered_minor: Mapped[int | None] = mapped_column(BigInteger)
    sent_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AppealEvent(Base):
    """Append-only: one row per change of an appeal (created, sent, an outcome, an attachment),
    with the actor."""

    __tablename__ = "appeal_events"
    __table_args__ = (Index("ix_appeal_events_appeal", "appeal_id", "id"),)

    id: Mapped[UUIDPk]
    appeal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("appeals.id"))
    kind: Mapped[str] = mapped_column(String(30))  # created | status | attachment | reminder
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | system
    note: Mapped[str | None] = mapped_column(EncryptedString("appeal_events.note"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = created_at_column()


class AppealAttachment(Base):
    """A small file sent with the appeal (medical records, an authorisation): the bytes are
    sealed in the row (base64 inside the encrypted text), identified by their SHA-256; the same
    file twice on one appeal is one attachment."""

    __tablename__ = "appeal_attachments"
    __table_args__ = (
        UniqueConstraint("appeal_id", "sha256"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[UUIDPk]
    appeal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("appeals.id"))
    filename: Mapped[str] = mapped_column(EncryptedString("appeal_attachments.filename"))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(EncryptedString("appeal_attachments.content"))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class AppealReminder(Base):
    """The staff outbox for appeal deadlines: one row per appeal per threshold (days before the
    deadline), written once by the worker (UNIQUE(appeal_id, days_before)); a sender (out of
    scope) marks rows ``sent``. Ids and dates only, never names."""

    __tablename__ = "appeal_reminders"
    __table_args__ = (
        UniqueConstraint("appeal_id", "days_before"),
        Index("ix_appeal_reminders_practice_status", "practice_id", "status", "id"),
        CheckConstraint("status IN ('pending', 'sent')", name="status_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    appeal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("appeals.id"))
    days_before: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[dt.datetime] = created_at_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
