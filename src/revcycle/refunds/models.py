"""Refunds of payments and the parts each took back (patient credit, or one invoice's payment)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_refunds_payment", "payment_id", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id"))
    method: Mapped[str] = mapped_column(String(20))  # the payment's method: money goes back there
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    # paid; card refunds: pending (amount reserved, no ledger entry) -> paid | failed (none)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(300))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    payout_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journal_entries.id")
    )
    # Set when the refund ran because an approval request was approved (at most once).
    approval_request_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("approval_requests.id"), unique=True
    )
    # Card refunds: the key sent to the gateway (same key -> the same refund), its answer.
    gateway_idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    gateway_refund_id: Mapped[str | None] = mapped_column(String(40))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class RefundPart(Base):
    """One source a refund took money back from: the payment's patient credit (no invoice) or
    its allocation to one invoice (that invoice's balance reopens)."""

    __tablename__ = "refund_parts"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[UUIDPk]
    refund_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("refunds.id"), index=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("invoices.id"))
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    position: Mapped[int] = mapped_column(Integer)
