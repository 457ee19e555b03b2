"""Webhooks: Stripe-style signatures (good, bad, stale, unsigned), exactly-once processing by the
UNIQUE (provider, event id) also under concurrent duplicate deliveries, and the effect on a
pending card payment. A refused delivery writes one security event and nothing else."""

from __future__ import annotations

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
from revcycle.db import unit_of_work
from revcycle.gateway import signing
from revcycle.gateway.models import GatewayEvent
from revcycle.gateway.testgw.service import deliver_webhooks
from revcycle.kit.clock import utcnow
from revcycle.ledger.models import JournalEntry
from revcycle.payments.models import Payment
from tests import conftest
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.gateway.helpers import CARDS, SECRET, WEBHOOK, event_bytes, signed, tokenize
from tests.invoices.helpers import World, assert_problem, count, snapshot

NOW = 1_800_000_000


def test_verify() -> None:
    body = b'{"id":"evt_1"}'
    good = signing.sign("s3cret", body, NOW)
    assert signing.verify("s3cret", body, good, now=NOW + 10, tolerance=300) == NOW
    rotated = good + ",v1=" + "0" * 64  # two signatures during a secret rotation
    assert signing.verify("s3cret", body, rotated, now=NOW, tolerance=300) == NOW
    cases: list[tuple[str | None, bytes, str, int]] = [
        (None, body, "webhook.unsigned", NOW),
        ("", body, "webhook.unsigned", NOW),
        ("t=abc,v1=zz", body, "webhook.bad_signature", NOW),
        (signing.sign("other", body, NOW), body, "webhook.bad_signature", NOW),
        (good, body + b" ", "webhook.bad_signature", NOW),
        (good, body, "webhook.stale", NOW + 301),
        (good, body, "webhook.stale", NOW - 301),
    ]
    for header, b, code, now in cases:
        with pytest.raises(signing.SignatureError) as exc:
            signing.verify("s3cret", b, header, now=now, tolerance=300)
        assert exc.value.code == code


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    w_inv = world.invoice("open", "125.00")
    world.extra["invoice"] = w_inv
    session.commit()
    return world


def _pending_payment(client: TestClient, w: World) -> dict[str, Any]:
    token = tokenize(client, CARDS["timeout"])
    body = {"patient_id": str(w.patient.id), "amount": "30.00", "method": "card", "token": token}
    r = client.post("/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": "wh-1"})
    assert r.status_code == 202, r.text
    return dict(r.json())


def _succeeded_event(session: Session, client: TestClient, w: World) -> tuple[bytes, str]:
    """The gateway captures the timed-out charge (as an operator would), emitting
    charge.succeeded into its outbox: return that event's body and id."""
    from revcycle.gateway.testgw.models import TestgwCharge, TestgwWebhook

    pending = _pending_payment(client, w)
    charge = session.scalars(select(TestgwCharge)).one()
    client.app.state.gateway.capture(charge.id)  # type: ignore[attr-defined]
    row = session.scalars(
        select(TestgwWebhook).where(TestgwWebhook.type == "charge.succeeded")
    ).one()
    assert pending["id"] in row.payload
    return row.payload.encode(), row.id


def test_a_signed_event_completes_a_pending_payment_once(
    client: TestClient, session: Session, w: World
) -> None:
    body, event_id = _succeeded_event(session, client, w)
    r = client.post(WEBHOOK, content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "outcome": "payment_succeeded"}
    payment = session.scalars(select(Payment)).one()
    session.refresh(payment)
    assert (payment.status, payment.card_last4) == ("succeeded", "0408")
    assert count(session, "journal_entries") == 2  # the invoice and this payment
    # The same event again (a replay, freshly signed): refused, nothing written but the event.
    before = snapshot(session)
    again = client.post(WEBHOOK, content=body, headers=signed(body))
    assert_problem(again, 409, "webhook.replayed")
    after = snapshot(session)
    assert after["security_events"] == before["security_events"] + 1
    assert {k: v for k, v in after.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }
    assert count(session, "gateway_events") == 1
    assert session.scalar(select(GatewayEvent.event_id)) == event_id


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "webhook.unsigned"),
        (signed(b"x", secret="wrong-secret"), "webhook.bad_signature"),
        ("wrong-body", "webhook.bad_signature"),
        ("stale", "webhook.stale"),
        ("future", "webhook.stale"),
    ],
)
def test_refused_deliveries_write_nothing(
    client: TestClient, session: Session, w: World, headers: Any, code: str
) -> None:
    body, _ = _succeeded_event(session, client, w)
    now = int(utcnow().timestamp())
    if headers == "wrong-body":
        headers = signed(body.replace(b"succeeded", b"succeedeX"))
    elif headers == "stale":
        headers = signed(body, at=now - 301)  # just outside the 300 s window
    elif headers == "future":
        headers = signed(body, at=now + 900)  # well outside: the request may take seconds
    before = snapshot(session)
    r = client.post(WEBHOOK, content=body, headers=headers)
    assert_problem(r, 400, code)
    after = snapshot(session)
    assert after["security_events"] == before["security_events"] + 1
    assert {k: v for k, v in after.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }
    assert count(session, "gateway_events") == 0
    assert session.scalar(select(Payment.status)) == "pending"


def test_any_role_without_a_signature_is_refused(
    client: TestClient, session: Session, w: World
) -> None:
    body = event_bytes("evt_x", "charge.succeeded", {"id": "ch_x"})
    r = client.post(WEBHOOK, content=body, headers=w.headers)  # a bearer token is not enough
    assert_problem(r, 400, "webhook.unsigned")
    bad = client.post(WEBHOOK, content=b"{not json", headers=signed(b"{not json"))
    assert_problem(bad, 400, "webhook.malformed")
    assert count(session, "gateway_events") == 0


def test_deliver_webhooks_through_the_outbox(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    _succeeded_event(session, client, w)

    def send(body: bytes, headers: dict[str, str]) -> int:
        return client.post(WEBHOOK, content=body, headers=headers).status_code

    assert deliver_webhooks(factory, secret=SECRET, send=send) == (1, 0)
    assert deliver_webhooks(factory, secret=SECRET, send=send) == (0, 0)
    assert session.scalar(select(Payment.status)) == "succeeded"
    # A declined card's charge.failed event for a payment already declined: recorded only.
    token = tokenize(client, CARDS["generic_decline"])
    body = {"patient_id": str(w.patient.id), "amount": "5.00", "method": "card", "token": token}
    r = client.post("/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": "d1"})
    assert r.status_code == 402
    assert deliver_webhooks(factory, secret=SECRET, send=send) == (1, 0)
    outcomes = session.scalars(select(GatewayEvent.outcome).order_by(GatewayEvent.received_at))
    assert list(outcomes) == ["payment_succeeded", "already_applied"]


@pytest.mark.committed
def test_concurrent_duplicate_deliveries_make_one_effect(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        s.flush()
        payment = Payment(
            practice_id=practice.id,
            patient_id=patient.id,
            method="card",
            amount_minor=1500,
            currency="USD",
            received_on=utcnow().date(),
            status="pending",
            gateway_provider="testgw",
            gateway_idempotency_key="rc_concurrent",
        )
        s.add(payment)
    app = create_app(conftest.test_settings(url), session_factory=factory)
    charge = {
        "id": "ch_concurrent",
        "status": "succeeded",
        "amount": 1500,
        "currency": "USD",
        "amount_captured": 1500,
        "amount_refunded": 0,
        "voided": False,
        "decline_code": None,
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
        "metadata": {"payment_id": str(payment.id)},
    }
    body = event_bytes(f"evt_{uuid.uuid4().hex}", "charge.succeeded", charge)
    n = 20
    barrier = threading.Barrier(n)

    def fire(_: int) -> httpx.Response:
        c = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return c.post(WEBHOOK, content=body, headers=signed(body))

    with ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(fire, range(n)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert all(r.status_code == 409 for r in responses if r.status_code != 200), statuses
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(GatewayEvent)) == 1
        assert s.scalars(select(JournalEntry.kind)).all() == ["payment"]
        assert s.scalar(select(Payment.status)) == "succeeded"
