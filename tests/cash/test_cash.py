"""The cash drawer end to end: what it expects, the exact over/short and its posting, bank
deposits (1000 -> 1020), the daily report reconciled to the ledger, refusals that write nothing,
and a drawer closed by 20 concurrent requests closed once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.cash import calc, service
from revcycle.cash.models import CashDrawer
from revcycle.cash.schemas import DepositCreate, DrawerClose, DrawerOpen
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.kit.clock import today
from revcycle.ledger.chart import AccountCode
from revcycle.payments import service as payments_service
from revcycle.payments.schemas import PaymentCreate
from revcycle.receipts.models import Receipt
from tests.factories.auth import make_user, principal
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.invoices.helpers import World, assert_problem, snapshot
from tests.refunds.helpers import refund

KEY = "k"


def balance(session: Session, practice_id: Any, code: AccountCode) -> int:
    session.flush()
    return int(
        session.execute(
            text(
                "select coalesce(sum(p.amount_minor), 0) from postings p join accounts a "
                "on a.id = p.account_id where a.practice_id = :p and a.code = :c"
            ),
            {
                "p": str(practice_id)
                if session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]
                else practice_id.hex,
                "c": code.value,
            },
        ).scalar_one()
    )


def take(
    session: Session, actor: Any, patient: Any, amount: str, method: str = "cash", **kw: Any
) -> Any:
    body = {"patient_id": patient.id, "amount": amount, "method": method, **kw}
    return payments_service.record_payment(session, actor, PaymentCreate.model_validate(body))


def open_(
    session: Session, actor: Any, practice: Any, float_: str = "100.00"
) -> service.DrawerView:
    return service.open_drawer(
        session,
        actor,
        practice.id,
        DrawerOpen(location="Front desk 1", opening_float=float_),  # type: ignore[arg-type]
        idempotency_key=KEY,
    )


def close(session: Session, actor: Any, drawer_id: Any, **body: Any) -> service.DrawerView:
    return service.close_drawer(
        session, actor, drawer_id, DrawerClose.model_validate(body), idempotency_key=KEY
    )


def test_calc() -> None:
    exp = calc.expected([("cash", 5000), ("check", 3000), ("cash", -500)])
    assert exp == calc.Expected(4500, 3000)
    assert calc.denominations_total([(2000, 3), (25, 4)]) == 6100
    assert calc.over_short(10000, exp, calc.Count(14400, 3000)) == (-100, 0)
    assert calc.deposit_parts([(10000, calc.Count(14400, 3000)), (0, calc.Count(0, 100))]) == (
        4400,
        3100,
    )
    with pytest.raises(ValueError, match="cash and cheques"):
        calc.expected([("card", 1)])


@pytest.fixture
def desk(session: Session) -> dict[str, Any]:
    w = World.build(session)
    clerk = principal(session, w.staff)
    return {"w": w, "clerk": clerk}


def test_drawer_day_over_short_deposit_and_report(session: Session, desk: dict[str, Any]) -> None:
    w, clerk = desk["w"], desk["clerk"]
    drawer = open_(session, clerk, w.practice).drawer
    first = take(session, clerk, w.patient, "50.00").payment
    take(session, clerk, w.patient, "20.00")
    take(session, clerk, w.patient, "30.00", "check", reference="1001")
    take(session, clerk, w.patient, "7.00", "card")  # not a drawer's business
    refund(session, clerk, first.id, "5.00")  # paid out of the drawer in cash
    view = service.get_drawer(session, clerk, drawer.id)
    assert view.expected == calc.Expected(6500, 3000)

    # counted 164.00 (float included) by denomination: 1.00 short of 100 + 65
    closed = close(
        session,
        clerk,
        drawer.id,
        denominations=[{"value": "20.00", "count": 8}, {"value": "1.00", "count": 4}],
        note="one dollar missing",
    ).drawer
    assert (closed.status, closed.counted_cash_minor, closed.over_short_minor) == (
        "closed",
        16400,
        -100,
    )
    assert (closed.expected_cash_minor, closed.expected_checks_minor) == (6500, 3000)
    assert balance(session, w.practice.id, AccountCode.CASH_OVER_SHORT) == 100
    # 1000 now holds what the deposit will take: 164 - 100 float + 30 cheque
    assert balance(session, w.practice.id, AccountCode.CASH) == 9400

    dep = service.deposit(
        session,
        clerk,
        w.practice.id,
        DepositCreate(drawer_ids=[drawer.id], bank_reference="B-77"),
        idempotency_key=KEY,
    )
    assert (dep.deposit.cash_minor, dep.deposit.checks_minor, dep.deposit.total_minor) == (
        6400,
        3000,
        9400,
    )
    assert [(c.check_number, c.amount_minor) for c in dep.checks] == [("1001", 3000)]
    assert dep.checks[0].receipt_number is not None
    assert balance(session, w.practice.id, AccountCode.CASH) == 0
    assert balance(session, w.practice.id, AccountCode.BANK_OPERATING) == 9400

    report = service.daily_report(session, clerk, w.practice.id, today())
    assert report.reconciled
    cash_row = report.rows[(w.staff.id, "cash")]
    check_row = report.rows[(w.staff.id, "check")]
    assert (cash_row.taken, cash_row.refunded, cash_row.expected, cash_row.counted) == (
        7000,
        500,
        6500,
        6400,
    )
    assert (cash_row.over_short, cash_row.deposited, cash_row.undeposited) == (-100, 6400, 0)
    assert (check_row.taken, check_row.counted, check_row.deposited) == (3000, 3000, 3000)
    assert cash_row.outside_drawers == check_row.outside_drawers == 0
    assert report.totals == report.ledger
    assert (report.ledger.payments, report.ledger.refunds) == (10000, 500)
    assert (report.ledger.over_short, report.ledger.deposits, report.ledger.net) == (-100, 9400, 0)


def test_an_over_posts_to_income_side_and_payments_outside_a_drawer_are_reported(
    session: Session, desk: dict[str, Any]
) -> None:
    w, clerk = desk["w"], desk["clerk"]
    take(session, clerk, w.patient, "12.00")  # before the drawer opens: outside any drawer
    drawer = open_(session, clerk, w.practice, "0").drawer
    take(session, clerk, w.patient, "10.00")
    closed = close(session, clerk, drawer.id, counted_cash="10.50").drawer
    assert closed.over_short_minor == 50
    assert balance(session, w.practice.id, AccountCode.CASH_OVER_SHORT) == -50
    report = service.daily_report(session, clerk, w.practice.id, today())
    row = report.rows[(w.staff.id, "cash")]
    assert (row.taken, row.expected, row.counted, row.over_short) == (2200, 1000, 1050, 50)
    assert (row.undeposited, row.outside_drawers) == (1050, 1200)
    assert report.reconciled
    assert report.ledger.net == balance(session, w.practice.id, AccountCode.CASH) == 2250


def test_refusals_write_nothing(session: Session, desk: dict[str, Any]) -> None:
    w, clerk = desk["w"], desk["clerk"]
    drawer = open_(session, clerk, w.practice).drawer
    take(session, clerk, w.patient, "10.00")
    before = snapshot(session)

    def refused(code: str, fn: Any) -> None:
        with pytest.raises(DomainError) as exc, session.begin_nested():
            fn()
        assert exc.value.code == code
        assert snapshot(session) == before

    refused("cash.drawer_already_open", lambda: open_(session, clerk, w.practice))
    refused(
        "cash.drawer_not_closed",
        lambda: service.deposit(
            session,
            clerk,
            w.practice.id,
            DepositCreate(drawer_ids=[drawer.id]),
            idempotency_key=KEY,
        ),
    )
    refused(
        "cash.count_mismatch",
        lambda: close(
            session,
            clerk,
            drawer.id,
            counted_cash="110.00",
            denominations=[{"value": "100.00", "count": 1}],
        ),
    )
    refused("cash.count_required", lambda: close(session, clerk, drawer.id))
    refused(
        "cash.idempotency_key_required",
        lambda: service.close_drawer(
            session,
            clerk,
            drawer.id,
            DrawerClose(counted_cash="110.00"),
            idempotency_key=None,  # type: ignore[arg-type]
        ),
    )
    other = make_practice(session, name="Other")
    outsider = principal(session, make_user(session, "billing_staff", practices=[other]))
    specialist = principal(
        session, make_user(session, "insurance_specialist", practices=[w.practice])
    )
    before = snapshot(session)
    refused("cash.drawer_not_found", lambda: close(session, outsider, drawer.id, counted_cash="1"))
    refused("auth.forbidden", lambda: open_(session, specialist, w.practice))
    close(session, clerk, drawer.id, counted_cash="110.00")
    before = snapshot(session)
    refused("cash.drawer_closed", lambda: close(session, clerk, drawer.id, counted_cash="110.00"))
    service.deposit(
        session, clerk, w.practice.id, DepositCreate(drawer_ids=[drawer.id]), idempotency_key=KEY
    )
    before = snapshot(session)
    refused(
        "cash.drawer_already_deposited",
        lambda: service.deposit(
            session,
            clerk,
            w.practice.id,
            DepositCreate(drawer_ids=[drawer.id]),
            idempotency_key=KEY,
        ),
    )


def test_api_open_close_deposit_report_with_idempotent_retries(
    session: Session, client: TestClient, desk: dict[str, Any]
) -> None:
    w = desk["w"]
    session.commit()
    base = f"/api/v1/practices/{w.practice.id}/cash"
    r = client.post(
        f"{base}/drawers", json={"location": "Desk", "opening_float": "50.00"}, headers=w.headers
    )
    assert_problem(r, 428, "cash.idempotency_key_required")
    h = {**w.headers, "Idempotency-Key": "open-1"}
    r = client.post(
        f"{base}/drawers", json={"location": "Desk", "opening_float": "50.00"}, headers=h
    )
    assert r.status_code == 201, r.text
    drawer = r.json()
    again = client.post(
        f"{base}/drawers", json={"location": "Desk", "opening_float": "50.00"}, headers=h
    )
    assert (again.status_code, again.json()["id"]) == (201, drawer["id"])
    r = client.post(
        "/api/v1/payments",
        json={"patient_id": str(w.patient.id), "amount": "25.00", "method": "cash"},
        headers=w.headers,
    )
    assert r.status_code == 201
    h = {**w.headers, "Idempotency-Key": "close-1"}
    url = f"/api/v1/cash/drawers/{drawer['id']}/close"
    r = client.post(url, json={"counted_cash": "75.00"}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["over_short"], r.json()["expected_cash"], r.json()["status"]) == (
        "0.00",
        "75.00",
        "closed",
    )
    assert client.post(url, json={"counted_cash": "75.00"}, headers=h).json() == r.json()
    r = client.post(
        f"{base}/deposits",
        json={"drawer_ids": [drawer["id"]], "bank_reference": "Slip 9"},
        headers={**w.headers, "Idempotency-Key": "dep-1"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["cash"], r.json()["total"]) == ("25.00", "25.00")
    r = client.get(f"{base}/daily-report", params={"date": today().isoformat()}, headers=w.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["reconciled"] is True
    assert report["ledger"] == report["totals"]
    assert report["ledger"]["net"] == "0.00"
    assert [(x["method"], x["taken"], x["deposited"]) for x in report["rows"]] == [
        ("cash", "25.00", "25.00"),
        ("check", "0.00", "0.00"),
    ]
    r = client.get(f"{base}/drawers", params={"status": "closed"}, headers=w.headers)
    assert [d["id"] for d in r.json()["items"]] == [drawer["id"]]


@pytest.mark.committed
def test_a_drawer_closed_concurrently_closes_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        user = make_user(s, "billing_staff", practices=[practice])
        clerk = principal(s, user)
        drawer_id = open_(s, clerk, practice, "10.00").drawer.id
        take(s, clerk, patient, "5.00")
    n = 20
    barrier = threading.Barrier(n)

    def one(_: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                close(s, clerk, drawer_id, counted_cash="14.00")
            return "closed"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = sorted(pool.map(one, range(n)))
    assert results == ["cash.drawer_closed"] * (n - 1) + ["closed"]
    with unit_of_work(factory) as s:
        assert (
            s.scalar(select(CashDrawer.over_short_minor).where(CashDrawer.id == drawer_id)) == -100
        )
        entries = s.execute(
            text("select count(*) from journal_entries where kind = 'cash.over_short'")
        ).scalar_one()
        assert entries == 1
        assert s.scalar(select(func.count()).select_from(Receipt)) == 1
