"""All SQL for refunds and their parts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.refunds.models import Refund, RefundPart

PENDING, PAID, FAILED = "pending", "paid", "failed"


class RefundRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, refund_id: uuid.UUID) -> Refund | None:
        return self.session.get(Refund, refund_id)

    def lock(self, refund_id: uuid.UUID) -> Refund | None:
        return self.session.scalar(
            select(Refund)
            .where(Refund.id == refund_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def by_gateway_key(self, key: str) -> Refund | None:
        return self.session.scalar(select(Refund).where(Refund.gateway_idempotency_key == key))

    def by_gateway_refund_id(self, gateway_refund_id: str) -> Refund | None:
        return self.session.scalar(
            select(Refund).where(Refund.gateway_refund_id == gateway_refund_id)
        )

    def by_approval(self, approval_request_id: uuid.UUID) -> Refund | None:
        return self.session.scalar(
            select(Refund).where(Refund.approval_request_id == approval_request_id)
        )

    def pending_card(self, *, created_before: dt.datetime, limit: int) -> Sequence[Refund]:
        return self.session.scalars(
            select(Refund)
            .where(
                Refund.status == PENDING,
                Refund.gateway_idempotency_key.is_not(None),
                Refund.created_at < created_before,
            )
            .order_by(Refund.id)
            .limit(limit)
        ).all()

    def for_payment(self, payment_id: uuid.UUID) -> Sequence[Refund]:
        return self.session.scalars(
            select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.id)
        ).all()

    def parts(self, refund_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RefundPart]]:
        out: dict[uuid.UUID, list[RefundPart]] = {rid: [] for rid in refund_ids}
        if not refund_ids:
            return out
        for part in self.session.scalars(
            select(RefundPart)
            .where(RefundPart.refund_id.in_(refund_ids))
            .order_by(RefundPart.refund_id, RefundPart.position)
        ):
            out[part.refund_id].append(part)
        return out

    def refunded_by_source(self, payment_id: uuid.UUID) -> dict[uuid.UUID | None, int]:
        """What earlier refunds of the payment took back, per source (None = patient credit)."""
        rows = self.session.execute(
            select(RefundPart.invoice_id, func.sum(RefundPart.amount_minor))
            .join(Refund, Refund.id == RefundPart.refund_id)
            .where(RefundPart.payment_id == payment_id, Refund.status != FAILED)
            .group_by(RefundPart.invoice_id)
        ).all()
        return {invoice_id: int(total) for invoice_id, total in rows}
