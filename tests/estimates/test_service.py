"""Stored estimates on both databases: inputs gathered from the plan, fee schedule, accumulators
and charge master; exact values; refusals write nothing; patients read their own."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from revcycle.errors import DomainError
from revcycle.estimates import service
from revcycle.estimates.schemas import EstimateCreate, EstimateSettingsUpdate
from revcycle.insurance import coverages
from revcycle.insurance.schemas import AccumulatorCreate
from revcycle.kit.clock import today
from tests.factories.auth import make_user, principal
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_service_item


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    make_service_item(session, practice, code="99213", price="150.00")
    make_service_item(session, practice, code="80053", price="60.00")
    payer = make_payer(session, practice)
    plan = make_plan(session, payer, rates={"99213": "100.00", "80053": "40.00"})
    patient = make_patient(session, practice)
    return {"practice": practice, "plan": plan, "patient": patient, "payer": payer}


def create(session: Session, w: dict[str, Any], actor: Any = SYSTEM, **kw: Any) -> Any:
    body = {
        "patient_id": w["patient"].id,
        "service_date": "2026-03-02",
        "lines": [{"code": "99213"}, {"code": "80053", "units": 2}],
        **kw,
    }
    return service.create_estimate(session, actor, EstimateCreate.model_validate(body))


def count(session: Session) -> tuple[int, int]:
    session.flush()
    return (
        int(session.execute(text("select count(*) from estimates")).scalar_one()),
        int(session.execute(text("select count(*) from estimate_lines")).scalar_one()),
    )


def test_insurance_estimate_with_accumulators(session: Session, w: dict[str, Any]) -> None:
    cov = make_coverage(session, w["patient"], w["plan"])
    coverages.add_accumulator(
        session,
        SYSTEM,
        cov.coverage.id,
        AccumulatorCreate.model_validate(
            {"as_of": "2026-02-15", "deductible_met": "450.00", "oop_met": "450.00"}
        ),
    )
    e = create(session, w)
    # 99213: allowed 100, copay 25, deductible 50 (of 50 left), 20% of 25 = 5 -> patient 80
    # 80053 x2: allowed 80, deductible met, 20% = 16 -> patient 16
    assert (e.kind, e.allowed_minor, e.patient_minor, e.insurance_minor) == (
        "insurance",
        18000,
        9600,
        8400,
    )
    assert [
        (ln.code, ln.units, ln.category, ln.allowed_minor, ln.copay_minor, ln.deductible_minor)
        for ln in e.lines
    ] == [("99213", 1, "office_visit", 10000, 2500, 5000), ("80053", 2, "lab", 8000, 0, 0)]
    assert e.lines[1].reasoning[0] == "allowed 80.00 (fee schedule 80053, 40.00 x 2)"
    assert e.basis["deductible_met"] == "450.00"
    assert e.expires_on == today() + dt.timedelta(days=30)
    assert e.coverage_id == cov.coverage.id


def test_good_faith_for_self_pay(session: Session, w: dict[str, Any]) -> None:
    service.update_settings(
        session,
        SYSTEM,
        w["practice"].id,
        EstimateSettingsUpdate.model_validate(
            {"self_pay_discount_percent": "15", "valid_days": 60}
        ),
    )
    e = create(session, w)  # no coverage: good faith
    # 150.00 - 22.50 = 127.50; 120.00 - 18.00 = 102.00
    assert (e.kind, e.patient_minor, e.insurance_minor) == ("good_faith", 22950, 0)
    assert e.lines[0].reasoning == [
        "charge master 150.00 x 1 = 150.00",
        "self-pay discount 15%: -22.50",
        "patient 127.50",
    ]
    assert e.expires_on == today() + dt.timedelta(days=60)
    make_coverage(session, w["patient"], w["plan"])
    assert create(session, w, self_pay=True).kind == "good_faith"


def test_out_of_network_uses_charge_master(session: Session, w: dict[str, Any]) -> None:
    oon = make_plan(session, w["payer"], name="Out of network", in_network=False, copays={})
    make_coverage(session, w["patient"], oon)
    e = create(session, w, lines=[{"code": "99213"}])
    # allowed = charge 150.00, deductible 500 not met: all patient
    assert (e.allowed_minor, e.patient_minor, e.insurance_minor) == (15000, 15000, 0)
    assert e.lines[0].reasoning[0] == "allowed 150.00 (out of network: charge master 99213)"


def test_refusals_write_nothing(session: Session, w: dict[str, Any]) -> None:
    make_coverage(session, w["patient"], w["plan"])
    before = count(session)
    with pytest.raises(DomainError) as info, session.begin_nested():
        create(session, w, lines=[{"code": "99214"}])
    assert info.value.code == "estimate.no_allowed_amount"
    with pytest.raises(DomainError) as info, session.begin_nested():
        create(session, w, self_pay=True, lines=[{"code": "99214"}])
    assert info.value.code == "estimate.no_price"
    assert count(session) == before


def test_patients_read_their_own(session: Session, w: dict[str, Any]) -> None:
    mine = create(session, w)
    other = make_patient(session, w["practice"], first_name="Other")
    theirs = create(session, {**w, "patient": other})
    me = principal(session, make_user(session, "patient", patient=w["patient"]))
    assert service.get_estimate(session, me, mine.id).id == mine.id
    with pytest.raises(DomainError) as info:
        service.get_estimate(session, me, theirs.id)
    assert (info.value.status, info.value.code) == (404, "estimate.not_found")
    page = service.list_estimates(
        session, me, practice_id=None, patient_id=None, cursor=None, limit=50
    )
    assert [e.id for e in page.items] == [mine.id]
    with pytest.raises(DomainError) as info:
        create(session, w, actor=me)
    assert info.value.status == 403
