"""All SQL of eligibility checks, their counter and the re-verification claims."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from revcycle.eligibility.models import (
    PENDING,
    EligibilityCheck,
    EligibilityCounter,
)
from revcycle.insurance.models import Coverage, CoveragePriority
from revcycle.kit.upsert import insert_ignore


class EligibilityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def next_control_number(self, practice_id: uuid.UUID) -> int:
        """The practice's next ISA13: the counter row is created once, then incremented under its
        row lock (UPDATE ... RETURNING), so concurrent checks never share a number; the UNIQUE
        (practice, number) constraint on the checks backs it up."""
        insert_ignore(
            self.session,
            EligibilityCounter,
            {"practice_id": practice_id, "last_number": 0},
            ["practice_id"],
        )
        number = self.session.execute(
            update(EligibilityCounter)
            .where(EligibilityCounter.practice_id == practice_id)
            .values(last_number=EligibilityCounter.last_number + 1)
            .returning(EligibilityCounter.last_number)
        ).scalar_one()
        return int(number)

    def get(self, check_id: uuid.UUID) -> EligibilityCheck | None:
        return self.session.get(EligibilityCheck, check_id)

    def lock(self, check_id: uuid.UUID) -> EligibilityCheck | None:
        return self.session.scalar(
            select(EligibilityCheck)
            .where(EligibilityCheck.id == check_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def by_request_key(self, key: str) -> EligibilityCheck | None:
        return self.session.scalar(
            select(EligibilityCheck).where(EligibilityCheck.request_key == key)
        )

    def for_patient(
        self, patient_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> Sequence[EligibilityCheck]:
        q = select(EligibilityCheck).where(EligibilityCheck.patient_id == patient_id)
        if after is not None:
            q = q.where(EligibilityCheck.id < after)
        return self.session.scalars(q.order_by(EligibilityCheck.id.desc()).limit(limit)).all()

    def latest_completed(
        self, coverage_id: uuid.UUID, statuses: Sequence[str] | None = None
    ) -> EligibilityCheck | None:
        q = select(EligibilityCheck).where(
            EligibilityCheck.coverage_id == coverage_id, EligibilityCheck.status != PENDING
        )
        if statuses is not None:
            q = q.where(EligibilityCheck.status.in_(statuses))
        return self.session.scalars(
            q.order_by(EligibilityCheck.completed_at.desc(), EligibilityCheck.id.desc()).limit(1)
        ).first()

    def checked_since(self, coverage_id: uuid.UUID, since: dt.datetime) -> bool:
        n = self.session.scalar(
            select(func.count())
            .select_from(EligibilityCheck)
            .where(
                EligibilityCheck.coverage_id == coverage_id,
                EligibilityCheck.status.in_(("active", "inactive")),
                EligibilityCheck.completed_at >= since,
            )
        )
        return bool(n)

    def coverages_of(self, patient_id: uuid.UUID) -> Sequence[Coverage]:
        return self.session.scalars(
            select(Coverage).where(Coverage.patient_id == patient_id).order_by(Coverage.id)
        ).all()

    def primary_coverage(self, patient_id: uuid.UUID, day: dt.date) -> Coverage | None:
        """The coverage in force on ``day`` whose latest priority row (as of ``day``) is 1."""
        for cov in self.coverages_of(patient_id):
            if cov.effective_from > day or (
                cov.effective_to is not None and cov.effective_to < day
            ):
                continue
            prio = self.session.scalar(
                select(CoveragePriority.priority)
                .where(
                    CoveragePriority.coverage_id == cov.id,
                    CoveragePriority.effective_from <= day,
                )
                .order_by(CoveragePriority.effective_from.desc())
                .limit(1)
            )
            if prio == 1:
                return cov
        return None
