"""Use-cases for estimates (docs/insurance.md, "Estimates").

``create_estimate`` gathers the inputs (the line's allowed amount from the plan's fee schedule,
or the charge master out of network and for self-pay; the plan's benefit parameters and the
latest accumulators of the benefit year), runs the pure maths in calc.py, and stores the result
with its reasoning and an expiry. Patients read their own estimates; every read is audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.eligibility import estimates as eligibility_estimates
from revcycle.errors import out_of_scope
from revcycle.estimates import calc, errors
from revcycle.estimates.models import Estimate, EstimateLine, EstimateSettings
from revcycle.estimates.repository import EstimateRepository
from revcycle.estimates.schemas import EstimateCreate, EstimateLineIn, EstimateSettingsUpdate
from revcycle.insurance import cob
from revcycle.insurance import coverages as coverages_service
from revcycle.insurance import service as insurance_service
from revcycle.insurance.models import CoverageAccumulator, InsurancePlan
from revcycle.insurance.repository import InsuranceRepository
from revcycle.insurance.schemas import bp_of
from revcycle.kit.clock import today, utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.upsert import insert_or_update
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.money import Money
from revcycle.patients import service as patients_service
from revcycle.practices import service as practices_service
from revcycle.practices.models import Practice
from revcycle.practices.repository import PracticeRepository

DEFAULT_VALID_DAYS = 30


# settings -----------------------------------------------------------------------------------------


def settings_of(session: Session, practice_id: uuid.UUID) -> EstimateSettings:
    found = EstimateRepository(session).settings(practice_id)
    return found or EstimateSettings(
        practice_id=practice_id, self_pay_discount_bp=0, valid_days=DEFAULT_VALID_DAYS
    )


def get_settings(session: Session, actor: Principal, practice_id: uuid.UUID) -> EstimateSettings:
    actor.require(Action.ESTIMATE_CREATE)
    practice = practices_service.get_practice(session, actor, practice_id)
    return settings_of(session, practice.id)


def update_settings(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: EstimateSettingsUpdate
) -> EstimateSettings:
    actor.require(Action.PRACTICE_UPDATE)
    practice = practices_service.get_practice(session, actor, practice_id)
    values = {
        "self_pay_discount_bp": bp_of(data.self_pay_discount_percent),
        "valid_days": data.valid_days,
        "updated_at": utcnow(),
    }
    session.execute(
        insert_or_update(
            session,
            EstimateSettings,
            {"practice_id": practice.id, **values},
            ["practice_id"],
            values,
        )
    )
    audit.record(
        session,
        actor,
        "estimate_settings:update",
        object_type="practice",
        object_id=practice.id,
        practice_id=practice.id,
        fields=["self_pay_discount_percent", "valid_days"],
    )
    stored = EstimateRepository(session).settings(practice.id, fresh=True)
    assert stored is not None
    return stored


# estimates ----------------------------------------------------------------------------------------


def _price(session: Session, practice: Practice, line: EstimateLineIn, on: dt.date) -> Money:
    repo = PracticeRepository(session)
    item = None
    if line.modifier:
        item = repo.price_on(practice.id, line.code, line.modifier, on)
    item = item or repo.price_on(practice.id, line.code, "", on)
    if item is None:
        raise errors.NoPrice(
            f"The charge master has no price for {line.code} on {on.isoformat()}",
            service_code=line.code,
        )
    return Money(item.price_minor, item.currency)


def benefits_for(plan: InsurancePlan, acc: CoverageAccumulator | None) -> calc.Benefits:
    """The plan's benefit parameters and what is met, as calc input (a 271 response can build
    the same structure)."""
    cur = plan.currency

    def m(minor: int | None) -> Money | None:
        return None if minor is None else Money(minor, cur)

    return calc.Benefits(
        currency=cur,
        deductible=Money(plan.deductible_minor, cur),
        deductible_met=Money(acc.deductible_met_minor if acc else 0, cur),
        coinsurance=Decimal(plan.coinsurance_bp) / 10000,
        copays={k: Money(v, cur) for k, v in plan.copays.items()},
        oop_max=m(plan.oop_max_minor),
        oop_met=Money(acc.oop_met_minor if acc else 0, cur),
        family_deductible=m(plan.family_deductible_minor),
        family_deductible_met=m(acc.family_deductible_met_minor if acc else None),
        family_oop_max=m(plan.family_oop_max_minor),
        family_oop_met=m(acc.family_oop_met_minor if acc else None),
        order=calc.CostShareOrder(plan.cost_share_order),
    )


def _basis(
    b: calc.Benefits, plan: InsurancePlan, acc: CoverageAccumulator | None
) -> dict[str, Any]:
    def f(m: Money | None) -> str | None:
        return None if m is None else m.format()

    return {
        "plan_id": str(plan.id),
        "in_network": plan.in_network,
        "order": b.order.value,
        "deductible": f(b.deductible),
        "deductible_met": f(b.deductible_met),
        "oop_max": f(b.oop_max),
        "oop_met": f(b.oop_met),
        "coinsurance_percent": str((b.coinsurance * 100).normalize()),
        "copays": {k: v.format() for k, v in sorted(b.copays.items())},
        "accumulator_as_of": acc.as_of.isoformat() if acc else None,
    }


def create_estimate(session: Session, actor: Principal, data: EstimateCreate) -> Estimate:
    patient = patients_service.access_patient(
        session, actor, data.patient_id, Action.ESTIMATE_CREATE
    )
    practice = PracticeRepository(session).get(patient.practice_id)
    assert practice is not None
    day = data.service_date
    coverage = None
    if data.coverage_id is not None:
        if data.self_pay:
            raise errors.InvalidEstimate("A self-pay estimate names no coverage")
        view = _coverage_of(session, patient.id, data.coverage_id)
        if view.priority_on(day) is None:
            raise errors.InvalidEstimate(
                f"The coverage is not in force on {day.isoformat()}", code="coverage.not_in_force"
            )
        coverage = view.coverage
    elif not data.self_pay:
        primary = coverages_service.coverage_on(session, patient.id, day)
        coverage = primary.coverage if primary else None
    settings = settings_of(session, practice.id)
    if coverage is None:
        result = calc.good_faith(
            [
                calc.SelfPayLine(ln.code, _price(session, practice, ln, day), ln.units, ln.modifier)
                for ln in data.lines
            ],
            Decimal(settings.self_pay_discount_bp) / 10000,
            practice.currency,
        )
        basis: dict[str, Any] = {
            "self_pay_discount_percent": str(Decimal(settings.self_pay_discount_bp) / 100)
        }
        kind = "good_faith"
    else:
        repo = InsuranceRepository(session)
        plan = repo.get_plan(coverage.plan_id)
        assert plan is not None
        year_start = cob.benefit_year_start(day, plan.benefit_year_start_month)
        acc = repo.latest_accumulator(coverage.id, year_start)
        benefits = benefits_for(plan, acc)
        # Eligibility hook (docs/eligibility.md): a fresh 271's benefits win over the plan's.
        benefits, checked = eligibility_estimates.with_eligibility(
            session, coverage.id, benefits, benefit_year_start=year_start
        )
        inputs = [_insured_line(session, practice, plan, ln, day) for ln in data.lines]
        result = calc.estimate(benefits, inputs)
        basis = _basis(benefits, plan, acc) | (checked or {})
        kind = "insurance"
    categories = [
        ln.category.value if ln.category else calc.category_of(ln.code) for ln in data.lines
    ]
    estimate = Estimate(
        practice_id=practice.id,
        patient_id=patient.id,
        coverage_id=coverage.id if coverage else None,
        kind=kind,
        service_date=day,
        currency=practice.currency,
        allowed_minor=result.allowed.amount_minor,
        insurance_minor=result.insurance.amount_minor,
        patient_minor=result.patient.amount_minor,
        basis=basis,
        expires_on=today() + dt.timedelta(days=settings.valid_days),
        created_by=actor.user_id,
    )
    session.add(estimate)
    session.flush()
    lines = [
        EstimateLine(
            estimate_id=estimate.id,
            position=i,
            code=r.code,
            modifier=r.modifier,
            units=r.units,
            category=categories[i - 1],
            allowed_minor=r.allowed.amount_minor,
            copay_minor=r.copay.amount_minor,
            deductible_minor=r.deductible.amount_minor,
            coinsurance_minor=r.coinsurance.amount_minor,
            insurance_minor=r.insurance.amount_minor,
            patient_minor=r.patient.amount_minor,
            reasoning=list(r.reasoning),
        )
        for i, r in enumerate(result.lines, start=1)
    ]
    session.add_all(lines)
    session.flush()
    set_committed_value(estimate, "lines", lines)
    audit.record(
        session,
        actor,
        "estimate:create",
        object_type="estimate",
        object_id=estimate.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
        detail={"patient_id": str(patient.id), "kind": kind},
    )
    return estimate


def _coverage_of(
    session: Session, patient_id: uuid.UUID, coverage_id: uuid.UUID
) -> coverages_service.CoverageView:
    for view in coverages_service.all_coverages(session, patient_id):
        if view.coverage.id == coverage_id:
            return view
    raise errors.InvalidEstimate(
        "The coverage is not one of this patient's", code="coverage.not_found"
    )


def _insured_line(
    session: Session, practice: Practice, plan: InsurancePlan, ln: EstimateLineIn, day: dt.date
) -> calc.LineInput:
    category = ln.category.value if ln.category else calc.category_of(ln.code)
    if plan.in_network:
        found = insurance_service.allowed_on(session, plan.id, ln.code, ln.modifier, day)
        if found is None:
            raise errors.NoAllowedAmount(
                f"The plan's fee schedule has no rate for {ln.code} on {day.isoformat()}",
                service_code=ln.code,
            )
        unit = Money(found.row.allowed_minor, found.row.currency)
        basis = f"fee schedule {ln.code}{'-' + found.row.modifier if found.row.modifier else ''}"
    else:
        unit = _price(session, practice, ln, day)
        basis = f"out of network: charge master {ln.code}"
    if ln.units > 1:
        basis += f", {unit.format()} x {ln.units}"
    return calc.LineInput(
        code=ln.code,
        allowed=unit * ln.units,
        category=category,
        modifier=ln.modifier,
        units=ln.units,
        basis=basis,
    )


def access_estimate(session: Session, actor: Principal, estimate_id: uuid.UUID) -> Estimate:
    actor.require(Action.ESTIMATE_READ)
    estimate = EstimateRepository(session).get(estimate_id)
    if estimate is None:
        raise errors.EstimateNotFound("No such estimate")
    if not actor.sees_patient(estimate.practice_id, estimate.patient_id):
        raise out_of_scope(errors.EstimateNotFound("No such estimate"), "estimate", estimate.id)
    return estimate


def get_estimate(session: Session, actor: Principal, estimate_id: uuid.UUID) -> Estimate:
    estimate = access_estimate(session, actor, estimate_id)
    audit.record_read(
        session,
        actor,
        "estimate:read",
        object_type="estimate",
        object_id=estimate.id,
        practice_id=estimate.practice_id,
    )
    return estimate


def list_estimates(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[Estimate]:
    actor.require(Action.ESTIMATE_READ)
    limit = min(limit, MAX_LIMIT)
    rows = EstimateRepository(session).search(
        practice_ids=None if actor.is_patient else actor.practice_ids,
        patient_ids=actor.patient_ids if actor.is_patient else None,
        practice_id=practice_id,
        patient_id=patient_id,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "estimate:list", ((e.practice_id, e.patient_id) for e in page.items)
    )
    return page
