"""Payers, plans, coverages and authorisations for tests (through the services)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session

from revcycle.authorizations import service as auth_service
from revcycle.authorizations.schemas import AuthorizationApprove, AuthorizationCreate
from revcycle.insurance import coverages, service
from revcycle.insurance.models import InsurancePlan, Payer
from revcycle.insurance.schemas import CoverageCreate, FeeScheduleCreate, PayerCreate, PlanCreate
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice
from tests.factories.practices import SYSTEM

_n = itertools.count(1)


def make_payer(session: Session, practice: Practice, **overrides: Any) -> Payer:
    values: dict[str, Any] = {
        "practice_id": practice.id,
        "name": "Lakeshore Health Plan",
        "edi_payer_id": f"LHP{next(_n):04d}",
        "timely_filing_days": 90,
        "appeal_deadline_days": 60,
    }
    values.update(overrides)
    return service.create_payer(session, SYSTEM, PayerCreate.model_validate(values))


def make_plan(
    session: Session,
    payer: Payer,
    *,
    rates: dict[str, str] | None = None,
    **overrides: Any,
) -> InsurancePlan:
    """A PPO: 500.00 deductible, 20% coinsurance, 25.00 office-visit copay, 3000.00 OOP max;
    ``rates`` maps "code" or "code-modifier" to an allowed amount from 2026-01-01."""
    values: dict[str, Any] = {
        "name": "Lakeshore PPO",
        "product_type": "ppo",
        "deductible": "500.00",
        "oop_max": "3000.00",
        "coinsurance_percent": "20",
        "copays": {"office_visit": "25.00"},
    }
    values.update(overrides)
    plan = service.create_plan(session, SYSTEM, payer.id, PlanCreate.model_validate(values))
    rows = []
    for key, allowed in (rates or {"99213": "100.00", "80053": "40.00"}).items():
        code, _, modifier = key.partition("-")
        rows.append(
            {
                "code": code,
                "modifier": modifier or None,
                "allowed": allowed,
                "effective_from": "2026-01-01",
            }
        )
    service.add_fee_rows(session, SYSTEM, plan.id, FeeScheduleCreate.model_validate({"rows": rows}))
    return plan


def make_coverage(
    session: Session,
    patient: Patient,
    plan: InsurancePlan,
    *,
    priority: int = 1,
    effective_from: dt.date = dt.date(2026, 1, 1),
    **overrides: Any,
) -> coverages.CoverageView:
    values: dict[str, Any] = {
        "plan_id": plan.id,
        "member_id": f"M{next(_n):08d}",
        "effective_from": effective_from,
        "priority": priority,
    }
    values.update(overrides)
    return coverages.create_coverage(
        session, SYSTEM, patient.id, CoverageCreate.model_validate(values)
    )


def make_authorization(
    session: Session,
    patient: Patient,
    payer: Payer,
    *,
    services: dict[str, int] | None = None,
    valid_from: dt.date = dt.date(2026, 1, 1),
    valid_to: dt.date = dt.date(2026, 12, 31),
    approve: bool = True,
) -> auth_service.AuthorizationView:
    view = auth_service.create_authorization(
        session,
        SYSTEM,
        AuthorizationCreate.model_validate(
            {
                "patient_id": patient.id,
                "payer_id": payer.id,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "services": [
                    {"code": c, "units": u} for c, u in (services or {"97110": 10}).items()
                ],
            }
        ),
    )
    if approve:
        view = auth_service.approve(
            session,
            SYSTEM,
            view.authorization.id,
            AuthorizationApprove(number=f"AUTH{next(_n):06d}"),
        )
    return view
