"""All SQL for stored estimates and estimate settings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from revcycle.estimates.models import Estimate, EstimateSettings


class EstimateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, estimate_id: uuid.UUID) -> Estimate | None:
        return self.session.scalar(
            select(Estimate).where(Estimate.id == estimate_id).options(selectinload(Estimate.lines))
        )

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        patient_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Estimate]:
        q = (
            select(Estimate)
            .options(selectinload(Estimate.lines))
            .order_by(Estimate.id)
            .limit(limit)
        )
        if practice_ids is not None:
            q = q.where(Estimate.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(Estimate.patient_id.in_(patient_ids))
        if practice_id is not None:
            q = q.where(Estimate.practice_id == practice_id)
        if patient_id is not None:
            q = q.where(Estimate.patient_id == patient_id)
        if after is not None:
            q = q.where(Estimate.id > after)
        return self.session.scalars(q).all()

    def settings(self, practice_id: uuid.UUID, *, fresh: bool = False) -> EstimateSettings | None:
        """``fresh``: re-read the row over what the session holds (after an upsert)."""
        q = select(EstimateSettings).where(EstimateSettings.practice_id == practice_id)
        if fresh:
            q = q.execution_options(populate_existing=True)
        return self.session.scalar(q)
