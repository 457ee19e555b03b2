"""Payment plans: a balance (one or several invoices) split into installments.

``payment_plans`` (one row per plan, its state and terms), ``plan_invoices`` (which invoices, and
whether they are currently "in plan": a partial UNIQUE index keeps an invoice in at most one
plan), ``plan_installments`` (the schedule; superseded rows stay, ``cancelled``),
``plan_charge_attempts`` (one row per autopay/payoff charge, UNIQUE per installment + attempt) and
``plan_events`` (append-only history: every change with actor, time, reason, before/after).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

PLAN_STATUSES = ("proposed", "active", "completed", "paid_off", "defaulted", "cancelled")
INSTALLMENT_STATUSES = ("scheduled", "processing", "paid", "missed", "cancelled")


class PaymentPlan(Base):
    __tablename__ = "payment_plans"
    __table_args__ = (
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint(
            "status IN ('proposed', 'active', 'completed', 'paid_off', 'defaulted', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("frequency IN ('weekly', 'biweekly', 'monthly')", name="frequency_known"),
        Index("ix_payment_plans_patient", "patient_id", "id"),
        Index("ix_payment_plans_practice", "practice_id", "status", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    frequency: Mapped[str] = mapped_column(String(10))
    first_due_date: Mapped[dt.date] = mapped_column(Date)
    installment_count: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[Minor]  # the balance the plan covers (at proposal)
    currency: Mapped[Currency]
    memo: Mapped[str | None] = mapped_column(Text)
    method_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_methods.id"))
    missed_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)  # schedule version
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = created_at_column()
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PlanInvoice(Base):
    __tablename__ = "plan_invoices"
    __table_args__ = (
        UniqueConstraint("plan_id", "invoice_id"),
        # An invoice is "in plan" in at most one plan at a time.
        Index(
            "uq_plan_invoices_in_plan",
            "invoice_id",
            unique=True,
            sqlite_where=text("in_plan"),
            postgresql_where=text("in_plan"),
        ),
    )

    id: Mapped[UUIDPk]
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_plans.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column(Integer)  # oldest due first
    balance_minor: Mapped[Minor]  # the invoice's balance when the plan was proposed
    in_plan: Mapped[bool] = mapped_column(Boolean, default=False)


class PlanInstallment(Base):
    __tablename__ = "plan_installments"
    __table_args__ = (
        UniqueConstraint("plan_id", "version", "seq"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("paid_minor >= 0 AND paid_minor <= amount_minor", name="paid_in_range"),
        CheckConstraint(
            "status IN ('scheduled', 'processing', 'paid', 'missed', 'cancelled')",
            name="status_known",
        ),
        # The autopay task's claim query: due work in date order.
        Index("ix_plan_installments_due", "status", "next_attempt_on"),
    )

    id: Mapped[UUIDPk]
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_plans.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount_minor: Mapped[Minor]
    paid_minor: Mapped[Minor] = mapped_column(default=0)
    currency: Mapped[Currency]
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    # When autopay charges it next (the due date, then the retry dates); None = no charge planned.
    next_attempt_on: Mapped[dt.date | None] = mapped_column(Date)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_decline_code: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = created_at_column()


class PlanChargeAttempt(Base):
    """One gateway charge for a plan (an installment's autopay attempt, or an early payoff). The
    payment row holds the gateway key derived from this attempt's identity, so a crash or a
    second worker can never charge the same attempt twice."""

    __tablename__ = "plan_charge_attempts"
    __table_args__ = (UniqueConstraint("installment_id", "attempt"),)

    id: Mapped[UUIDPk]
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_plans.id"), index=True)
    installment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("plan_installments.id")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(20))  # autopay | payoff
    method_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_methods.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    decline_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_at_column()


class PlanEvent(Base):
    """Append-only history of a plan: proposed, accepted, changed, payments, declines, missed,
    defaulted, paid off... with the schedule before and after where it changed."""

    __tablename__ = "plan_events"
    __table_args__ = (Index("ix_plan_events_plan", "plan_id", "id"),)

    id: Mapped[UUIDPk]
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_plans.id"))
    kind: Mapped[str] = mapped_column(String(30))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = created_at_column()
