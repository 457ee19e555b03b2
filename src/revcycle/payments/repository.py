"""All SQL for payments and their allocations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from revcycle.kit import bulk
from revcycle.payments.models import Payment, PaymentAllocation

_PAYMENTS = cast(Table, Payment.__table__)
_ALLOCATIONS = cast(Table, PaymentAllocation.__table__)


class PaymentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self.session.get(Payment, payment_id)

    def allocations(
        self, payment_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[PaymentAllocation]]:
        out: dict[uuid.UUID, list[PaymentAllocation]] = {pid: [] for pid in payment_ids}
        if not payment_ids:
            return out
        for a in self.session.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id.in_(payment_ids))
            .order_by(PaymentAllocation.position, PaymentAllocation.id)
        ):
            out[a.payment_id].append(a)
        return out

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None,
        patient_id: uuid.UUID | None,
        practice_id: uuid.UUID | None,
        received_from: dt.date | None = None,
        received_to: dt.date | None = None,
        before: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Payment]:
        q = select(Payment).order_by(Payment.id.desc()).limit(limit)
        if practice_ids is not None:
            q = q.where(Payment.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(Payment.patient_id.in_(patient_ids))
        if patient_id is not None:
            q = q.where(Payment.patient_id == patient_id)
        if practice_id is not None:
            q = q.where(Payment.practice_id == practice_id)
        if received_from is not None:
            q = q.where(Payment.received_on >= received_from)
        if received_to is not None:
            q = q.where(Payment.received_on <= received_to)
        if before is not None:
            q = q.where(Payment.id < before)
        return self.session.scalars(q).all()

    def get_for_update(self, payment_id: uuid.UUID) -> Payment | None:
        """Lock the payment row (refunds: lock order patient -> payment -> invoices); re-read."""
        return self.session.scalar(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    # --- gateway card payments (docs/payments.md) ----------------------------------------------
    def by_gateway_key(self, key: str, *, lock: bool = False) -> Payment | None:
        q = select(Payment).where(Payment.gateway_idempotency_key == key)
        if lock:
            q = q.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(q)

    def lock_gateway_payment(self, payment_id: uuid.UUID) -> Payment | None:
        """Lock a gateway payment's row to apply its outcome (lock order: payment -> patient ->
        invoices); re-read so a concurrent outcome is seen."""
        return self.session.scalar(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    # --- set-based writes for batches (autopay): plain rows, one statement per table ----------
    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(self.session, _PAYMENTS, rows)

    def insert_allocations(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(self.session, _ALLOCATIONS, rows)

    def update_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each row: ``id`` and the columns to set (the same columns in every row)."""
        bulk.update_rows(self.session, _PAYMENTS, "id", rows)

    def rows(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """id -> the payment as a plain row (locked by the caller)."""
        if not payment_ids:
            return {}
        return {
            r.id: r
            for r in self.session.execute(
                select(_PAYMENTS).where(bulk.among(self.session, _PAYMENTS.c.id, payment_ids))
            )
        }

    def lock_many(self, payment_ids: Sequence[uuid.UUID]) -> None:
        """Lock several payments in id order (a batch of autopay outcomes)."""
        if payment_ids:
            self.session.execute(
                select(Payment.id)
                .where(bulk.among(self.session, Payment.id, payment_ids))
                .order_by(Payment.id)
                .with_for_update()
            ).all()

    def by_charge_id(self, charge_id: str) -> Payment | None:
        return self.session.scalar(select(Payment).where(Payment.gateway_charge_id == charge_id))

    def pending_gateway(self, *, created_before: dt.datetime, limit: int) -> Sequence[Payment]:
        return self.session.scalars(
            select(Payment)
            .where(
                Payment.status.in_(("pending", "requires_action")),
                Payment.created_at < created_before,
            )
            .where(Payment.method != "bank_transfer")  # bank debits: bank_to_poll
            .order_by(Payment.created_at, Payment.id)
            .limit(limit)
        ).all()

    def bank_to_poll(
        self, *, created_before: dt.datetime, settled_after: dt.datetime, limit: int
    ) -> Sequence[Payment]:
        """Gateway bank payments to compare with the gateway: pending ones (timeouts, debits
        still processing) and settled ones still inside the return window."""
        return self.session.scalars(
            select(Payment)
            .where(Payment.method == "bank_transfer", Payment.gateway_provider.is_not(None))
            .where(
                ((Payment.status == "pending") & (Payment.created_at < created_before))
                | ((Payment.status == "succeeded") & (Payment.settled_at > settled_after))
            )
            .order_by(Payment.created_at, Payment.id)
            .limit(limit)
        ).all()
