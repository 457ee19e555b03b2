"""Front-desk cash drawers, what each holds, and bank deposits of closed drawers
(docs/front-desk.md). Money itself lives in the ledger: 1000 cash and undeposited funds, 1020
bank, 6300 cash over/short."""

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
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

OPEN, CLOSED = "open", "closed"


class BankDeposit(Base):
    __tablename__ = "bank_deposits"
    __table_args__ = (
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint("cash_minor >= 0 AND checks_minor >= 0", name="parts_nonnegative"),
        Index("ix_bank_deposits_practice_date", "practice_id", "deposited_on"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    deposited_on: Mapped[dt.date] = mapped_column(Date)
    bank_reference: Mapped[str | None] = mapped_column(String(60))
    cash_minor: Mapped[Minor]
    checks_minor: Mapped[Minor]
    total_minor: Mapped[Minor]
    currency: Mapped[Currency]
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class CashDrawer(Base):
    """One cashier's drawer session: opened with a float, closed with a count. A user has at most
    one open drawer (a partial unique index), so the payments they take have one home."""

    __tablename__ = "cash_drawers"
    __table_args__ = (
        Index(
            "ux_cash_drawers_open_user",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_cash_drawers_practice_date", "practice_id", "business_date"),
        CheckConstraint("opening_float_minor >= 0", name="float_nonnegative"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    location: Mapped[str] = mapped_column(String(60))
    business_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[Currency]
    opening_float_minor: Mapped[Minor]
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    opened_at: Mapped[dt.datetime] = created_at_column()
    # Fixed at closing: what the drawer should hold beyond its float, what was counted (the
    # float included for cash), and the difference (counted - float - expected, both methods).
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expected_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    expected_checks_minor: Mapped[int | None] = mapped_column(BigInteger)
    counted_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    counted_checks_minor: Mapped[int | None] = mapped_column(BigInteger)
    over_short_minor: Mapped[int | None] = mapped_column(BigInteger)
    # {"20.00": 3, "0.25": 4}: the count by denomination, when one was given.
    denominations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(300))
    over_short_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journal_entries.id")
    )
    deposit_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("bank_deposits.id"), index=True
    )


class CashDrawerItem(Base):
    """Money that went into (a payment) or out of (a refund paid in cash) an open drawer."""

    __tablename__ = "cash_drawer_items"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_nonzero"),
        CheckConstraint("(payment_id IS NULL) <> (refund_id IS NULL)", name="one_source"),
        CheckConstraint("method IN ('cash', 'check')", name="method_known"),
    )

    id: Mapped[UUIDPk]
    drawer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cash_drawers.id"), index=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("payments.id"), unique=True
    )
    refund_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("refunds.id"), unique=True)
    method: Mapped[str] = mapped_column(String(10))  # cash | check
    amount_minor: Mapped[Minor]  # + money in, - money out
    currency: Mapped[Currency]
    reference: Mapped[str | None] = mapped_column(String(60))  # the cheque number
    created_at: Mapped[dt.datetime] = created_at_column()
