"""Settlement reconciliation: each run compares a gateway's daily settlement with the ledger's
card-clearing movements and keeps the differences; each payout is posted to the ledger once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import Currency, UUIDPk, created_at_column


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"
    __table_args__ = (Index("ix_reconciliation_runs_day", "provider", "day", "id"),)

    id: Mapped[UUIDPk]
    provider: Mapped[str] = mapped_column(String(20))
    day: Mapped[dt.date] = mapped_column(Date)
    payout_id: Mapped[str] = mapped_column(String(40))
    currency: Mapped[Currency]
    # the gateway's figures for the day
    gateway_gross_minor: Mapped[int] = mapped_column(BigInteger)
    gateway_refunded_minor: Mapped[int] = mapped_column(BigInteger)
    gateway_fees_minor: Mapped[int] = mapped_column(BigInteger)
    # the ledger's: card clearing debited by card payments, credited by card refund payouts
    ledger_charges_minor: Mapped[int] = mapped_column(BigInteger)
    ledger_refunds_minor: Mapped[int] = mapped_column(BigInteger)
    difference_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # matched | differences
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ReconciliationDifference(Base):
    __tablename__ = "reconciliation_differences"

    id: Mapped[UUIDPk]
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("reconciliation_runs.id"), index=True
    )
    # missing_in_ledger | missing_at_gateway | amount_mismatch
    kind: Mapped[str] = mapped_column(String(30))
    item: Mapped[str] = mapped_column(String(10))  # charge | refund
    reference: Mapped[str] = mapped_column(String(40))  # the gateway's id (ch_... / re_...)
    charge_id: Mapped[str | None] = mapped_column(String(40))
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: not one of ours
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # our payment / refund
    gateway_minor: Mapped[int | None] = mapped_column(BigInteger)
    ledger_minor: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)


class SettlementPayout(Base):
    """A payout posted to one practice's ledger (clearing -> bank, fees -> expense). The UNIQUE
    key makes re-running a day's reconciliation post nothing twice."""

    __tablename__ = "settlement_payouts"
    __table_args__ = (UniqueConstraint("provider", "payout_id", "practice_id"),)

    id: Mapped[UUIDPk]
    provider: Mapped[str] = mapped_column(String(20))
    payout_id: Mapped[str] = mapped_column(String(40))
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[Currency]
    cleared_minor: Mapped[int] = mapped_column(BigInteger)  # charges - refunds, matched ones
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("reconciliation_runs.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
