"""Invoices, their lines, credit notes/adjustments and the per-practice number sequence."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class InvoiceSequence(Base):
    """The last invoice number issued per practice; locked while a number is taken (gap-free)."""

    __tablename__ = "invoice_sequences"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("practice_id", "number"),
        Index("ix_invoices_patient", "patient_id", "id"),
        Index("ix_invoices_practice_status", "practice_id", "status"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    number: Mapped[int | None] = mapped_column(Integer)  # assigned when issued, gap-free
    display_number: Mapped[str | None] = mapped_column(String(20))  # e.g. "INV-000042"
    status: Mapped[str] = mapped_column(String(20), default="draft")
    currency: Mapped[Currency]
    terms: Mapped[str] = mapped_column(String(20))  # due_on_receipt | net | fixed_date
    terms_days: Mapped[int | None] = mapped_column(Integer)
    terms_due_date: Mapped[dt.date | None] = mapped_column(Date)
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    # Fixed when issued: gross charges, discounts and the amount billed (charges - discounts).
    subtotal_minor: Mapped[Minor] = mapped_column(default=0)
    discount_minor: Mapped[Minor] = mapped_column(default=0)
    total_minor: Mapped[Minor] = mapped_column(default=0)
    memo: Mapped[str | None] = mapped_column(String(500))
    issue_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    void_reason: Mapped[str | None] = mapped_column(String(300))
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    written_off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    lines: Mapped[list[InvoiceLine]] = relationship(
        lazy="raise", order_by="InvoiceLine.position", back_populates="invoice"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("unit_price_minor >= 0", name="price_nonnegative"),
        CheckConstraint("discount_minor >= 0", name="discount_nonnegative"),
        UniqueConstraint("invoice_id", "position"),
    )

    id: Mapped[UUIDPk]
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column(Integer)
    service_code: Mapped[str] = mapped_column(String(5))
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(300))
    units: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[Minor]
    discount_minor: Mapped[Minor] = mapped_column(default=0)
    diagnosis_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    date_of_service: Mapped[dt.date] = mapped_column(Date)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("providers.id"))
    service_item_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("service_items.id"))

    invoice: Mapped[Invoice] = relationship(lazy="raise", back_populates="lines")


class InvoiceAdjustment(Base):
    """A credit note or write-off against an issued invoice, with its reason and ledger entry."""

    __tablename__ = "invoice_adjustments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[UUIDPk]
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # credit_note | write_off
    reason_code: Mapped[str] = mapped_column(String(40))
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    memo: Mapped[str | None] = mapped_column(String(500))
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
