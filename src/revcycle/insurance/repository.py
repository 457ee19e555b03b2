"""All SQL for payers, plans, fee schedules, coverages and accumulators."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from revcycle.insurance.models import (
    Coverage,
    CoverageAccumulator,
    CoveragePriority,
    FeeScheduleRow,
    InsurancePlan,
    Payer,
)


class InsuranceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # payers and plans -------------------------------------------------------------------------
    def get_payer(self, payer_id: uuid.UUID) -> Payer | None:
        return self.session.get(Payer, payer_id)

    def payer_by_edi_id(self, practice_id: uuid.UUID, edi_payer_id: str) -> Payer | None:
        return self.session.scalar(
            select(Payer).where(
                Payer.practice_id == practice_id, Payer.edi_payer_id == edi_payer_id
            )
        )

    def list_payers(
        self,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Payer]:
        q = select(Payer).order_by(Payer.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Payer.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(Payer.practice_id == practice_id)
        if after is not None:
            q = q.where(Payer.id > after)
        return self.session.scalars(q).all()

    def get_plan(self, plan_id: uuid.UUID, *, for_update: bool = False) -> InsurancePlan | None:
        q = select(InsurancePlan).where(InsurancePlan.id == plan_id)
        return self.session.scalar(q.with_for_update() if for_update else q)

    def list_plans(
        self, payer_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> Sequence[InsurancePlan]:
        q = (
            select(InsurancePlan)
            .where(InsurancePlan.payer_id == payer_id)
            .order_by(InsurancePlan.id)
            .limit(limit)
        )
        if after is not None:
            q = q.where(InsurancePlan.id > after)
        return self.session.scalars(q).all()

    def plans_by_id(self, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, InsurancePlan]:
        if not plan_ids:
            return {}
        rows = self.session.scalars(select(InsurancePlan).where(InsurancePlan.id.in_(plan_ids)))
        return {p.id: p for p in rows}

    # fee schedules ---------------------------------------------------------------------------
    def fee_rows(
        self,
        plan_id: uuid.UUID,
        *,
        code: str | None = None,
        modifier: str | None = None,
        on: dt.date | None = None,
        after: uuid.UUID | None = None,
        limit: int | None = None,
    ) -> Sequence[FeeScheduleRow]:
        q = select(FeeScheduleRow).where(FeeScheduleRow.plan_id == plan_id)
        if code is not None:
            q = q.where(FeeScheduleRow.code == code)
        if modifier is not None:
            q = q.where(FeeScheduleRow.modifier == modifier)
        if on is not None:
            q = q.where(
                FeeScheduleRow.effective_from <= on,
                or_(FeeScheduleRow.effective_to.is_(None), FeeScheduleRow.effective_to >= on),
            )
        if after is not None:
            q = q.where(FeeScheduleRow.id > after)
        q = q.order_by(FeeScheduleRow.id)
        if limit is not None:
            q = q.limit(limit)
        return self.session.scalars(q).all()

    # coverages -------------------------------------------------------------------------------
    def get_coverage(self, coverage_id: uuid.UUID, *, for_update: bool = False) -> Coverage | None:
        q = select(Coverage).where(Coverage.id == coverage_id)
        return self.session.scalar(q.with_for_update() if for_update else q)

    def coverages_of(
        self, patient_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int | None = None
    ) -> Sequence[Coverage]:
        q = select(Coverage).where(Coverage.patient_id == patient_id).order_by(Coverage.id)
        if after is not None:
            q = q.where(Coverage.id > after)
        if limit is not None:
            q = q.limit(limit)
        return self.session.scalars(q).all()

    def priorities_of(
        self, coverage_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[CoveragePriority]]:
        out: dict[uuid.UUID, list[CoveragePriority]] = {c: [] for c in coverage_ids}
        if not coverage_ids:
            return out
        rows = self.session.scalars(
            select(CoveragePriority)
            .where(CoveragePriority.coverage_id.in_(coverage_ids))
            .order_by(CoveragePriority.effective_from, CoveragePriority.id)
        )
        for row in rows:
            out[row.coverage_id].append(row)
        return out

    def accumulators(self, coverage_id: uuid.UUID) -> Sequence[CoverageAccumulator]:
        return self.session.scalars(
            select(CoverageAccumulator)
            .where(CoverageAccumulator.coverage_id == coverage_id)
            .order_by(CoverageAccumulator.as_of, CoverageAccumulator.id)
        ).all()

    def latest_accumulator(
        self, coverage_id: uuid.UUID, benefit_year_start: dt.date
    ) -> CoverageAccumulator | None:
        return self.session.scalar(
            select(CoverageAccumulator)
            .where(
                CoverageAccumulator.coverage_id == coverage_id,
                CoverageAccumulator.benefit_year_start == benefit_year_start,
            )
            .order_by(CoverageAccumulator.as_of.desc(), CoverageAccumulator.id.desc())
            .limit(1)
        )
