"""Payers, plans, fee schedules, coverages (COB) and accumulators on both databases."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.insurance import coverages, service
from revcycle.insurance.models import Coverage, CoveragePriority
from revcycle.insurance.schemas import (
    AccumulatorCreate,
    CoverageCreate,
    CoverageOrder,
    CoverageTerminate,
    FeeScheduleCreate,
)
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

TABLES = (
    "payers",
    "insurance_plans",
    "fee_schedule_rows",
    "coverages",
    "coverage_priorities",
    "coverage_accumulators",
)


def counts(session: Session) -> dict[str, int]:
    session.flush()
    audit.flush_pending(session)
    out = {t: int(session.execute(text(f"select count(*) from {t}")).scalar_one()) for t in TABLES}
    out["audit_events"] = int(
        session.execute(text("select count(*) from audit_events")).scalar_one()
    )
    return out


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    payer = make_payer(session, practice)
    plan = make_plan(session, payer, rates={"99213": "100.00", "99213-25": "90.00"})
    patient = make_patient(session, practice)
    return {"practice": practice, "payer": payer, "plan": plan, "patient": patient}


def refused(session: Session, code: str, fn: Any, *args: Any) -> None:
    """The call is refused with ``code`` and nothing is written."""
    before = counts(session)
    with pytest.raises(DomainError) as info, session.begin_nested():
        fn(*args)
    assert info.value.code == code
    assert counts(session) == before


def rows(*specs: tuple[str, str | None, str, str, str | None]) -> FeeScheduleCreate:
    return FeeScheduleCreate.model_validate(
        {
            "rows": [
                {"code": c, "modifier": m, "allowed": a, "effective_from": f, "effective_to": t}
                for c, m, a, f, t in specs
            ]
        }
    )


def test_fee_schedule_lookup_falls_back_from_modifier(session: Session, w: dict[str, Any]) -> None:
    plan = w["plan"]
    service.add_fee_rows(
        session, SYSTEM, plan.id, rows(("99213", None, "80.00", "2025-01-01", "2025-12-31"))
    )
    on = dt.date(2026, 3, 1)
    found = service.allowed_on(session, plan.id, "99213", "25", on)
    assert found is not None
    assert (found.row.allowed_minor, found.matched_modifier) == (9000, True)
    found = service.allowed_on(session, plan.id, "99213", "LT", on)
    assert found is not None
    assert (found.row.allowed_minor, found.matched_modifier) == (10000, False)
    found = service.allowed_on(session, plan.id, "99213", None, dt.date(2025, 6, 1))
    assert found is not None
    assert found.row.allowed_minor == 8000
    assert service.allowed_on(session, plan.id, "99213", None, dt.date(2024, 6, 1)) is None
    assert service.allowed_on(session, plan.id, "99214", None, on) is None


def test_overlapping_fee_rows_refused(session: Session, w: dict[str, Any]) -> None:
    plan = w["plan"]
    add = service.add_fee_rows
    # overlaps the stored open-ended 99213 row
    refused(
        session,
        "fee_schedule.overlapping_window",
        add,
        session,
        SYSTEM,
        plan.id,
        rows(
            ("80053", None, "40.00", "2026-01-01", None), ("99213", None, "1", "2026-06-01", None)
        ),
    )
    # two rows of one request overlapping each other
    refused(
        session,
        "fee_schedule.overlapping_window",
        add,
        session,
        SYSTEM,
        plan.id,
        rows(
            ("80053", None, "40.00", "2026-01-01", "2026-06-30"),
            ("80053", None, "41.00", "2026-06-30", None),
        ),
    )
    # adjacent windows and another modifier are fine
    added = add(
        session,
        SYSTEM,
        plan.id,
        rows(
            ("80053", None, "40.00", "2026-01-01", "2026-06-30"),
            ("80053", None, "41.00", "2026-07-01", None),
            ("99213", "LT", "95.00", "2026-01-01", None),
        ),
    )
    assert [(r.code, r.modifier, r.allowed_minor) for r in added] == [
        ("80053", "", 4000),
        ("80053", "", 4100),
        ("99213", "LT", 9500),
    ]


def test_a_new_contract_year_supersedes_open_ended_rates(
    session: Session, w: dict[str, Any]
) -> None:
    """The stored open-ended 99213 rate (100.00 from 2026-01-01) is ended the day before the new
    rate starts when asked to; another overlap in the same request still refuses it whole."""
    plan = w["plan"]
    new_year = rows(("99213", None, "104.00", "2027-01-01", None))
    refused(
        session,
        "fee_schedule.overlapping_window",
        service.add_fee_rows,
        session,
        SYSTEM,
        plan.id,
        FeeScheduleCreate.model_validate(
            {
                **new_year.model_dump(mode="json"),
                "rows": [
                    *new_year.model_dump(mode="json")["rows"],
                    {"code": "99213", "allowed": "1.00", "effective_from": "2027-06-01"},
                ],
                "supersede_open_rates": True,
            }
        ),
    )
    refused(
        session,
        "fee_schedule.overlapping_window",
        service.add_fee_rows,
        session,
        SYSTEM,
        plan.id,
        new_year,
    )
    superseding = new_year.model_copy(update={"supersede_open_rates": True})
    (added,) = service.add_fee_rows(session, SYSTEM, plan.id, superseding)
    assert (added.allowed_minor, added.effective_from, added.effective_to) == (
        10400,
        dt.date(2027, 1, 1),
        None,
    )
    old = service.allowed_on(session, plan.id, "99213", None, dt.date(2026, 12, 31))
    new = service.allowed_on(session, plan.id, "99213", None, dt.date(2027, 1, 1))
    assert old is not None
    assert new is not None
    assert (old.row.allowed_minor, old.row.effective_to) == (10000, dt.date(2026, 12, 31))
    assert new.row.allowed_minor == 10400
    audit.flush_pending(session)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "fee_schedule:add").order_by(AuditEvent.id)
    ).all()[-1]
    assert event.detail == {"rows": 1, "ended": "99213 to 2026-12-31"}


def test_coverage_member_id_and_subscriber_are_sealed(session: Session, w: dict[str, Any]) -> None:
    parent = make_patient(session, w["practice"], first_name="Pat", last_name="Parent")
    view = make_coverage(
        session,
        w["patient"],
        w["plan"],
        member_id="XQZ123456789",
        group_number="GRP-100",
        relationship="19",
        subscriber={
            "first_name": "Pat",
            "last_name": "Parent",
            "date_of_birth": "1970-02-03",
            "patient_id": str(parent.id),
        },
    )
    session.flush()
    raw = session.execute(
        text(
            "select member_id, member_id_bidx, subscriber_last_name, subscriber_date_of_birth "
            "from coverages where id = :id"
        ),
        {
            "id": view.coverage.id
            if session.bind.dialect.name == "postgresql"
            else view.coverage.id.hex
        },  # type: ignore[union-attr]
    ).one()
    assert raw.member_id.startswith("e1:test-a:")
    assert "XQZ123456789" not in raw.member_id
    assert raw.subscriber_last_name.startswith("e1:")
    assert "1970" not in raw.subscriber_date_of_birth
    session.expire_all()
    c = session.get(Coverage, view.coverage.id)
    assert c is not None
    assert (c.member_id, c.subscriber_last_name, c.subscriber_date_of_birth) == (
        "XQZ123456789",
        "Parent",
        dt.date(1970, 2, 3),
    )
    assert c.relationship == "19"


def test_subscriber_rules(session: Session, w: dict[str, Any]) -> None:
    def create(**kw: Any) -> Any:
        body = {"plan_id": w["plan"].id, "member_id": "A1", "effective_from": "2026-01-01", **kw}
        return coverages.create_coverage(
            session, SYSTEM, w["patient"].id, CoverageCreate.model_validate(body)
        )

    sub = {"first_name": "A", "last_name": "B", "date_of_birth": "1970-01-01"}
    refused(session, "coverage.subscriber_invalid", lambda: create(subscriber=sub))
    refused(session, "coverage.subscriber_invalid", lambda: create(relationship="01"))
    refused(
        session,
        "coverage.subscriber_invalid",
        lambda: create(relationship="01", subscriber={**sub, "patient_id": str(w["patient"].id)}),
    )


def _create(session: Session, w: dict[str, Any], **kw: Any) -> Any:
    body = {"plan_id": w["plan"].id, "member_id": "A1", "effective_from": "2026-01-01", **kw}
    return coverages.create_coverage(
        session, SYSTEM, w["patient"].id, CoverageCreate.model_validate(body)
    )


def test_cob_refuses_two_primaries_on_one_day(session: Session, w: dict[str, Any]) -> None:
    make_coverage(session, w["patient"], w["plan"], effective_to=dt.date(2026, 6, 30))
    refused(
        session,
        "coverage.priority_conflict",
        lambda: _create(session, w, effective_from="2026-06-30"),
    )
    # the day after the first one ends is fine, and a secondary overlapping it too
    second = _create(session, w, effective_from="2026-07-01")
    third = _create(session, w, priority=2)
    assert second.priority_on(dt.date(2026, 7, 1)) == 1
    assert third.priority_on(dt.date(2026, 3, 1)) == 2
    refused(session, "coverage.priority_conflict", lambda: _create(session, w, priority=2))


def test_coverage_order_swaps_with_dated_append_only_history(
    session: Session, w: dict[str, Any]
) -> None:
    a = make_coverage(session, w["patient"], w["plan"], priority=1)
    b = make_coverage(session, w["patient"], w["plan"], priority=2)
    order = CoverageOrder.model_validate(
        {
            "effective_from": "2026-05-01",
            "coverage_ids": [str(b.coverage.id), str(a.coverage.id)],
            "reason": "Spouse's employer plan became primary",
        }
    )
    out = coverages.set_order(session, SYSTEM, w["patient"].id, order)
    by_id = {v.coverage.id: v for v in out}
    assert by_id[a.coverage.id].priority_on(dt.date(2026, 4, 30)) == 1
    assert by_id[a.coverage.id].priority_on(dt.date(2026, 5, 1)) == 2
    assert by_id[b.coverage.id].priority_on(dt.date(2026, 5, 1)) == 1
    session.flush()
    history = session.execute(
        select(CoveragePriority.priority, CoveragePriority.effective_from)
        .where(CoveragePriority.coverage_id == a.coverage.id)
        .order_by(CoveragePriority.effective_from)
    ).all()
    assert [tuple(r) for r in history] == [(1, dt.date(2026, 1, 1)), (2, dt.date(2026, 5, 1))]
    # a change before the last recorded one would rewrite history: refused
    earlier = CoverageOrder.model_validate(
        {"effective_from": "2026-04-01", "coverage_ids": [str(a.coverage.id)]}
    )
    refused(
        session,
        "coverage.order_invalid",
        coverages.set_order,
        session,
        SYSTEM,
        w["patient"].id,
        earlier,
    )
    # ordering only one of two leaves both primary from that day: refused
    solo = CoverageOrder.model_validate(
        {"effective_from": "2026-06-01", "coverage_ids": [str(a.coverage.id)]}
    )
    refused(
        session,
        "coverage.priority_conflict",
        coverages.set_order,
        session,
        SYSTEM,
        w["patient"].id,
        solo,
    )


def test_terminate(session: Session, w: dict[str, Any]) -> None:
    view = make_coverage(session, w["patient"], w["plan"])
    cid = view.coverage.id
    refused(
        session,
        "coverage.termination_invalid",
        coverages.terminate_coverage,
        session,
        SYSTEM,
        cid,
        CoverageTerminate(effective_to=dt.date(2025, 12, 31), reason="x"),
    )
    out = coverages.terminate_coverage(
        session,
        SYSTEM,
        cid,
        CoverageTerminate(effective_to=dt.date(2026, 3, 31), reason="Left job"),
    )
    assert out.coverage.effective_to == dt.date(2026, 3, 31)
    assert out.priority_on(dt.date(2026, 4, 1)) is None
    refused(
        session,
        "coverage.already_terminated",
        coverages.terminate_coverage,
        session,
        SYSTEM,
        cid,
        CoverageTerminate(effective_to=dt.date(2026, 2, 1), reason="x"),
    )


def test_accumulators_by_benefit_year(session: Session, w: dict[str, Any]) -> None:
    view = make_coverage(session, w["patient"], w["plan"])
    acc = coverages.add_accumulator(
        session,
        SYSTEM,
        view.coverage.id,
        AccumulatorCreate.model_validate(
            {"as_of": "2026-01-20", "deductible_met": "125.50", "oop_met": "300.00"}
        ),
    )
    assert (acc.benefit_year_start, acc.deductible_met_minor, acc.oop_met_minor) == (
        dt.date(2026, 1, 1),
        12550,
        30000,
    )
    refused(
        session,
        "coverage.accumulator_invalid",
        coverages.add_accumulator,
        session,
        SYSTEM,
        view.coverage.id,
        AccumulatorCreate.model_validate(
            {"as_of": "2999-01-01", "deductible_met": "1", "oop_met": "1"}
        ),
    )


def test_patient_sees_only_own_coverages(session: Session, w: dict[str, Any]) -> None:
    from tests.factories.auth import make_user, principal

    mine = make_coverage(session, w["patient"], w["plan"])
    other = make_patient(session, w["practice"], first_name="Other")
    theirs = make_coverage(session, other, w["plan"])
    me = principal(session, make_user(session, "patient", patient=w["patient"]))
    assert coverages.get_coverage(session, me, mine.coverage.id).coverage.id == mine.coverage.id
    with pytest.raises(DomainError) as info:
        coverages.get_coverage(session, me, theirs.coverage.id)
    assert (info.value.status, info.value.code) == (404, "coverage.not_found")
    with pytest.raises(DomainError) as info:
        _create_as(session, me, w)
    assert info.value.status == 403


def _create_as(session: Session, actor: Any, w: dict[str, Any]) -> Any:
    return coverages.create_coverage(
        session,
        actor,
        w["patient"].id,
        CoverageCreate.model_validate(
            {"plan_id": w["plan"].id, "member_id": "Z", "effective_from": "2026-01-01"}
        ),
    )


def test_concurrent_primaries_one_wins(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        payer = make_payer(s, practice)
        plan = make_plan(s, payer)
        patient = make_patient(s, practice)
    n = 12
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                coverages.create_coverage(
                    s,
                    SYSTEM,
                    patient.id,
                    CoverageCreate.model_validate(
                        {"plan_id": plan.id, "member_id": f"M{i}", "effective_from": "2026-01-01"}
                    ),
                )
            return "created"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = sorted(pool.map(one, range(n)))
    assert results == ["coverage.priority_conflict"] * (n - 1) + ["created"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(Coverage)) == 1
        assert s.scalar(select(func.count()).select_from(CoveragePriority)) == 1
