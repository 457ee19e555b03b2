"""Card refunds through the test gateway: full and partial refunds (ledger, invoice reopened,
gateway refund), refused above refundable, timeout -> pending -> recovery, idempotent retry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.gateway.base import GatewayTimeout, RefundResult
from revcycle.gateway.testgw.models import TestgwCharge, TestgwRefund
from revcycle.gateway.testgw.service import TestGateway
from revcycle.integrity import service as integrity
from revcycle.ledger.chart import AccountCode
from revcycle.refunds.card import recover_pending_refunds
from revcycle.refunds.models import Refund
from tests.gateway.helpers import APPROVED, tokenize
from tests.invoices.helpers import World, count, stored_status
from tests.payments.test_card import clearing_balance
from tests.refunds.helpers import entry_legs, full_snapshot

CC, RP, AR = (
    AccountCode.CARD_CLEARING.value,
    AccountCode.REFUNDS_PAYABLE.value,
    AccountCode.PATIENT_AR.value,
)


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
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
    headers = w.headers | {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    r = client.post("/api/v1/payments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _refund(client: TestClient, w: World, payment_id: str, amount: str, key: str) -> Any:
    return client.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"amount": amount},
        headers=w.headers | {"Idempotency-Key": key},
    )


def test_full_card_refund(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    pay = _pay(client, w, inv.id, "125.00")
    assert stored_status(session, inv.id) == "paid"
    assert clearing_balance(session) == 12500
    r = _refund(client, w, pay["id"], "125.00", "rf-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["method"], body["amount"]) == ("paid", "card", "125.00")
    assert body["parts"] == [{"invoice_id": str(inv.id), "amount": "125.00"}]
    assert body["gateway_refund_id"].startswith("re_")
    session.expire_all()
    assert entry_legs(session, uuid.UUID(body["payout_entry_id"])) == [
        (CC, -12500, None),
        (RP, 12500, "patient"),
    ]
    assert stored_status(session, inv.id) == "open"
    assert clearing_balance(session) == 0
    charge = session.scalars(select(TestgwCharge)).one()
    assert (charge.captured_minor, charge.refunded_minor) == (12500, 12500)
    assert integrity.run(session).violations == []


def test_partial_card_refund_then_above_refundable(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    pay = _pay(client, w, inv.id, "125.00")
    r = _refund(client, w, pay["id"], "25.00", "rf-2")
    assert r.status_code == 201, r.text
    session.expire_all()
    assert entry_legs(session, uuid.UUID(r.json()["entry_id"])) == [
        (AR, 2500, f"invoice:{inv.number}"),
        (RP, -2500, "patient"),
    ]
    assert stored_status(session, inv.id) == "partially_paid"
    assert clearing_balance(session) == 10000
    before = full_snapshot(session, inv.id)
    gw_refunds = count(session, "testgw_refunds")
    over = _refund(client, w, pay["id"], "100.01", "rf-3")
    assert (over.status_code, over.json()["code"]) == (409, "refund.exceeds_refundable")
    session.expire_all()
    assert full_snapshot(session, inv.id) == before
    assert count(session, "testgw_refunds") == gw_refunds == 1
    assert integrity.run(session).violations == []


def test_same_key_refunds_once(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    pay = _pay(client, w, inv.id, "125.00")
    first = _refund(client, w, pay["id"], "40.00", "rf-same")
    again = _refund(client, w, pay["id"], "40.00", "rf-same")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    session.expire_all()
    assert count(session, "refunds") == 1
    assert session.scalars(select(TestgwRefund.amount_minor)).all() == [4000]
    assert clearing_balance(session) == 8500


class LostAnswer:
    """The gateway refunds, then the answer is lost (a timeout after the fact)."""

    def __init__(self, inner: TestGateway) -> None:
        self.inner = inner
        self.provider = inner.provider

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        self.inner.refund(charge_id, amount_minor, idempotency_key)
        raise GatewayTimeout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_timeout_pending_then_recovery_completes_once(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    pay = _pay(client, w, inv.id, "125.00")
    gw = TestGateway(factory)
    client.app.state.gateway = LostAnswer(gw)  # type: ignore[attr-defined]
    r = _refund(client, w, pay["id"], "50.00", "rf-timeout")
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["entry_id"]) == ("pending", None)
    session.expire_all()
    assert clearing_balance(session) == 12500  # nothing posted yet
    assert stored_status(session, inv.id) == "paid"
    assert integrity.run(session).violations == []
    # The reservation holds: only 75.00 is refundable meanwhile.
    over = _refund(client, w, pay["id"], "75.01", "rf-over")
    assert (over.status_code, over.json()["code"]) == (409, "refund.exceeds_refundable")

    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(seconds=60)) == {}
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {"paid": 1}
    assert recover_pending_refunds(factory, gw, older_than=dt.timedelta(0)) == {}
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.status, refund.entry_id is not None) == ("paid", True)
    assert session.scalars(select(TestgwRefund.amount_minor)).all() == [5000]
    assert clearing_balance(session) == 7500
    assert stored_status(session, inv.id) == "partially_paid"
    assert integrity.run(session).violations == []
