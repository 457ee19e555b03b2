"""All SQL for payment plans, their invoices, installments, charge attempts and events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit import bulk
from revcycle.patients.repository import PatientRepository
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.plans.models import (
    PaymentPlan,
    PlanChargeAttempt,
    PlanEvent,
    PlanInstallment,
    PlanInvoice,
)

OPEN_INSTALLMENT = ("scheduled", "processing", "missed")

_ATTEMPTS = cast(Table, PlanChargeAttempt.__table__)
_EVENTS = cast(Table, PlanEvent.__table__)


class PlanRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, plan_id: uuid.UUID) -> PaymentPlan | None:
        return self.session.get(PaymentPlan, plan_id)

    def get_for_update(self, plan_id: uuid.UUID) -> PaymentPlan | None:
        """Lock order: plan -> installments -> payment -> patient -> invoices (by id)."""
        return self.session.scalar(
            select(PaymentPlan)
            .where(PaymentPlan.id == plan_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def invoices(self, plan_id: uuid.UUID) -> list[PlanInvoice]:
        return list(
            self.session.scalars(
                select(PlanInvoice)
                .where(PlanInvoice.plan_id == plan_id)
                .order_by(PlanInvoice.position)
            )
        )

    def invoices_of(self, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[PlanInvoice]]:
        """plan id -> its invoice links in position order, for several plans in one query."""
        out: dict[uuid.UUID, list[PlanInvoice]] = {}
        if plan_ids:
            for link in self.session.scalars(
                select(PlanInvoice)
                .where(bulk.among(self.session, PlanInvoice.plan_id, set(plan_ids)))
                .order_by(PlanInvoice.plan_id, PlanInvoice.position)
            ):
                out.setdefault(link.plan_id, []).append(link)
        return out

    def installments(self, plan_id: uuid.UUID, *, lock: bool = False) -> list[PlanInstallment]:
        q = (
            select(PlanInstallment)
            .where(PlanInstallment.plan_id == plan_id)
            .order_by(PlanInstallment.version, PlanInstallment.seq)
        )
        if lock:
            q = q.with_for_update().execution_options(populate_existing=True)
        return list(self.session.scalars(q))

    def events(self, plan_id: uuid.UUID) -> list[PlanEvent]:
        return list(
            self.session.scalars(
                select(PlanEvent).where(PlanEvent.plan_id == plan_id).order_by(PlanEvent.id)
            )
        )

    def attempts(self, plan_id: uuid.UUID) -> list[PlanChargeAttempt]:
        return list(
            self.session.scalars(
                select(PlanChargeAttempt)
                .where(PlanChargeAttempt.plan_id == plan_id)
                .order_by(PlanChargeAttempt.id)
            )
        )

    def attempt_for_payment(self, payment_id: uuid.UUID) -> PlanChargeAttempt | None:
        return self.session.scalar(
            select(PlanChargeAttempt).where(PlanChargeAttempt.payment_id == payment_id)
        )

    def charge_in_flight(self, plan_id: uuid.UUID) -> bool:
        return (
            self.session.scalar(
                select(PlanChargeAttempt.id)
                .where(PlanChargeAttempt.plan_id == plan_id, PlanChargeAttempt.status == "pending")
                .limit(1)
            )
            is not None
        )

    def invoices_in_plan(self, invoice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """invoice id -> the plan it is in, for those currently in an active plan."""
        if not invoice_ids:
            return {}
        rows = self.session.execute(
            select(PlanInvoice.invoice_id, PlanInvoice.plan_id).where(
                PlanInvoice.invoice_id.in_(invoice_ids), PlanInvoice.in_plan.is_(True)
            )
        )
        return {r.invoice_id: r.plan_id for r in rows}

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None,
        patient_id: uuid.UUID | None,
        practice_id: uuid.UUID | None,
        status: str | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> Sequence[PaymentPlan]:
        q = select(PaymentPlan).order_by(PaymentPlan.id.desc()).limit(limit)
        if practice_ids is not None:
            q = q.where(PaymentPlan.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(PaymentPlan.patient_id.in_(patient_ids))
        if patient_id is not None:
            q = q.where(PaymentPlan.patient_id == patient_id)
        if practice_id is not None:
            q = q.where(PaymentPlan.practice_id == practice_id)
        if status is not None:
            q = q.where(PaymentPlan.status == status)
        if before is not None:
            q = q.where(PaymentPlan.id < before)
        return self.session.scalars(q).all()

    def active_with_method(self, method_id: uuid.UUID) -> list[uuid.UUID]:
        return list(
            self.session.scalars(
                select(PaymentPlan.id).where(
                    PaymentPlan.method_id == method_id, PaymentPlan.status == "active"
                )
            )
        )

    # --- the worker's claims (docs/worker.md) ------------------------------------------------
    def claim_due(self, *, on: dt.date, limit: int) -> Sequence[Any]:
        """Due autopay installments of active plans with an active stored method, locked with
        ``FOR UPDATE OF plan_installments SKIP LOCKED`` on PostgreSQL: concurrent workers take
        disjoint batches. (SQLite ignores the clause; its single writer serialises claims.)
        Plain rows (installment ``id``, ``plan_id``, ``seq``, ``amount_minor``, ``paid_minor``,
        ``attempts``, ``currency``; the plan's ``practice_id``, ``patient_id``; the method's
        ``method_id``, ``kind``, ``token``), no ORM objects."""
        inst = PlanInstallment
        return self.session.execute(
            select(
                inst.id,
                inst.plan_id,
                inst.seq,
                inst.amount_minor,
                inst.paid_minor,
                inst.attempts,
                inst.currency,
                PaymentPlan.practice_id,
                PaymentPlan.patient_id,
                StoredPaymentMethod.id.label("method_id"),
                StoredPaymentMethod.kind,
                StoredPaymentMethod.token,
            )
            .join(PaymentPlan, PaymentPlan.id == inst.plan_id)
            .join(StoredPaymentMethod, StoredPaymentMethod.id == PaymentPlan.method_id)
            .where(
                inst.status == "scheduled",
                inst.next_attempt_on <= on,
                inst.version == PaymentPlan.version,
                PaymentPlan.status == "active",
                StoredPaymentMethod.status == "active",
                # not while an early payoff is being charged
                ~select(PlanChargeAttempt.id)
                .where(
                    PlanChargeAttempt.plan_id == PaymentPlan.id,
                    PlanChargeAttempt.status == "pending",
                    PlanChargeAttempt.purpose == "payoff",
                )
                .exists(),
            )
            .order_by(inst.next_attempt_on, inst.id)
            .limit(limit)
            .with_for_update(of=inst, skip_locked=True)
        ).all()

    def mark_processing(self, installment_ids: Sequence[uuid.UUID]) -> None:
        """Claimed installments (locked by :meth:`claim_due`): ``processing``, one attempt more."""
        self.session.execute(
            update(PlanInstallment)
            .where(bulk.among(self.session, PlanInstallment.id, installment_ids))
            .values(status="processing", attempts=PlanInstallment.attempts + 1)
            .execution_options(synchronize_session=False)
        )

    def insert_attempts(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(self.session, _ATTEMPTS, rows)

    def insert_events(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(self.session, _EVENTS, rows)

    # --- plain rows for a batch of autopay outcomes (locks held by lock_batch) ---------------
    def plan_rows(self, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows = self.session.execute(
            select(
                PaymentPlan.id,
                PaymentPlan.practice_id,
                PaymentPlan.patient_id,
                PaymentPlan.status,
                PaymentPlan.version,
                PaymentPlan.method_id,
            ).where(bulk.among(self.session, PaymentPlan.id, set(plan_ids)))
        )
        return {r.id: r for r in rows}

    def installment_rows(self, plan_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        """The plans' installments (every version) in (plan, version, seq) order."""
        return self.session.execute(
            select(
                PlanInstallment.id,
                PlanInstallment.plan_id,
                PlanInstallment.version,
                PlanInstallment.seq,
                PlanInstallment.amount_minor,
                PlanInstallment.paid_minor,
                PlanInstallment.status,
                PlanInstallment.next_attempt_on,
            )
            .where(bulk.among(self.session, PlanInstallment.plan_id, set(plan_ids)))
            .order_by(PlanInstallment.plan_id, PlanInstallment.version, PlanInstallment.seq)
        ).all()

    def attempt_statuses(self, attempt_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = self.session.execute(
            select(PlanChargeAttempt.id, PlanChargeAttempt.status).where(
                bulk.among(self.session, PlanChargeAttempt.id, set(attempt_ids))
            )
        )
        return {r.id: r.status for r in rows}

    def update_attempts(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.update_rows(self.session, _ATTEMPTS, "id", rows)

    def update_installments(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.update_rows(self.session, cast(Table, PlanInstallment.__table__), "id", rows)

    def end_plans(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each row: ``id``, ``status``, ``ended_at``; the plans' invoices leave the plan (as
        ``service._end``)."""
        if not rows:
            return
        bulk.update_rows(self.session, cast(Table, PaymentPlan.__table__), "id", rows)
        self.session.execute(
            update(PlanInvoice)
            .where(bulk.among(self.session, PlanInvoice.plan_id, [r["id"] for r in rows]))
            .values(in_plan=False)
            .execution_options(synchronize_session=False)
        )

    def invoice_links(self, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        """plan id -> its invoice ids in position order (plain ids, one query)."""
        out: dict[uuid.UUID, list[uuid.UUID]] = {}
        if plan_ids:
            for plan_id, invoice_id in self.session.execute(
                select(PlanInvoice.plan_id, PlanInvoice.invoice_id)
                .where(bulk.among(self.session, PlanInvoice.plan_id, set(plan_ids)))
                .order_by(PlanInvoice.plan_id, PlanInvoice.position)
            ):
                out.setdefault(plan_id, []).append(invoice_id)
        return out

    def claim_stale(self, *, started_before: dt.datetime, limit: int) -> list[PlanChargeAttempt]:
        """Charge attempts still pending after ``started_before`` (a crash or a gateway timeout
        between the claim and the outcome): the worker resumes them with the same key."""
        return list(
            self.session.scalars(
                select(PlanChargeAttempt)
                .where(
                    PlanChargeAttempt.status == "pending",
                    PlanChargeAttempt.created_at < started_before,
                )
                .order_by(PlanChargeAttempt.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )

    def bank_attempts_to_sync(self, *, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(attempt id, plan id) of bank-debit attempts whose payment moved on since the plan last
        looked: a ``processing`` attempt whose debit settled, failed or was returned, and a
        ``succeeded`` one whose settled debit was returned. Not locked: the caller locks the plan
        and re-checks (docs/payment-plans.md, "Autopay by bank debit")."""
        rows = self.session.execute(
            select(PlanChargeAttempt.id, PlanChargeAttempt.plan_id)
            .join(Payment, Payment.id == PlanChargeAttempt.payment_id)
            .where(
                Payment.method == "bank_transfer",
                (
                    (PlanChargeAttempt.status == "processing")
                    & Payment.status.in_(("succeeded", "returned", "failed"))
                )
                | ((PlanChargeAttempt.status == "succeeded") & (Payment.status == "returned")),
            )
            .order_by(PlanChargeAttempt.id)
            .limit(limit)
        ).all()
        return [(r[0], r[1]) for r in rows]

    def lock_batch(self, plan_ids: Sequence[uuid.UUID], payment_ids: Sequence[uuid.UUID]) -> None:
        """Take every lock a batch of autopay outcomes needs, class by class in the documented
        order -- plans, their installments, the payments, the patients, the plans' invoices --
        each in id order, before any of them is applied. Applying one outcome then re-locks
        rows it already holds, and the batch can deadlock with no one-plan transaction."""
        plans = sorted(set(plan_ids))
        self.session.execute(
            select(PaymentPlan.id)
            .where(bulk.among(self.session, PaymentPlan.id, plans))
            .order_by(PaymentPlan.id)
            .with_for_update()
        ).all()
        self.session.execute(
            select(PlanInstallment.id)
            .where(bulk.among(self.session, PlanInstallment.plan_id, plans))
            .order_by(PlanInstallment.plan_id, PlanInstallment.version, PlanInstallment.seq)
            .with_for_update()
        ).all()
        PaymentRepository(self.session).lock_many(sorted(set(payment_ids)))
        patients = self.session.scalars(
            select(PaymentPlan.patient_id).where(bulk.among(self.session, PaymentPlan.id, plans))
        ).all()
        PatientRepository(self.session).lock_many(sorted(set(patients)))
        invoices = self.session.scalars(
            select(PlanInvoice.invoice_id).where(
                bulk.among(self.session, PlanInvoice.plan_id, plans)
            )
        ).all()
        InvoiceRepository(self.session).lock_many(sorted(set(invoices)))

    def plans_with_overdue(self, *, due_before: dt.date, limit: int) -> list[uuid.UUID]:
        """Active plans with an installment unpaid past the grace period and no retry left."""
        return list(
            self.session.scalars(
                select(PaymentPlan.id)
                .join(PlanInstallment, PlanInstallment.plan_id == PaymentPlan.id)
                .where(
                    PaymentPlan.status == "active",
                    PlanInstallment.version == PaymentPlan.version,
                    PlanInstallment.status == "scheduled",
                    PlanInstallment.due_date < due_before,
                    PlanInstallment.next_attempt_on.is_(None),
                )
                .distinct()
                .limit(limit)
            )
        )
