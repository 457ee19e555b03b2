"""All SQL for stored payment methods."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.paymethods.models import StoredPaymentMethod


class PaymentMethodRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, method_id: uuid.UUID) -> StoredPaymentMethod | None:
        return self.session.get(StoredPaymentMethod, method_id)

    def get_for_update(self, method_id: uuid.UUID) -> StoredPaymentMethod | None:
        return self.session.scalar(
            select(StoredPaymentMethod)
            .where(StoredPaymentMethod.id == method_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def for_patient(
        self, patient_id: uuid.UUID, *, include_removed: bool
    ) -> Sequence[StoredPaymentMethod]:
        q = select(StoredPaymentMethod).where(StoredPaymentMethod.patient_id == patient_id)
        if not include_removed:
            q = q.where(StoredPaymentMethod.status == "active")
        return self.session.scalars(q.order_by(StoredPaymentMethod.id)).all()

    def many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredPaymentMethod]:
        if not ids:
            return {}
        rows = self.session.scalars(
            select(StoredPaymentMethod).where(StoredPaymentMethod.id.in_(ids))
        )
        return {m.id: m for m in rows}
