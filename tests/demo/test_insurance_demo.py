"""The demo's insurance part: payers, plans with fee schedules, coverages (self, dependants,
primary and secondary), authorisations in every status, estimates."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.authorizations import calc
from revcycle.authorizations.models import Authorization
from revcycle.demo import seed as demo
from revcycle.estimates.models import Estimate
from revcycle.insurance.models import (
    Coverage,
    CoverageAccumulator,
    CoveragePriority,
    FeeScheduleRow,
    InsurancePlan,
    Payer,
)
from revcycle.integrity import service as integrity
from tests.factories.auth import HASHER

PINNED = dt.date(2026, 6, 30)


def _n(session: Session, model: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def test_demo_insurance(session: Session) -> None:
    demo.seed(session, HASHER, patients=30, invoices=60, seed=42, today=PINNED)
    session.flush()
    assert (_n(session, Payer), _n(session, InsurancePlan)) == (3, 4)
    assert _n(session, FeeScheduleRow) == 3 * (len(demo.CHARGE_MASTER) + 1)
    relationships = Counter(session.scalars(select(Coverage.relationship)))
    assert relationships["18"] > 0
    assert relationships["19"] > 0  # dependants on a parent's plan
    assert relationships["01"] > 0  # a spouse's plan as secondary
    priorities = Counter(session.scalars(select(CoveragePriority.priority)))
    assert priorities[1] > 0
    assert priorities[2] > 0
    assert _n(session, CoverageAccumulator) > 0
    statuses = Counter(
        calc.effective_status(a.status, a.valid_to, PINNED)
        for a in session.scalars(select(Authorization))
    )
    assert set(statuses) == {"requested", "approved", "denied", "expired", "cancelled"}, statuses
    kinds = Counter(session.scalars(select(Estimate.kind)))
    # one self-pay adult in this seed; the fourth insurance estimate is the eligibility demo's
    assert kinds == {"insurance": 4, "good_faith": 1}
    assert integrity.run(session).ok
