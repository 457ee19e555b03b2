"""Prior authorisations: transitions, consumption by charges (invoice issue), holds, release on
void, warnings, and concurrent consumption."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.authorizations import calc, service
from revcycle.authorizations.models import AuthorizationService, AuthorizationUsage
from revcycle.authorizations.schemas import AuthorizationApprove, AuthorizationDecision
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices
from revcycle.invoices.schemas import InvoiceVoid
from tests.factories.insurance import make_authorization, make_coverage, make_payer, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

D = dt.date(2026, 1, 5)


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    practice = make_practice(session)
    payer = make_payer(session, practice)
    plan = make_plan(session, payer, auth_required_codes=["97110"])
    patient = make_patient(session, practice)
    make_coverage(session, patient, plan)
    return {"practice": practice, "payer": payer, "plan": plan, "patient": patient}


def consume(session: Session, w: dict[str, Any], ref: str, units: int = 1, **kw: Any) -> Any:
    return service.consume_for_charge(
        session,
        w["practice"].id,
        w["patient"].id,
        kw.get("code", "97110"),
        kw.get("day", D),
        units,
        charge_ref=ref,
    )


def test_transitions(session: Session, w: dict[str, Any]) -> None:
    view = make_authorization(session, w["patient"], w["payer"], approve=False)
    aid = view.authorization.id
    assert view.status_on(D) == "requested"
    denied = service.deny(session, SYSTEM, aid, AuthorizationDecision(reason="Not necessary"))
    assert (denied.authorization.status, denied.authorization.decision_reason) == (
        "denied",
        "Not necessary",
    )
    with pytest.raises(DomainError) as info:
        service.approve(session, SYSTEM, aid, AuthorizationApprove(number="X1"))
    assert info.value.code == "authorization.illegal_transition"
    approved = make_authorization(session, w["patient"], w["payer"])
    assert approved.status_on(dt.date(2026, 12, 31)) == "approved"
    assert approved.status_on(dt.date(2027, 1, 1)) == "expired"
    cancelled = service.cancel(
        session, SYSTEM, approved.authorization.id, AuthorizationDecision(reason="Duplicate")
    )
    assert cancelled.authorization.status == "cancelled"


def test_consumption_hold_reasons_and_idempotency(session: Session, w: dict[str, Any]) -> None:
    # no authorisation at all: the plan requires one for 97110 -> held (missing)
    assert consume(session, w, "c1").hold_reason == "missing"
    # 99213 needs none
    assert consume(session, w, "c2", code="99213").status == "not_required"
    auth = make_authorization(session, w["patient"], w["payer"], services={"97110": 3})
    aid = auth.authorization.id
    out = consume(session, w, "c3", units=2)
    assert (out.status, out.authorization_id) == ("consumed", aid)
    assert consume(session, w, "c3", units=2).usage_id == out.usage_id  # same charge: once
    assert consume(session, w, "c4", units=2).hold_reason == "exhausted"
    assert consume(session, w, "c5", units=1).status == "consumed"
    assert consume(session, w, "c6", day=dt.date(2027, 2, 1)).hold_reason == "expired"
    session.flush()
    used = session.scalar(
        select(AuthorizationService.units_used).where(AuthorizationService.authorization_id == aid)
    )
    assert used == 3
    query = select(AuthorizationUsage.charge_ref, AuthorizationUsage.status)
    statuses = {row[0]: row[1] for row in session.execute(query).all()}
    assert statuses == {
        "c1": "held",
        "c3": "consumed",
        "c4": "held",
        "c5": "consumed",
        "c6": "held",
    }
    assert service.is_held(session, "c4")
    assert not service.is_held(session, "c5")
    assert service.release_for_charge(session, "c3")
    assert not service.release_for_charge(session, "c3")
    session.flush()
    assert session.get(AuthorizationService, auth.services[0].id).units_used == 1  # type: ignore[union-attr]


def test_invoice_issue_consumes_and_void_releases(session: Session, w: dict[str, Any]) -> None:
    auth = make_authorization(session, w["patient"], w["payer"], services={"97110": 4})
    inv = make_invoice(
        session, w["patient"], lines=[line("97110", "50.00", units=3), line("99213", "90.00")]
    )
    session.flush()
    svc = auth.services[0]
    session.refresh(svc)
    assert svc.units_used == 3
    invoices.void_invoice(session, SYSTEM, inv.id, InvoiceVoid(reason="Entered twice"))
    session.flush()
    session.refresh(svc)
    assert svc.units_used == 0
    # without an authorisation left, a new charge is held but the invoice is still issued
    make_invoice(session, w["patient"], lines=[line("97110", "50.00", units=5)])
    session.flush()
    held = session.scalars(
        select(AuthorizationUsage).where(AuthorizationUsage.status == "held")
    ).all()
    assert [(u.code, u.units, u.hold_reason) for u in held] == [("97110", 5, "exhausted")]


def test_warnings_rules() -> None:
    on = dt.date(2026, 6, 1)
    assert calc.warnings("approved", dt.date(2026, 12, 31), [("97110", 10, 7)], on) == []
    assert [
        w.kind for w in calc.warnings("approved", dt.date(2026, 12, 31), [("A", 10, 8)], on)
    ] == ["near_exhaustion"]
    assert [
        w.kind for w in calc.warnings("approved", dt.date(2026, 6, 15), [("A", 10, 10)], on)
    ] == [
        "near_expiry",
        "exhausted",
    ]
    assert [w.message for w in calc.warnings("approved", dt.date(2026, 5, 31), [], on)] == [
        "expired on 2026-05-31"
    ]
    assert calc.warnings("requested", dt.date(2026, 6, 2), [("A", 1, 1)], on) == []


def test_warnings_listing(session: Session, w: dict[str, Any]) -> None:
    make_authorization(
        session, w["patient"], w["payer"], services={"97110": 5}, valid_to=dt.date(2026, 1, 10)
    )
    session.flush()
    got = service.list_warnings(session, SYSTEM, practice_id=w["practice"].id, on=D)
    assert [(x.warning.kind, x.warning.message) for x in got] == [
        ("near_expiry", "expires in 5 days (2026-01-10)")
    ]


def test_concurrent_charges_never_over_consume(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        payer = make_payer(s, practice)
        plan = make_plan(s, payer, auth_required_codes=["97110"])
        patient = make_patient(s, practice)
        make_coverage(s, patient, plan)
        make_authorization(s, patient, payer, services={"97110": 5})
    n = 12
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        with unit_of_work(factory) as s:
            out = service.consume_for_charge(
                s, practice.id, patient.id, "97110", D, 1, charge_ref=f"charge:{i}"
            )
        return out.hold_reason or out.status

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = sorted(pool.map(one, range(n)))
    assert results == ["consumed"] * 5 + ["exhausted"] * (n - 5)
    with unit_of_work(factory) as s:
        assert s.scalar(select(AuthorizationService.units_used)) == 5
        assert s.scalar(select(func.count()).select_from(AuthorizationUsage)) == n
