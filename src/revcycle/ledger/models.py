"""Ledger tables: accounts, journal entries, postings. Append-only: ``ledger.service`` is the only
writer, and on both databases triggers refuse UPDATE and DELETE of entries and postings."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("practice_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_practice_effective", "practice_id", "effective_date"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    kind: Mapped[str] = mapped_column(String(40))
    memo: Mapped[str | None] = mapped_column(String(300))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # A reversal names the entry it cancels; UNIQUE so an entry is reversed at most once.
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journal_entries.id"), unique=True
    )
    source_type: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="nonzero"),
        Index("ix_postings_invoice", "invoice_id"),
        Index("ix_postings_patient", "patient_id"),
        Index("ix_postings_entry", "entry_id"),
        Index("ix_postings_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("accounts.id"))
    # Positive = debit, negative = credit. An entry's postings sum to zero per currency.
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    # Sub-ledger dimensions: whose money and which invoice, so balances derive from postings.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("invoices.id"))
