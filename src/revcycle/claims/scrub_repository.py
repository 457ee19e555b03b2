"""All SQL of the scrubber: its configurable tables and the duplicate-claim look-up."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.claims.models import Claim, ClaimLine
from revcycle.claims.scrub_models import ClaimEditPair, ClaimUnitLimit
from revcycle.claims.states import LIVE


class ScrubRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- edit pairs ----------------------------------------------------------------------------
    def edit_pairs(self, practice_id: uuid.UUID) -> Sequence[ClaimEditPair]:
        return self.session.scalars(
            select(ClaimEditPair)
            .where(ClaimEditPair.practice_id == practice_id)
            .order_by(ClaimEditPair.column1_code, ClaimEditPair.column2_code)
        ).all()

    def edit_pair(self, pair_id: uuid.UUID) -> ClaimEditPair | None:
        return self.session.get(ClaimEditPair, pair_id)

    def find_edit_pair(
        self, practice_id: uuid.UUID, column1: str, column2: str
    ) -> ClaimEditPair | None:
        return self.session.scalar(
            select(ClaimEditPair).where(
                ClaimEditPair.practice_id == practice_id,
                ClaimEditPair.column1_code == column1,
                ClaimEditPair.column2_code == column2,
            )
        )

    # -- unit limits ---------------------------------------------------------------------------
    def unit_limits(self, practice_id: uuid.UUID) -> Sequence[ClaimUnitLimit]:
        return self.session.scalars(
            select(ClaimUnitLimit)
            .where(ClaimUnitLimit.practice_id == practice_id)
            .order_by(ClaimUnitLimit.code, ClaimUnitLimit.plan_id.is_not(None), ClaimUnitLimit.id)
        ).all()

    def unit_limit(self, limit_id: uuid.UUID) -> ClaimUnitLimit | None:
        return self.session.get(ClaimUnitLimit, limit_id)

    def find_unit_limit(
        self, practice_id: uuid.UUID, plan_id: uuid.UUID | None, code: str
    ) -> ClaimUnitLimit | None:
        q = select(ClaimUnitLimit).where(
            ClaimUnitLimit.practice_id == practice_id, ClaimUnitLimit.code == code
        )
        q = q.where(
            ClaimUnitLimit.plan_id.is_(None)
            if plan_id is None
            else ClaimUnitLimit.plan_id == plan_id
        )
        return self.session.scalar(q)

    def limits_for(self, practice_id: uuid.UUID, plan_id: uuid.UUID) -> dict[str, int]:
        """code -> max units per day for a claim to ``plan_id``: the plan's row wins over the
        practice-wide one."""
        out: dict[str, int] = {}
        rows = self.session.scalars(
            select(ClaimUnitLimit).where(
                ClaimUnitLimit.practice_id == practice_id,
                (ClaimUnitLimit.plan_id.is_(None)) | (ClaimUnitLimit.plan_id == plan_id),
            )
        ).all()
        for row in sorted(rows, key=lambda r: r.plan_id is not None):
            out[row.code] = row.max_units
        return out

    # -- duplicates ----------------------------------------------------------------------------
    def same_services(
        self,
        claim: Claim,
        services: Sequence[tuple[dt.date, str]],
    ) -> dict[tuple[dt.date, str], str]:
        """(date, procedure) of ``services`` that another live claim of the same patient and
        payer sequence already bills -> that claim's control number. Claims sharing this claim's
        control number (its original, replacements and voids) do not count."""
        if not services:
            return {}
        rows = self.session.execute(
            select(ClaimLine.service_date, ClaimLine.procedure, Claim.control_number)
            .join(Claim, Claim.id == ClaimLine.claim_id)
            .where(
                Claim.patient_id == claim.patient_id,
                Claim.id != claim.id,
                Claim.sequence == claim.sequence,
                Claim.status.in_(sorted(LIVE)),
                Claim.control_number != claim.control_number,
                ClaimLine.procedure.in_(sorted({code for _, code in services})),
                ClaimLine.service_date.in_(sorted({day for day, _ in services})),
            )
            .order_by(Claim.number)
        ).all()
        wanted = set(services)
        out: dict[tuple[dt.date, str], str] = {}
        for day, code, control in rows:
            if (day, code) in wanted:
                out.setdefault((day, code), control)
        return out
