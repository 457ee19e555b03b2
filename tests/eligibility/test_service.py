"""Eligibility checks end to end through the simulator: statuses, stored data, errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse.base import ClearinghouseTimeout, ClearinghouseUnavailable
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.eligibility import benefits as bn
from revcycle.eligibility import errors, service
from revcycle.eligibility.models import EligibilityCheck
from revcycle.errors import DomainError
from tests.factories.eligibility import make_coverage
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

DAY = dt.date(2026, 6, 1)


def _run(session: Session, member_id: str, **kw: object) -> EligibilityCheck:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    cov = make_coverage(session, patient, member_id=member_id, **kw)  # type: ignore[arg-type]
    return service.run_check_in(
        session, SimulatorClearinghouse(session=session), SYSTEM, service.CheckRequest(cov.id, DAY)
    )


def test_active_member_exact_facts(session: Session) -> None:
    check = _run(session, "W100", deductible_met_minor=35_025, oop_met_minor=120_000)
    assert check.status == "active"
    assert check.interchange_control_number == 1
    assert check.trace_number == "000000001"
    assert check.requested_by_name == "tests"
    assert check.x270.startswith("ISA*")
    assert "EQ*30~" in check.x270
    assert check.x271 is not None
    assert "TRN*2*000000001*" in check.x271
    f = bn.facts(service.summary_of(check) or {})
    assert f == bn.Facts(
        status="active",
        deductible=150_000,
        deductible_remaining=114_975,
        family_deductible=300_000,
        family_deductible_remaining=300_000,
        oop_max=600_000,
        oop_remaining=480_000,
        family_oop_max=1_200_000,
        family_oop_remaining=1_200_000,
        coinsurance=bn.Decimal("0.2"),
        copays={"5": 0, "98": 2500, "A0": 5000},
        auth_required_codes=("70553",),
    )


def test_raw_x12_and_benefits_are_sealed_at_rest(session: Session) -> None:
    check = _run(session, "W101")
    session.flush()
    row = session.execute(
        text("select x270, x271, summary from eligibility_checks where id = :i"),
        {"i": check.id.hex if session.get_bind().dialect.name == "sqlite" else check.id},
    ).one()
    for value in row:
        assert value.startswith("e1:")
        assert "ISA*" not in value
        assert "CASEY*" not in value


@pytest.mark.parametrize(
    ("member_id", "status", "aaa"),
    [
        ("W1XIN", "inactive", []),
        ("W1XTM", "inactive", []),
        ("W1X72", "rejected", ["72"]),
        ("W1X75", "rejected", ["75"]),
        ("W1X42", "rejected", ["42"]),
        ("W1XDM", "active", []),
    ],
)
def test_scenarios(session: Session, member_id: str, status: str, aaa: list[str]) -> None:
    check = _run(session, member_id)
    assert (check.status, check.aaa_reasons, check.error_code) == (status, aaa, None)
    summary = service.summary_of(check)
    assert summary is not None
    if member_id.endswith("XTM"):
        assert summary["plan_end"] == "2026-05-31"
    if member_id.endswith("XDM"):
        assert bn.facts(summary).deductible_remaining == 0


def test_truncated_271_is_an_error_naming_segment_and_position(session: Session) -> None:
    check = _run(session, "W1XBAD")
    assert check.status == "error"
    assert check.summary is None  # never a partial benefits write
    assert check.error_code == "x12.truncated"
    assert (check.error_segment, check.error_position) == ("EB", 28)
    assert check.error_message is not None
    assert "position 28" in check.error_message
    assert check.x271 is not None  # kept raw for troubleshooting


@pytest.mark.parametrize(
    "x271",
    ["", "garbage", "ISA*00*", "ISA*00*          *00*          *ZZ*A" + "~" * 3],
)
def test_interpret_never_raises(x271: str) -> None:
    out = service.interpret(x271, "000000001")
    assert out.status == "error"
    assert out.summary is None
    assert out.error_code


class _Failing:
    name = "failing"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def eligibility(self, x270: str, *, timeout_seconds: float) -> str:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (ClearinghouseTimeout("slow"), "clearinghouse.timeout", 504),
        (ClearinghouseUnavailable("down"), "clearinghouse.unavailable", 503),
    ],
)
def test_clearinghouse_failures_store_an_error_never_a_success(
    factory: sessionmaker[Session], session: Session, exc: Exception, code: str, status: int
) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    cov = make_coverage(session, patient, member_id="W300")
    session.commit()
    with pytest.raises(errors.ClearinghouseFailed) as info:
        service.run_check(
            factory,
            _Failing(exc),  # type: ignore[arg-type]
            SYSTEM,
            service.CheckRequest(cov.id, DAY),
        )
    assert (info.value.code, info.value.status) == (code, status)
    s = factory()
    (check,) = s.scalars(select(EligibilityCheck)).all()
    assert (check.status, check.error_code, check.summary, check.x271) == (
        "error",
        code,
        None,
        None,
    )
    s.close()


def test_refused_input_writes_nothing(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    cov = make_coverage(session, patient, member_id="W400")
    before = session.scalar(select(func.count()).select_from(EligibilityCheck))
    for types in (("ZZZ",), ("Q9",), ()):
        with pytest.raises(DomainError) as info:
            service.start_check(
                session,
                SYSTEM,
                coverage_id=cov.id,
                service_date=DAY,
                service_types=types,
                clearinghouse="simulator",
            )
        assert info.value.code == "eligibility.bad_service_type"
    assert session.scalar(select(func.count()).select_from(EligibilityCheck)) == before
    assert session.execute(text("select count(*) from eligibility_counters")).scalar_one() == 0


def test_control_numbers_count_up_per_practice(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    cov = make_coverage(session, patient, member_id="W500")
    sim = SimulatorClearinghouse(session=session)
    got = [
        service.run_check_in(session, sim, SYSTEM, service.CheckRequest(cov.id, DAY))
        for _ in range(3)
    ]
    assert [c.interchange_control_number for c in got] == [1, 2, 3]
    other = make_practice(session, name="Other")
    cov2 = make_coverage(session, make_patient(session, other), member_id="W501")
    c = service.run_check_in(session, sim, SYSTEM, service.CheckRequest(cov2.id, DAY))
    assert c.interchange_control_number == 1
    assert json.loads(got[0].summary or "{}")["status"] == "active"
