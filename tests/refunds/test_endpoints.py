"""The refund and approval routes end to end: Idempotency-Key required and replayed, 201 vs 202,
approval by an admin with a second factor, refusals answered as problems with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.auth import service as auth_service
from revcycle.config import Settings
from tests.factories.auth import make_user
from tests.factories.invoices import make_invoice
from tests.factories.practices import SYSTEM
from tests.invoices.helpers import World, assert_problem, pay, priced
from tests.refunds.helpers import balances, full_snapshot, refund


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"refund_limit_billing_staff": "100.00", "write_off_limit_billing_staff": "100.00"}
    )


@pytest.fixture
def w(session: Session) -> World:
    w = World.build(session)
    a = make_invoice(session, w.patient, lines=priced("100.00"))
    b = make_invoice(session, w.patient, lines=priced("150.00"))
    payment = pay(session, w.patient, "300.00", [(a, "100.00"), (b, "150.00")]).payment
    admin = make_user(session, "admin", practices=[w.practice])
    token = auth_service.issue_token(session, admin, ttl_minutes=60, mfa=True).token
    plain = auth_service.issue_token(session, admin, ttl_minutes=60, mfa=False).token
    w.extra.update(
        a=a,
        b=b,
        payment=payment,
        url=f"/api/v1/payments/{payment.id}/refunds",
        admin_mfa={"Authorization": f"Bearer {token}"},
        admin_plain={"Authorization": f"Bearer {plain}"},
    )
    session.commit()
    return w


def snap(session: Session, w: World) -> dict[str, Any]:
    return full_snapshot(session, w.extra["a"].id, w.extra["b"].id)


def test_refund_needs_an_idempotency_key(session: Session, client: TestClient, w: World) -> None:
    before = snap(session, w)
    r = client.post(w.extra["url"], json={"amount": "10.00"}, headers=w.headers)
    assert_problem(r, 400, "idempotency.key_required")
    assert snap(session, w) == before


def test_refund_and_its_idempotent_retry(session: Session, client: TestClient, w: World) -> None:
    headers = {**w.headers, "Idempotency-Key": "refund-1"}
    body = {"amount": "80.00", "reason": "Overpaid"}
    r = client.post(w.extra["url"], json=body, headers=headers)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["amount"], got["status"], got["method"], got["reason"]) == (
        "80.00",
        "paid",
        "cash",
        "Overpaid",
    )
    assert got["parts"] == [
        {"invoice_id": None, "amount": "50.00"},
        {"invoice_id": str(w.extra["b"].id), "amount": "30.00"},
    ]
    after_first = snap(session, w)
    again = client.post(w.extra["url"], json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == got
    assert snap(session, w) == after_first
    # the same key for a different refund is refused, nothing written
    other = client.post(w.extra["url"], json={"amount": "1.00"}, headers=headers)
    assert_problem(other, 422, "idempotency.key_reused")
    assert snap(session, w) == after_first
    # reads
    r = client.get(f"/api/v1/refunds/{got['id']}", headers=w.headers)
    assert r.status_code == 200
    assert r.json() == got
    r = client.get(w.extra["url"], headers=w.headers)
    assert r.json() == {"items": [got]}
    assert balances(session, w.extra["a"], w.extra["b"]) == [("paid", 0), ("partially_paid", 3000)]


def test_refund_above_refundable_is_a_problem(
    session: Session, client: TestClient, w: World
) -> None:
    before = snap(session, w)
    r = client.post(
        w.extra["url"],
        json={"amount": "300.01"},
        headers={**w.extra["admin_mfa"], "Idempotency-Key": "too-much"},
    )
    body = assert_problem(r, 409, "refund.exceeds_refundable")
    assert body["data"] == {"refundable": "300.00"}
    after = snap(session, w)
    assert after == before


def test_over_the_limit_202_then_approved(session: Session, client: TestClient, w: World) -> None:
    headers = {**w.headers, "Idempotency-Key": "big"}
    before = snap(session, w)
    r = client.post(w.extra["url"], json={"amount": "120.00"}, headers=headers)
    assert r.status_code == 202, r.text
    req = r.json()
    assert (req["status"], req["operation"], req["amount"], req["limit"]) == (
        "requested",
        "refund",
        "120.00",
        "100.00",
    )
    replay = client.post(w.extra["url"], json={"amount": "120.00"}, headers=headers)
    assert (replay.status_code, replay.json()) == (202, req)
    after_request = snap(session, w)
    assert after_request["journal_entries"] == before["journal_entries"]
    assert after_request["refunds"] == before["refunds"]

    listed = client.get(
        "/api/v1/approval-requests",
        params={"practice_id": str(w.practice.id), "status": "requested"},
        headers=w.headers,
    )
    assert [i["id"] for i in listed.json()["items"]] == [req["id"]]

    approve = f"/api/v1/approval-requests/{req['id']}/approve"
    # the requester's role may not approve; an admin needs the second factor
    assert_problem(client.post(approve, headers=w.headers), 403, "auth.forbidden")
    assert_problem(client.post(approve, headers=w.extra["admin_plain"]), 403, "auth.mfa_required")
    assert snap(session, w)["refunds"] == before["refunds"]

    r = client.post(approve, headers=w.extra["admin_mfa"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "executed"
    made = client.get(f"/api/v1/refunds/{done['result_id']}", headers=w.headers).json()
    assert (made["amount"], made["approval_request_id"]) == ("120.00", req["id"])
    assert balances(session, w.extra["a"], w.extra["b"]) == [("paid", 0), ("partially_paid", 7000)]


def test_approval_refused_when_no_longer_refundable_writes_nothing(
    session: Session, client: TestClient, w: World
) -> None:
    r = client.post(
        w.extra["url"], json={"amount": "120.00"}, headers={**w.headers, "Idempotency-Key": "a"}
    )
    req_id = r.json()["id"]
    refund(session, SYSTEM, w.extra["payment"].id, "250.00")
    session.commit()
    before = snap(session, w)
    r = client.post(f"/api/v1/approval-requests/{req_id}/approve", headers=w.extra["admin_mfa"])
    assert_problem(r, 409, "refund.exceeds_refundable")
    assert snap(session, w) == before
    got = client.get(f"/api/v1/approval-requests/{req_id}", headers=w.headers).json()
    assert (got["status"], got["decided_by"]) == ("requested", None)
    # the admin rejects it instead
    r = client.post(
        f"/api/v1/approval-requests/{req_id}/reject",
        json={"reason": "Already refunded"},
        headers=w.extra["admin_mfa"],
    )
    assert (r.status_code, r.json()["status"], r.json()["decision_reason"]) == (
        200,
        "rejected",
        "Already refunded",
    )


def test_write_off_over_the_limit_is_202(session: Session, client: TestClient, w: World) -> None:
    inv = make_invoice(session, w.patient, lines=priced("250.00"))
    session.commit()
    r = client.post(
        f"/api/v1/invoices/{inv.id}/write-off",
        json={"reason_code": "bad_debt"},
        headers=w.headers,
    )
    assert r.status_code == 202, r.text
    assert (r.json()["operation"], r.json()["amount"]) == ("write_off", "250.00")
    r = client.post(
        f"/api/v1/approval-requests/{r.json()['id']}/approve", headers=w.extra["admin_mfa"]
    )
    assert r.status_code == 200, r.text
    inv_now = client.get(f"/api/v1/invoices/{inv.id}", headers=w.headers).json()
    assert inv_now["status"] == "written_off"
