"""A parsed 271 -> the facts -> the estimate calculator's Benefits (table-driven), and the
estimate creation path using a fresh check's numbers (the plan's when stale, absent or of
another benefit year)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.eligibility import benefits as bn
from revcycle.eligibility import service as elig
from revcycle.estimates import calc
from revcycle.estimates import service as estimates
from revcycle.estimates.schemas import EstimateCreate
from revcycle.kit.clock import utcnow
from revcycle.money import Money
from revcycle.x12.eligibility import parse_271
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_service_item
from tests.x12.test_eligibility import x271


def usd(minor: int) -> Money:
    return Money(minor, "USD")


# The plan's configured benefits and accumulators: every fact the 271 does not state.
PLAN = calc.Benefits(
    currency="USD",
    deductible=usd(150_000),
    deductible_met=usd(20_000),
    coinsurance=Decimal("0.3"),
    copays={"office_visit": usd(4_000), "lab": usd(1_000)},
    oop_max=usd(600_000),
    oop_met=usd(50_000),
    family_deductible=usd(300_000),
    family_deductible_met=usd(40_000),
    family_oop_max=None,
    family_oop_met=None,
    order=calc.CostShareOrder.DEDUCTIBLE_THEN_COPAY,
)


def benefits_of(*eb: str) -> calc.Benefits:
    result = parse_271(x271("EB*1**30", *eb))
    assert result.errors == []
    summary = bn.summarise(result.responses[0], "T1")
    return bn.to_benefits(bn.facts(summary), PLAN)


CASES: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
    ("nothing stated: the plan's", (), {}),
    (
        "deductible remaining from EB C 29",
        ("EB*C*IND*30***23*1500", "EB*C*IND*30***29*1149.75"),
        {"deductible": usd(150_000), "deductible_met": usd(35_025)},
    ),
    (
        "deductible minus met (EB C 24)",
        ("EB*C*IND*30***23*2000", "EB*C*IND*30***24*300"),
        {"deductible": usd(200_000), "deductible_met": usd(30_000)},
    ),
    (
        "remaining (29) wins over met (24)",
        ("EB*C*IND*30***23*2000", "EB*C*IND*30***24*300", "EB*C*IND*30***29*1000"),
        {"deductible": usd(200_000), "deductible_met": usd(100_000)},
    ),
    (
        "met above the deductible: nothing remains",
        ("EB*C*IND*30***23*500", "EB*C*IND*30***24*700"),
        {"deductible": usd(50_000), "deductible_met": usd(50_000)},
    ),
    (
        "a deductible without remaining or met: the plan's met",
        ("EB*C*IND*30***23*2000",),
        {"deductible": usd(200_000)},
    ),
    (
        "no coverage level is the individual",
        ("EB*C**30***23*1800", "EB*C**30***29*1800"),
        {"deductible": usd(180_000), "deductible_met": usd(0)},
    ),
    (
        "the family deductible does not touch the individual's",
        ("EB*C*FAM*30***23*3000", "EB*C*FAM*30***29*2500"),
        {"family_deductible": usd(300_000), "family_deductible_met": usd(50_000)},
    ),
    (
        "out-of-pocket remaining from EB G 29",
        ("EB*G*IND*30***23*6000", "EB*G*IND*30***29*4800"),
        {"oop_max": usd(600_000), "oop_met": usd(120_000)},
    ),
    (
        "out-of-pocket minus met (EB G 24)",
        ("EB*G*IND*30***23*7000", "EB*G*IND*30***24*250.50"),
        {"oop_max": usd(700_000), "oop_met": usd(25_050)},
    ),
    ("coinsurance from EB A EB08", ("EB*A*IND*30*****.2",), {"coinsurance": Decimal("0.2")}),
    (
        "coinsurance: service type 30 first",
        ("EB*A*IND*98*****.5", "EB*A*IND*30*****.15"),
        {"coinsurance": Decimal("0.15")},
    ),
    (
        "copays by service type replace the plan's",
        ("EB*B*IND*98***27*25", "EB*B*IND*A0***27*50"),
        {"copays": {"office_visit": usd(2_500), "specialist": usd(5_000)}},
    ),
    (
        "a copay row naming several service types",
        ("EB*B*IND*5^4***27*10",),
        {"copays": {"lab": usd(1_000), "imaging": usd(1_000)}},
    ),
    (
        "BY (physician visit) is an office visit",
        ("EB*B*IND*BY***27*30",),
        {"copays": {"office_visit": usd(3_000)}},
    ),
    (
        "copays only for service types without a category: the plan's",
        ("EB*B*IND*33***27*15",),
        {},
    ),
    ("out-of-network copays are not used", ("EB*B*IND*98***27*60*****N",), {}),
    (
        "in network (Y) preferred over out of network (N)",
        (
            "EB*C*IND*30***23*5000*****N",
            "EB*C*IND*30***29*5000*****N",
            "EB*C*IND*30***23*1500*****Y",
            "EB*C*IND*30***29*1000*****Y",
            "EB*A*IND*30*****.5****N",
            "EB*A*IND*30*****.2****Y",
            "EB*B*IND*98***27*75*****N",
            "EB*B*IND*98***27*20*****Y",
        ),
        {
            "deductible": usd(150_000),
            "deductible_met": usd(50_000),
            "coinsurance": Decimal("0.2"),
            "copays": {"office_visit": usd(2_000)},
        },
    ),
    (
        "W (not applicable) preferred over unspecified",
        ("EB*C*IND*30***23*1000", "EB*C*IND*30***23*1200*****W"),
        {"deductible": usd(120_000)},
    ),
    (
        "only out-of-network rows: used",
        ("EB*C*IND*30***23*5000*****N", "EB*C*IND*30***24*100*****N"),
        {"deductible": usd(500_000), "deductible_met": usd(10_000)},
    ),
]


@pytest.mark.parametrize(("eb", "changes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_271_benefits_to_estimate_benefits(eb: tuple[str, ...], changes: dict[str, Any]) -> None:
    assert benefits_of(*eb) == dataclasses.replace(PLAN, **changes)


def test_in_network_fact() -> None:
    def in_network(*eb: str) -> bool:
        summary = bn.summarise(parse_271(x271("EB*1**30", *eb)).responses[0], "T1")
        return bn.facts(summary).in_network

    assert in_network() is True
    assert in_network("EB*C*IND*30***23*500*****N") is False
    assert in_network("EB*C*IND*30***23*500*****N", "EB*A*IND*30*****.2****Y") is True


def test_another_currency_is_kept() -> None:
    plan = dataclasses.replace(PLAN, currency="CAD", copays={})
    f = bn.Facts(status="active", deductible=1_000, deductible_remaining=400)
    got = bn.to_benefits(f, plan)
    assert (got.deductible, got.deductible_met) == (Money(1_000, "CAD"), Money(600, "CAD"))


# the estimate creation path ------------------------------------------------------------------
DAY = "2026-03-02"


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    make_service_item(session, practice, code="99213", price="150.00")
    payer = make_payer(session, practice)
    plan = make_plan(session, payer, rates={"99213": "100.00"})
    patient = make_patient(session, practice)
    # The practice's books: nothing met yet. The payer (member id ending XDM): the deductible
    # is met in full.
    cov = make_coverage(session, patient, plan, member_id="M777XDM")
    return {"patient": patient, "coverage": cov.coverage}


def _check(session: Session, w: dict[str, Any], day: dt.date) -> elig.EligibilityCheck:
    return elig.run_check_in(
        session,
        SimulatorClearinghouse(session=session),
        SYSTEM,
        elig.CheckRequest(w["coverage"].id, day),
    )


def _estimate(session: Session, w: dict[str, Any]) -> Any:
    body = {"patient_id": w["patient"].id, "service_date": DAY, "lines": [{"code": "99213"}]}
    return estimates.create_estimate(session, SYSTEM, EstimateCreate.model_validate(body))


# 99213 allowed 100.00, copay 25.00 first. The plan: 75.00 goes to the 500.00 deductible (patient
# 100.00). The fresh 271: deductible met, 20% of 75.00 = 15.00 (patient 40.00).
PLAN_NUMBERS = (10_000, 0, "0.00")
CHECK_NUMBERS = (4_000, 6_000, "500.00")


def _numbers(e: Any) -> tuple[int, int, str]:
    return (e.patient_minor, e.insurance_minor, e.basis["deductible_met"])


def test_estimate_without_a_check_uses_the_plan(session: Session, w: dict[str, Any]) -> None:
    e = _estimate(session, w)
    assert _numbers(e) == PLAN_NUMBERS
    assert "eligibility_check_id" not in e.basis


def test_estimate_uses_the_fresh_check(session: Session, w: dict[str, Any]) -> None:
    check = _check(session, w, dt.date(2026, 3, 2))
    assert check.status == "active"
    e = _estimate(session, w)
    assert _numbers(e) == CHECK_NUMBERS
    assert e.basis["deductible"] == "500.00"
    assert e.basis["copays"] == {"office_visit": "25.00"}
    assert e.basis["eligibility_check_id"] == str(check.id)
    assert check.completed_at is not None
    assert e.basis["eligibility_checked_at"] == check.completed_at.isoformat()


def test_stale_check_falls_back_to_the_plan(session: Session, w: dict[str, Any]) -> None:
    check = _check(session, w, dt.date(2026, 3, 2))
    check.completed_at = utcnow() - dt.timedelta(days=elig.DEFAULT_STALE_DAYS, minutes=1)
    session.flush()
    e = _estimate(session, w)
    assert _numbers(e) == PLAN_NUMBERS
    assert "eligibility_check_id" not in e.basis
    check.completed_at = utcnow() - dt.timedelta(days=elig.DEFAULT_STALE_DAYS - 1)
    session.flush()
    assert _numbers(_estimate(session, w)) == CHECK_NUMBERS


def test_check_of_another_benefit_year_or_not_active_is_not_used(
    session: Session, w: dict[str, Any]
) -> None:
    assert _check(session, w, dt.date(2025, 12, 31)).status == "active"
    assert _numbers(_estimate(session, w)) == PLAN_NUMBERS
    w["coverage"].effective_to = dt.date(2026, 2, 28)  # the payer: terminated
    session.flush()
    assert _check(session, w, dt.date(2026, 3, 2)).status == "inactive"
    w["coverage"].effective_to = None
    session.flush()
    assert _numbers(_estimate(session, w)) == PLAN_NUMBERS
