"""charge.refunded webhooks resolve our pending refunds (before recovery does; once), a refund made
in the gateway's dashboard is kept as unmatched for staff; and the outbox's back-off, dead
events and claim."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.gateway.base import GatewayTimeout, RefundResult
from revcycle.gateway.models import GatewayEvent, GatewayUnmatchedRefund
from revcycle.gateway.testgw import delivery
from revcycle.gateway.testgw.models import TestgwCharge, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway, deliver_webhooks
from revcycle.integrity import service as integrity
from revcycle.kit.clock import utcnow
from revcycle.refunds.card import recover_pending_refunds
from revcycle.refunds.models import Refund
from tests.gateway.helpers import APPROVED, SECRET, WEBHOOK, tokenize
from tests.invoices.helpers import World, count
from tests.payments.test_card import clearing_balance


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    world.extra["invoice"] = world.invoice("open", "100.00")
    session.commit()
    return world


def _pay(client: TestClient, w: World) -> Any:
    body = {
        "patient_id": str(w.patient.id),
        "amount": "100.00",
        "method": "card",
        "token": tokenize(client, APPROVED),
        "allocations": [{"invoice_id": str(w.extra["invoice"].id), "amount": "100.00"}],
    }
    r = client.post("/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": "p1"})
    assert r.status_code == 201, r.text
    return r.json()


def _send(client: TestClient) -> Any:
    def send(body: bytes, headers: dict[str, str]) -> int:
        return client.post(WEBHOOK, content=body, headers=headers).status_code

    return send


class LostAnswer:
    def __init__(self, inner: TestGateway) -> None:
        self.inner, self.provider = inner, inner.provider

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        self.inner.refund(charge_id, amount_minor, idempotency_key)
        raise GatewayTimeout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_refund_event_resolves_the_pending_refund_before_recovery(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    pay = _pay(client, w)
    gw = TestGateway(factory)
    client.app.state.gateway = LostAnswer(gw)  # type: ignore[attr-defined]
    r = client.post(
        f"/api/v1/payments/{pay['id']}/refunds",
        json={"amount": "30.00"},
        headers=w.headers | {"Idempotency-Key": "r1"},
    )
    assert (r.status_code, r.json()["status"]) == (202, "pending")
    # the capture's charge.succeeded and the refund's charge.refunded are in the outbox
    assert deliver_webhooks(factory, secret=SECRET, send=_send(client)) == (2, 0)
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.status, refund.gateway_refund_id is not None) == ("paid", True)
    outcomes = session.scalars(select(GatewayEvent.outcome).order_by(GatewayEvent.type)).all()
    assert outcomes == ["refund_paid", "already_applied"]  # charge.refunded, charge.succeeded
    assert clearing_balance(session) == 7000
    # recovery afterwards has nothing left; the gateway refunded once
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {}
    charge = session.scalars(select(TestgwCharge)).one()
    session.refresh(charge)
    assert charge.refunded_minor == 3000
    assert count(session, "journal_entries") == 4  # invoice, payment, refund, payout
    assert integrity.run(session).violations == []


def test_a_dashboard_refund_is_unmatched_not_ignored(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    pay = _pay(client, w)
    gw = TestGateway(factory)
    made = gw.refund(pay["gateway_charge_id"], 2500, "dashboard-1")  # not through revcycle
    entries = count(session, "journal_entries")
    assert deliver_webhooks(factory, secret=SECRET, send=_send(client)) == (2, 0)
    session.expire_all()
    row = session.scalars(select(GatewayUnmatchedRefund)).one()
    assert (
        row.gateway_refund_id,
        row.charge_id,
        row.payment_id,
        row.practice_id,
        row.amount_minor,
    ) == (made.id, pay["gateway_charge_id"], uuid.UUID(pay["id"]), w.practice.id, 2500)
    assert count(session, "journal_entries") == entries  # nothing posted on a guess
    assert count(session, "refunds") == 0
    assert clearing_balance(session) == 10000
    listed = client.get("/api/v1/reconciliation/unmatched-refunds", headers=w.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == [
        {
            "provider": "testgw",
            "gateway_refund_id": made.id,
            "charge_id": pay["gateway_charge_id"],
            "payment_id": pay["id"],
            "practice_id": str(w.practice.id),
            "amount": "25.00",
            "currency": "USD",
            "received_at": listed.json()["items"][0]["received_at"],
        }
    ]


# --- the outbox: back-off, dead, claim ----------------------------------------------------


def test_backoff_is_exponential_with_deterministic_jitter() -> None:
    for attempts in range(1, 12):
        wait = delivery.backoff("evt_x", attempts)
        ceiling = min(delivery.CAP, delivery.BASE * 2 ** (attempts - 1))
        assert ceiling / 2 <= wait <= ceiling
        assert wait == delivery.backoff("evt_x", attempts)  # same input, same wait
    spread = {delivery.backoff(f"evt_{i}", 3) for i in range(50)}
    assert len(spread) > 40  # events that failed together don't retry together
    assert delivery.backoff("evt_x", 1) <= dt.timedelta(seconds=30)
    assert delivery.backoff("evt_x", 30) <= dt.timedelta(hours=6)


def test_failed_deliveries_back_off_then_die(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    _pay(client, w)  # one charge.succeeded event
    now = utcnow()
    sent: list[int] = []

    def down(body: bytes, headers: dict[str, str]) -> int:
        sent.append(1)
        return 503

    assert deliver_webhooks(factory, secret=SECRET, send=down, now=now) == (0, 1)
    # not due again until the back-off has passed
    assert deliver_webhooks(factory, secret=SECRET, send=down, now=now) == (0, 0)
    session.expire_all()
    row = session.scalars(select(TestgwWebhook)).one()
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 503)
    assert row.next_attempt_at == now + delivery.backoff(row.id, 1)
    t = now
    for attempt in range(2, delivery.MAX_ATTEMPTS + 1):
        t = t + delivery.backoff(row.id, attempt - 1) + dt.timedelta(seconds=1)
        assert deliver_webhooks(factory, secret=SECRET, send=down, now=t) == (0, 1)
        session.expire_all()
        row = session.scalars(select(TestgwWebhook)).one()
        t = row.next_attempt_at - delivery.backoff(row.id, attempt) if row.next_attempt_at else t
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 8, None)
    assert deliver_webhooks(factory, secret=SECRET, send=down, now=t + dt.timedelta(days=2)) == (
        0,
        0,
    )
    assert len(sent) == 8


def test_claim_leases_events_so_a_second_worker_skips_them(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    _pay(client, w)
    now = utcnow()
    first = delivery.claim(factory, now=now, limit=10)
    assert len(first) == 1
    assert delivery.claim(factory, now=now, limit=10) == []  # leased to the first worker
    # the first worker died: after the lease the event is taken again, and delivered once
    later = now + delivery.LEASE + dt.timedelta(seconds=1)
    assert deliver_webhooks(factory, secret=SECRET, send=_send(client), now=later) == (1, 0)
    session.expire_all()
    row = session.scalars(select(TestgwWebhook)).one()
    assert (row.status, row.attempts) == ("delivered", 1)
