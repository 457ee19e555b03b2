"""Receipt numbers: one receipt per settled payment and per paid refund, numbered per practice,
series and calendar year without gaps (docs/front-desk.md)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class ReceiptSequence(Base):
    """The last receipt number taken per practice, series and year; its row is locked (an atomic
    UPDATE ... RETURNING) while a number is taken, until COMMIT: gap-free, no races."""

    __tablename__ = "receipt_sequences"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    series: Mapped[str] = mapped_column(String(4), primary_key=True)  # R | RF
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("practice_id", "series", "year", "number"),
        UniqueConstraint("practice_id", "display_number"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("(payment_id IS NULL) <> (refund_id IS NULL)", name="one_source"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"), index=True)
    series: Mapped[str] = mapped_column(String(4))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    display_number: Mapped[str] = mapped_column(String(24))  # R-2026-000123
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("payments.id"), unique=True
    )
    refund_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("refunds.id"), unique=True)
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    issued_at: Mapped[dt.datetime] = created_at_column()
