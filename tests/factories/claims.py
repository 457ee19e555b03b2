"""A billable world (practice, payer, plan with rates, patient with primary coverage, issued
invoice) and claims built from it through the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from revcycle.claims import service
from revcycle.claims.schemas import ClaimCreate
from revcycle.insurance.coverages import CoverageView
from revcycle.insurance.models import InsurancePlan, Payer
from revcycle.invoices.models import Invoice
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice, Provider
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_provider

DOS = dt.date(2026, 1, 5)


@dataclass
class World:
    practice: Practice
    provider: Provider
    payer: Payer
    plan: InsurancePlan
    patient: Patient
    coverage: CoverageView
    invoice: Invoice


def make_world(
    session: Session,
    *,
    lines: list[dict[str, Any]] | None = None,
    rates: dict[str, str] | None = None,
    plan_overrides: dict[str, Any] | None = None,
    practice_overrides: dict[str, Any] | None = None,
    member_id: str | None = None,
    dos: dt.date = DOS,
) -> World:
    practice = make_practice(session, **(practice_overrides or {}))
    provider = make_provider(session, practice)
    payer = make_payer(session, practice)
    plan = make_plan(session, payer, rates=rates, **(plan_overrides or {}))
    patient = make_patient(session, practice)
    coverage = make_coverage(
        session, patient, plan, **({"member_id": member_id} if member_id else {})
    )
    invoice = make_invoice(
        session,
        patient,
        lines=lines
        or [
            line(
                "99213",
                "150.00",
                dos=dos,
                provider_id=provider.id,
                diagnosis_codes=["E11.9", "I10"],
            ),
            line("80053", "60.00", dos=dos, provider_id=provider.id, diagnosis_codes=["E11.9"]),
        ],
    )
    return World(practice, provider, payer, plan, patient, coverage, invoice)


def make_claim(session: Session, world: World, **overrides: Any) -> service.ClaimView:
    body: dict[str, Any] = {"invoice_id": world.invoice.id}
    body.update(overrides)
    return service.create_claim(session, SYSTEM, ClaimCreate.model_validate(body))
