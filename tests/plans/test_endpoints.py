"""The API: Idempotency-Key required (428 after access checks), replays, ownership (a patient
sees only their own plans and methods; others answer 404), the schedule before acceptance."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.kit.clock import today
from tests.factories.auth import auth_header, make_user
from tests.factories.patients import make_patient
from tests.gateway.bank_helpers import bank_tokenize
from tests.gateway.helpers import tokenize
from tests.invoices.helpers import World, assert_problem
from tests.plans.helpers import full_snapshot

PLANS = "/api/v1/payment-plans"


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    session.commit()
    return world


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"plan-{uuid.uuid4()}"}


def body(w: World, invoice_id: uuid.UUID, **extra: object) -> dict[str, object]:
    return {
        "patient_id": str(w.patient.id),
        "invoice_ids": [str(invoice_id)],
        "frequency": "biweekly",
        "first_due_date": today().isoformat(),
        "installment_amount": "40.00",
    } | extra


def test_propose_accept_and_read_through_the_api(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open", "100.00")
    session.commit()
    headers = w.headers | key()
    r = client.post(PLANS, json=body(w, inv.id), headers=headers)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["status"] == "proposed"
    assert [(i["seq"], i["amount"]) for i in plan["schedule"]] == [
        (1, "40.00"),
        (2, "40.00"),
        (3, "20.00"),
    ]
    assert plan["total"] == plan["remaining"] == "100.00"
    # the same key replays the same answer, nothing new written
    before = full_snapshot(session)
    again = client.post(PLANS, json=body(w, inv.id), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == plan["id"]
    assert full_snapshot(session)["payment_plans"] == before["payment_plans"]
    # a patient accepts their own plan with their own stored card
    patient_user = make_user(session, "patient", patient=w.patient)
    ph = auth_header(session, patient_user)
    session.commit()
    token = tokenize(client)
    r = client.post(
        f"/api/v1/patients/{w.patient.id}/payment-methods",
        json={"token": token, "consent_text": "I agree to autopay"},
        headers=ph | key(),
    )
    assert r.status_code == 201, r.text
    method = r.json()
    assert (method["kind"], method["brand"], method["last4"], method["status"]) == (
        "card",
        "visa",
        "4242",
        "active",
    )
    assert "token" not in method
    r = client.post(
        f"{PLANS}/{plan['id']}/accept", json={"payment_method_id": method["id"]}, headers=ph | key()
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert r.json()["payment_method_id"] == method["id"]
    r = client.get(f"{PLANS}/{plan['id']}", headers=ph)
    assert [e["kind"] for e in r.json()["history"]] == ["proposed", "accepted"]


def test_writes_without_a_key_are_refused_after_access_checks(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open")
    session.commit()
    before = full_snapshot(session)
    r = client.post(PLANS, json=body(w, inv.id), headers=w.headers)
    assert_problem(r, 428, "plan.idempotency_key_required")
    r = client.post(f"{PLANS}/{uuid.uuid4()}/cancel", json={"reason": "x"}, headers=w.headers)
    assert_problem(r, 404, "plan.not_found")
    after = full_snapshot(session)
    assert {k: v for k, v in after.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }


def test_patients_see_only_their_own(client: TestClient, session: Session, w: World) -> None:
    other = make_patient(session, w.practice)
    inv = w.invoice("open", patient=other)
    session.commit()
    r = client.post(
        PLANS, json=body(w, inv.id) | {"patient_id": str(other.id)}, headers=w.headers | key()
    )
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    me = auth_header(session, make_user(session, "patient", patient=w.patient))
    session.commit()
    assert_problem(client.get(f"{PLANS}/{plan_id}", headers=me), 404, "plan.not_found")
    assert_problem(
        client.post(f"{PLANS}/{plan_id}/accept", json={}, headers=me | key()), 404, "plan.not_found"
    )
    assert_problem(
        client.get(f"/api/v1/patients/{other.id}/payment-methods", headers=me),
        404,
        "patient.not_found",
    )
    assert client.get(PLANS, headers=me).json()["items"] == []
    r = client.post(PLANS, json=body(w, inv.id) | {"patient_id": str(other.id)}, headers=me | key())
    assert_problem(r, 403, "auth.forbidden")


def test_unknown_token_refused(client: TestClient, session: Session, w: World) -> None:
    before = full_snapshot(session)
    r = client.post(
        f"/api/v1/patients/{w.patient.id}/payment-methods",
        json={"token": "tok_doesnotexist00", "consent_text": "I agree"},
        headers=w.headers | key(),
    )
    assert_problem(r, 400, "payment_method.token_refused")
    assert full_snapshot(session)["payment_methods"] == before["payment_methods"]


def test_a_bank_token_is_stored_as_a_bank_method(
    client: TestClient, session: Session, w: World
) -> None:
    token = bank_tokenize(client)
    r = client.post(
        f"/api/v1/patients/{w.patient.id}/payment-methods",
        json={"token": token, "consent_text": "I authorise debits from this account"},
        headers=w.headers | key(),
    )
    assert r.status_code == 201, r.text
    method = r.json()
    assert (method["kind"], method["last4"], method["exp_month"], method["status"]) == (
        "bank",
        "6789",
        None,
        "active",
    )
    assert "token" not in method
    before = full_snapshot(session)
    r = client.post(
        f"/api/v1/patients/{w.patient.id}/payment-methods",
        json={"token": "btok_doesnotexist00", "consent_text": "I agree"},
        headers=w.headers | key(),
    )
    assert_problem(r, 400, "payment_method.token_refused")
    assert full_snapshot(session) == before
