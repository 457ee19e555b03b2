"""Payers, plans and coverages for eligibility tests, written directly (the insurance domain's
own services are exercised in its tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.insurance.models import (
    Coverage,
    CoverageAccumulator,
    CoveragePriority,
    InsurancePlan,
    Payer,
)
from revcycle.patients.models import Patient

PLAN_DEFAULTS: dict[str, Any] = {
    "name": "Choice Plus PPO",
    "product_type": "ppo",
    "network": "Choice Plus",
    "in_network": True,
    "currency": "USD",
    "deductible_minor": 150_000,
    "family_deductible_minor": 300_000,
    "oop_max_minor": 600_000,
    "family_oop_max_minor": 1_200_000,
    "coinsurance_bp": 2000,
    "copays": {"office_visit": 2500, "specialist": 5000, "lab": 0},
    "cost_share_order": "copay_then_deductible",
    "benefit_year_start_month": 1,
    "auth_required_codes": ["70553"],
}


def make_payer(session: Session, patient: Patient, **kw: Any) -> Payer:
    values: dict[str, Any] = {
        "practice_id": patient.practice_id,
        "name": "Acme Health",
        "edi_payer_id": "60054",
        "timely_filing_days": 90,
        "appeal_deadline_days": 180,
    }
    values.update(kw)
    found = session.scalar(
        select(Payer).where(
            Payer.practice_id == values["practice_id"],
            Payer.edi_payer_id == values["edi_payer_id"],
        )
    )
    if found is not None:
        return found
    payer = Payer(**values)
    session.add(payer)
    session.flush()
    return payer


def make_plan(session: Session, payer: Payer, **kw: Any) -> InsurancePlan:
    values = {**PLAN_DEFAULTS, "practice_id": payer.practice_id, "payer_id": payer.id, **kw}
    plan = InsurancePlan(**values)
    session.add(plan)
    session.flush()
    return plan


def make_coverage(
    session: Session,
    patient: Patient,
    *,
    member_id: str = "W123456789",
    plan: InsurancePlan | None = None,
    payer: Payer | None = None,
    deductible_met_minor: int | None = None,
    oop_met_minor: int = 0,
    **kw: Any,
) -> Coverage:
    if plan is None:
        payer = payer or make_payer(session, patient)
        plan = make_plan(session, payer)
    values: dict[str, Any] = {
        "practice_id": patient.practice_id,
        "patient_id": patient.id,
        "payer_id": plan.payer_id,
        "plan_id": plan.id,
        "member_id": member_id,
        "group_number": "GRP100",
        "relationship": "18",
        "effective_from": dt.date(2025, 1, 1),
    }
    values.update(kw)
    cov = Coverage(**values)
    session.add(cov)
    session.flush()
    session.add(CoveragePriority(coverage_id=cov.id, priority=1, effective_from=cov.effective_from))
    if deductible_met_minor is not None:
        session.add(
            CoverageAccumulator(
                coverage_id=cov.id,
                benefit_year_start=dt.date(2026, 1, 1),
                as_of=dt.date(2026, 3, 1),
                currency="USD",
                deductible_met_minor=deductible_met_minor,
                oop_met_minor=oop_met_minor,
            )
        )
    session.flush()
    return cov
