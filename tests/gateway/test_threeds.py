"""3-D Secure: the challenge card leaves the payment ``requires_action`` with the gateway's
challenge page; approving or failing it there completes the payment by webhook or by recovery,
exactly once; an unanswered challenge expires (failed); the page refuses cross-site posts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from revcycle.gateway.testgw.models import TestgwCharge, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway, deliver_webhooks
from revcycle.integrity import service as integrity
from revcycle.kit.clock import utcnow
from revcycle.payments.card import recover_pending
from revcycle.payments.models import Payment
from tests.gateway.helpers import CARDS, SECRET, WEBHOOK, tokenize
from tests.invoices.helpers import World, count, snapshot, stored_status
from tests.payments.test_card import clearing_balance


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    world.extra["invoice"] = world.invoice("open", "125.00")
    session.commit()
    return world


def _challenge_payment(client: TestClient, w: World, key: str = "3ds-1") -> dict[str, Any]:
    inv = w.extra["invoice"]
    if "token" not in w.extra:
        w.extra["token"] = tokenize(client, CARDS["requires_action"])
    body = {
        "patient_id": str(w.patient.id),
        "amount": "40.00",
        "method": "card",
        "token": w.extra["token"],
        "allocations": [{"invoice_id": str(inv.id), "amount": "40.00"}],
    }
    r = client.post("/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": key})
    assert r.status_code == 202, r.text
    return dict(r.json())


def _form(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    assert "form-action 'self'" in page.headers["content-security-policy"]
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert m is not None, page.text
    return m.group(1)


def _send(client: TestClient) -> Any:
    def send(body: bytes, headers: dict[str, str]) -> int:
        return client.post(WEBHOOK, content=body, headers=headers).status_code

    return send


def test_requires_action_then_approved_by_webhook_once(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.extra["invoice"]
    before = snapshot(session, inv.id)
    pay = _challenge_payment(client, w)
    charge = session.scalars(select(TestgwCharge)).one()
    assert (pay["status"], pay["next_action_url"], pay["gateway_charge_id"]) == (
        "requires_action",
        f"/testgw/3ds/{charge.id}",
        charge.id,
    )
    assert (pay["allocations"], pay["decline_code"]) == ([], None)
    mid = snapshot(session, inv.id)
    for table in ("journal_entries", "postings", "payment_allocations"):
        assert mid[table] == before[table]
    # the same Idempotency-Key replays the 202; nothing is charged again
    again = _challenge_payment(client, w)
    assert again == pay
    assert count(session, "testgw_charges") == 1

    csrf = _form(client, pay["next_action_url"])
    done = client.post(pay["next_action_url"], data={"outcome": "approve", "csrf": csrf})
    assert done.status_code == 200
    assert "Payment approved" in done.text
    session.expire_all()
    charge = session.scalars(select(TestgwCharge)).one()
    assert (charge.status, charge.captured_minor) == ("succeeded", 4000)
    assert charge.captured_at is not None
    # a second click changes nothing at the gateway and emits nothing
    second = client.post(pay["next_action_url"], data={"outcome": "fail", "csrf": csrf})
    assert second.status_code == 200
    assert "Payment approved" in second.text
    assert session.scalars(select(TestgwWebhook.type)).all() == ["charge.succeeded"]

    assert deliver_webhooks(factory, secret=SECRET, send=_send(client)) == (1, 0)
    session.expire_all()
    payment = session.scalars(select(Payment)).one()
    assert (payment.status, payment.next_action_url, payment.entry_id is not None) == (
        "succeeded",
        None,
        True,
    )
    assert clearing_balance(session) == 4000
    assert stored_status(session, inv.id) == "partially_paid"
    # recovery afterwards finds nothing to do: applied once
    gw = TestGateway(factory)
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {}
    assert count(session, "journal_entries") == before["journal_entries"] + 1
    got = client.get(f"/api/v1/payments/{pay['id']}", headers=w.headers).json()
    assert (got["status"], got["allocations"][0]["amount"]) == ("succeeded", "40.00")
    assert integrity.run(session).violations == []


def test_failed_challenge_is_declined_by_recovery(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    pay = _challenge_payment(client, w)
    gw = TestGateway(factory)
    # still waiting: recovery leaves it as it is
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {"requires_action": 1}
    csrf = _form(client, pay["next_action_url"])
    r = client.post(pay["next_action_url"], data={"outcome": "fail", "csrf": csrf})
    assert (r.status_code, "Payment not approved" in r.text) == (200, True)
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {"declined": 1}
    session.expire_all()
    payment = session.scalars(select(Payment)).one()
    assert (payment.status, payment.decline_code, payment.entry_id) == (
        "declined",
        "authentication_failed",
        None,
    )
    # the charge.failed webhook arrives later: recorded, no second effect
    assert deliver_webhooks(factory, secret=SECRET, send=_send(client)) == (1, 0)
    outcomes = session.execute(select(TestgwWebhook.type)).scalars().all()
    assert outcomes == ["charge.failed"]
    assert clearing_balance(session) == 0
    assert integrity.run(session).violations == []


def test_expired_challenge_fails(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    pay = _challenge_payment(client, w)
    csrf = _form(client, pay["next_action_url"])
    session.execute(update(TestgwCharge).values(created_at=utcnow() - dt.timedelta(minutes=16)))
    session.commit()
    gw = TestGateway(factory)
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {"failed": 1}
    session.expire_all()
    payment = session.scalars(select(Payment)).one()
    assert (payment.status, payment.decline_code) == ("failed", "authentication_expired")
    # the page no longer offers the challenge, and a late approval changes nothing
    page = client.get(pay["next_action_url"])
    assert "This check is closed" in page.text
    late = client.post(pay["next_action_url"], data={"outcome": "approve", "csrf": csrf})
    assert "Payment not approved" in late.text
    charge = session.scalars(select(TestgwCharge)).one()
    session.refresh(charge)
    assert (charge.status, charge.captured_minor) == ("declined", 0)
    assert session.scalars(select(TestgwWebhook.type)).all() == ["charge.failed"]


def test_challenge_page_refuses_forged_and_cross_site_posts(
    client: TestClient, session: Session, w: World
) -> None:
    pay = _challenge_payment(client, w)
    url = pay["next_action_url"]
    csrf = _form(client, url)
    cases = [
        ({"outcome": "approve", "csrf": "0" * 64}, {}),
        ({"outcome": "approve", "csrf": csrf}, {"Origin": "https://evil.example"}),
        ({"outcome": "approve", "csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for data, headers in cases:
        r = client.post(url, data=data, headers=headers)
        assert r.status_code == 403, (data, headers)
    bad = client.post(url, data={"outcome": "maybe", "csrf": csrf})
    assert bad.status_code == 400
    assert client.get("/testgw/3ds/ch_nope").status_code == 404
    session.expire_all()
    assert session.scalars(select(TestgwCharge.status)).all() == ["requires_action"]
    assert count(session, "testgw_webhook_outbox") == 0
