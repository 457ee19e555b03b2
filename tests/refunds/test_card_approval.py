"""Card refunds above the caller's limit go through an approval request; approving runs the refund
through the gateway in three phases, once, however often approve is retried or raced. And the
gateway's refusals and outages on refunds: stable codes, nothing applied, timeouts recoverable."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.app import create_app
from revcycle.approvals.models import ApprovalRequest
from revcycle.auth import service as auth_service
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.gateway.base import (
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    RefundResult,
)
from revcycle.gateway.testgw.models import TestgwRefund
from revcycle.gateway.testgw.service import TestGateway
from revcycle.integrity import service as integrity
from revcycle.ledger.models import JournalEntry
from revcycle.refunds.card import approval_key, recover_pending_refunds
from revcycle.refunds.models import Refund
from tests import conftest
from tests.factories.auth import make_user
from tests.gateway.helpers import APPROVED, tokenize
from tests.invoices.helpers import World, assert_problem, count, stored_status
from tests.payments.test_card import clearing_balance
from tests.refunds.helpers import full_snapshot


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"refund_limit_billing_staff": "100.00"})


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    admin = make_user(session, "admin", practices=[world.practice])
    token = auth_service.issue_token(session, admin, ttl_minutes=60, mfa=True).token
    world.extra["admin_mfa"] = {"Authorization": f"Bearer {token}"}
    session.commit()
    return world


def _pay(client: TestClient, w: World, invoice_id: uuid.UUID, amount: str) -> Any:
    token = tokenize(client, APPROVED)
    body = {
        "patient_id": str(w.patient.id),
        "amount": amount,
        "method": "card",
        "token": token,
        "allocations": [{"invoice_id": str(invoice_id), "amount": amount}],
    }
    r = client.post(
        "/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": f"p-{uuid.uuid4()}"}
    )
    assert r.status_code == 201, r.text
    return r.json()


def _refund(client: TestClient, w: World, payment_id: str, amount: str, key: str) -> Any:
    return client.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "reason": "Service not provided"},
        headers=w.headers | {"Idempotency-Key": key},
    )


def _approve(client: TestClient, w: World, request_id: str) -> httpx.Response:
    return client.post(
        f"/api/v1/approval-requests/{request_id}/approve", headers=w.extra["admin_mfa"]
    )


def _money_counts(session: Session) -> dict[str, int]:
    return {
        t: count(session, t)
        for t in ("refunds", "refund_parts", "journal_entries", "postings", "testgw_refunds")
    }


class Wrapped:
    """The test gateway with ``refund`` replaced."""

    def __init__(self, inner: TestGateway, refund: Any) -> None:
        self.inner, self.provider, self._refund = inner, inner.provider, refund

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        return self._refund(self.inner, charge_id, amount_minor, idempotency_key)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def refused(*_: Any) -> RefundResult:
    raise GatewayRefused("The charge is disputed", code="charge_disputed")


def unavailable(*_: Any) -> RefundResult:
    raise GatewayUnavailable()


def timeout_before(*_: Any) -> RefundResult:
    raise GatewayTimeout()  # the request never reached the gateway


def timeout_after(gw: TestGateway, charge_id: str, amount: int, key: str) -> RefundResult:
    gw.refund(charge_id, amount, key)
    raise GatewayTimeout()  # refunded, the answer lost


def test_over_limit_card_refund_is_approved_and_runs_through_the_gateway(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open", "250.00")
    session.commit()
    pay = _pay(client, w, inv.id, "250.00")
    before = _money_counts(session)
    r = _refund(client, w, pay["id"], "150.00", "rf-big")
    assert r.status_code == 202, r.text
    req = r.json()
    assert (req["status"], req["operation"], req["amount"], req["limit"]) == (
        "requested",
        "refund",
        "150.00",
        "100.00",
    )
    assert req["payload"] == {"amount": "150.00", "reason": "Service not provided"}
    assert _money_counts(session) == before  # nothing reserved, nothing at the gateway
    replay = _refund(client, w, pay["id"], "150.00", "rf-big")
    assert (replay.status_code, replay.json()) == (202, req)

    ok = _approve(client, w, req["id"])
    assert ok.status_code == 200, ok.text
    done = ok.json()
    assert (done["status"], done["failure_code"]) == ("executed", None)
    session.expire_all()
    refund = session.get(Refund, uuid.UUID(done["result_id"]))
    assert refund is not None
    assert (refund.status, refund.amount_minor, refund.approval_request_id) == (
        "paid",
        15000,
        uuid.UUID(req["id"]),
    )
    assert refund.gateway_idempotency_key == approval_key(uuid.UUID(req["id"]))
    gw = session.scalars(select(TestgwRefund)).one()
    assert (gw.amount_minor, gw.idempotency_key, gw.id) == (
        15000,
        refund.gateway_idempotency_key,
        refund.gateway_refund_id,
    )
    assert clearing_balance(session) == 10000
    assert stored_status(session, inv.id) == "partially_paid"
    # approving again: the request is decided; nothing more happens
    again = _approve(client, w, req["id"])
    assert_problem(again, 409, "approval.not_pending")
    assert count(session, "testgw_refunds") == 1
    assert count(session, "refunds") == 1
    assert integrity.run(session).violations == []


def test_refused_at_the_gateway_marks_refund_and_approval_failed(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "250.00")
    session.commit()
    pay = _pay(client, w, inv.id, "250.00")
    req = _refund(client, w, pay["id"], "150.00", "rf-x").json()
    entries = count(session, "journal_entries")
    client.app.state.gateway = Wrapped(TestGateway(factory), refused)  # type: ignore[attr-defined]
    r = _approve(client, w, req["id"])
    body = assert_problem(r, 409, "refund.gateway_refused")
    assert body["data"]["gateway_code"] == "charge_disputed"
    session.expire_all()
    approval = session.get(ApprovalRequest, uuid.UUID(req["id"]))
    refund = session.scalars(select(Refund)).one()
    assert approval is not None
    assert (approval.status, approval.failure_code, approval.result_id) == (
        "failed",
        "charge_disputed",
        refund.id,
    )
    assert (refund.status, refund.failure_code, refund.entry_id) == (
        "failed",
        "charge_disputed",
        None,
    )
    assert count(session, "journal_entries") == entries
    assert count(session, "testgw_refunds") == 0
    assert clearing_balance(session) == 25000
    assert stored_status(session, inv.id) == "paid"
    # the reservation is released: the whole payment is refundable again (by an admin, no limit)
    client.app.state.gateway = TestGateway(factory)  # type: ignore[attr-defined]
    again = client.post(
        f"/api/v1/payments/{pay['id']}/refunds",
        json={"amount": "250.00"},
        headers=w.extra["admin_mfa"] | {"Idempotency-Key": "rf-all"},
    )
    assert again.status_code == 201, again.text
    session.expire_all()
    assert integrity.run(session).violations == []


def test_approval_timeout_is_resumed_by_a_second_approve_once(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "250.00")
    session.commit()
    pay = _pay(client, w, inv.id, "250.00")
    req = _refund(client, w, pay["id"], "150.00", "rf-t").json()
    gw = TestGateway(factory)
    client.app.state.gateway = Wrapped(gw, timeout_after)  # type: ignore[attr-defined]
    r = _approve(client, w, req["id"])
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["result_id"]) == ("approved", None)
    session.expire_all()
    assert session.scalars(select(Refund.status)).all() == ["pending"]
    assert clearing_balance(session) == 25000
    client.app.state.gateway = gw  # type: ignore[attr-defined]
    resumed = _approve(client, w, req["id"])
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "executed"
    session.expire_all()
    assert session.scalars(select(TestgwRefund.amount_minor)).all() == [15000]
    assert session.scalars(select(Refund.status)).all() == ["paid"]
    assert clearing_balance(session) == 10000
    assert integrity.run(session).violations == []


def test_approval_timeout_resolved_by_recovery(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "250.00")
    session.commit()
    pay = _pay(client, w, inv.id, "250.00")
    req = _refund(client, w, pay["id"], "150.00", "rf-r").json()
    gw = TestGateway(factory)
    client.app.state.gateway = Wrapped(gw, timeout_before)  # type: ignore[attr-defined]
    assert _approve(client, w, req["id"]).status_code == 202
    assert count(session, "testgw_refunds") == 0
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {"paid": 1}
    session.expire_all()
    approval = session.get(ApprovalRequest, uuid.UUID(req["id"]))
    assert approval is not None
    assert approval.status == "executed"
    assert session.scalars(select(TestgwRefund.amount_minor)).all() == [15000]
    assert clearing_balance(session) == 10000
    assert integrity.run(session).violations == []


def test_approval_refused_when_no_longer_refundable_stays_requested(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open", "200.00")
    session.commit()
    pay = _pay(client, w, inv.id, "200.00")
    req = _refund(client, w, pay["id"], "150.00", "rf-a").json()
    small = _refund(client, w, pay["id"], "100.00", "rf-b")
    assert small.status_code == 201
    before = full_snapshot(session, inv.id)
    gw_before = count(session, "testgw_refunds")
    r = _approve(client, w, req["id"])
    assert_problem(r, 409, "refund.exceeds_refundable")
    session.expire_all()
    assert full_snapshot(session, inv.id) == before
    assert count(session, "testgw_refunds") == gw_before == 1


# --- the gateway refusing or unavailable on a direct refund --------------------------------


def test_direct_refund_refused_by_the_gateway(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "80.00")
    session.commit()
    pay = _pay(client, w, inv.id, "80.00")
    client.app.state.gateway = Wrapped(TestGateway(factory), refused)  # type: ignore[attr-defined]
    entries = count(session, "journal_entries")
    r = _refund(client, w, pay["id"], "30.00", "rf-ref")
    body = assert_problem(r, 409, "refund.gateway_refused")
    assert body["data"]["gateway_code"] == "charge_disputed"
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.status, refund.failure_code, refund.entry_id, refund.payout_entry_id) == (
        "failed",
        "charge_disputed",
        None,
        None,
    )
    assert body["data"]["refund_id"] == str(refund.id)
    assert count(session, "journal_entries") == entries
    assert clearing_balance(session) == 8000
    assert stored_status(session, inv.id) == "paid"
    # the same key replays the refusal; nothing more is tried
    replay = _refund(client, w, pay["id"], "30.00", "rf-ref")
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (409, "true")
    assert count(session, "refunds") == 1
    assert integrity.run(session).violations == []


def test_direct_refund_gateway_unavailable(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "80.00")
    session.commit()
    pay = _pay(client, w, inv.id, "80.00")
    client.app.state.gateway = Wrapped(TestGateway(factory), unavailable)  # type: ignore[attr-defined]
    entries = count(session, "journal_entries")
    r = _refund(client, w, pay["id"], "30.00", "rf-down")
    assert_problem(r, 503, "payment.gateway_unavailable")
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.status, refund.failure_code, refund.entry_id) == (
        "failed",
        "gateway_unavailable",
        None,
    )
    assert count(session, "journal_entries") == entries
    assert count(session, "testgw_refunds") == 0
    # with the gateway back, a new request refunds (the failed one reserved nothing)
    client.app.state.gateway = TestGateway(factory)  # type: ignore[attr-defined]
    ok = _refund(client, w, pay["id"], "80.00", "rf-up")
    assert ok.status_code == 201, ok.text
    session.expire_all()
    assert stored_status(session, inv.id) == "open"
    assert clearing_balance(session) == 0
    assert integrity.run(session).violations == []


def test_direct_refund_timeout_before_the_gateway_is_recovered_once(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "80.00")
    session.commit()
    pay = _pay(client, w, inv.id, "80.00")
    gw = TestGateway(factory)
    client.app.state.gateway = Wrapped(gw, timeout_before)  # type: ignore[attr-defined]
    r = _refund(client, w, pay["id"], "30.00", "rf-lost")
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["entry_id"], r.json()["gateway_refund_id"]) == (
        "pending",
        None,
        None,
    )
    assert count(session, "testgw_refunds") == 0
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {"paid": 1}
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {}
    session.expire_all()
    assert session.scalars(select(TestgwRefund.amount_minor)).all() == [3000]
    assert clearing_balance(session) == 5000
    assert stored_status(session, inv.id) == "partially_paid"
    assert integrity.run(session).violations == []


def test_recovery_marks_a_refused_pending_refund_failed(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "80.00")
    session.commit()
    pay = _pay(client, w, inv.id, "80.00")
    gw = TestGateway(factory)
    client.app.state.gateway = Wrapped(gw, timeout_before)  # type: ignore[attr-defined]
    assert _refund(client, w, pay["id"], "30.00", "rf-p").status_code == 202
    assert recover_pending_refunds(factory, Wrapped(gw, refused), older_than=dt.timedelta(0)) == {
        "failed": 1
    }
    assert (
        recover_pending_refunds(factory, Wrapped(gw, unavailable), older_than=dt.timedelta(0)) == {}
    )
    session.expire_all()
    assert session.scalars(select(Refund.failure_code)).all() == ["charge_disputed"]
    assert clearing_balance(session) == 8000


# --- concurrent approvals --------------------------------------------------------------------


@pytest.mark.committed
def test_concurrent_approvals_refund_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    settings = conftest.test_settings(url).model_copy(update={"refund_limit_billing_staff": "1.00"})
    app = create_app(settings, session_factory=factory)
    with unit_of_work(factory) as s:
        world = World.build(s)
        inv = world.invoice("open", "90.00")
        admins = [make_user(s, "admin", practices=[world.practice]) for _ in range(4)]
        s.flush()
        tokens = [auth_service.issue_token(s, a, ttl_minutes=60, mfa=True).token for a in admins]
    c = TestClient(app, raise_server_exceptions=False)
    pay = _pay(c, world, inv.id, "90.00")
    req = _refund(c, world, pay["id"], "60.00", "rf-burst").json()
    assert req["status"] == "requested"
    n = 20
    barrier = threading.Barrier(n)

    def fire(i: int) -> httpx.Response:
        client = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return client.post(
            f"/api/v1/approval-requests/{req['id']}/approve",
            headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
        )

    with ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(fire, range(n)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 409}, [r.text for r in responses]
    assert 200 in codes
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "approval.not_pending"
        else:
            assert r.json()["status"] == "executed"
    with unit_of_work(factory) as s:
        assert s.scalars(select(TestgwRefund.amount_minor)).all() == [6000]
        assert s.scalars(select(Refund.status)).all() == ["paid"]
        kinds = sorted(s.scalars(select(JournalEntry.kind)).all())
        assert kinds == ["invoice.issue", "payment", "refund", "refund.payout"]
        assert s.scalar(select(func.count()).select_from(ApprovalRequest)) == 1
        assert clearing_balance(s) == 3000
        report = integrity.run(s)
        assert report.ok, report.violations
