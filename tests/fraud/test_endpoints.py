"""The fraud routes end to end: a block writes only its review row, a hold parks the refund until
a reviewer approves (it executes once) or rejects (nothing moves), reviewers are never the user
whose transaction it is, patients and other practices see nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.auth import service as auth_service
from revcycle.config import Settings
from tests.factories.auth import auth_header, make_user
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.fraud.helpers import MONEY_TABLES, counts, pay, review, reviews
from tests.gateway.helpers import CARDS, tokenize
from tests.invoices.helpers import World, assert_problem

PAYMENTS = "/api/v1/payments"
REVIEWS = "/api/v1/fraud/reviews"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"refund_limit_billing_staff": "500.00"})


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4()}"}


@pytest.fixture
def w(session: Session) -> World:
    w = World.build(session)
    admin = make_user(session, "admin", practices=[w.practice])
    other_admin = make_user(session, "admin", practices=[w.practice])
    w.extra.update(
        admin=admin,
        admin_mfa={
            "Authorization": "Bearer "
            + auth_service.issue_token(session, admin, ttl_minutes=60, mfa=True).token
        },
        other_admin_mfa={
            "Authorization": "Bearer "
            + auth_service.issue_token(session, other_admin, ttl_minutes=60, mfa=True).token
        },
        patient_headers=auth_header(session, make_user(session, "patient", patient=w.patient)),
    )
    session.commit()
    return w


def card(patient_id: uuid.UUID, token: str, amount: str = "5.00") -> dict[str, Any]:
    return {"patient_id": str(patient_id), "amount": amount, "method": "card", "token": token}


def audit_actions(session: Session, prefix: str) -> list[str]:
    audit.flush_pending(session)
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like(f"{prefix}%"))
            .order_by(AuditEvent.id)
        )
    )


def test_card_testing_blocks_at_the_third_small_decline_writing_only_the_review(
    client: TestClient, session: Session, w: World
) -> None:
    for _ in range(3):  # the 3rd attempt sees 2 declines: one below the limit, charged
        r = client.post(
            PAYMENTS,
            json=card(w.patient.id, tokenize(client, CARDS["generic_decline"])),
            headers=w.headers | key(),
        )
        assert_problem(r, 402, "payment.card_declined")
    assert reviews(session) == []
    before = counts(session, *MONEY_TABLES, "testgw_charges")
    r = client.post(
        PAYMENTS,
        json=card(w.patient.id, tokenize(client, CARDS["generic_decline"])),
        headers=w.headers | key(),
    )
    problem = assert_problem(r, 409, "fraud.blocked")
    assert problem["data"]["explanation"] == (
        "3 declines for small amounts (up to 10.00) on this card fingerprint in 10 minutes "
        "(limit 3)"
    )
    # no payment row, no ledger entry, no charge at the gateway: only the review
    assert counts(session, *MONEY_TABLES, "testgw_charges") == before
    [row] = reviews(session)
    assert str(row.id) == problem["data"]["review_id"]
    assert (row.rule_code, row.action, row.status, row.subject_id, row.payment_id) == (
        "card_testing",
        "block",
        "open",
        None,
        None,
    )
    assert row.payload == {"method": "card", "amount": "5.00", "patient_id": str(w.patient.id)}
    assert audit_actions(session, "fraud:") == ["fraud:block"]


def _held(client: TestClient, session: Session, w: World) -> tuple[str, str]:
    payment = pay(session, SYSTEM, w.patient, "2000.00")
    session.commit()
    url = f"/api/v1/payments/{payment.id}/refunds"
    r = client.post(url, json={"amount": "480.00"}, headers=w.headers | key())
    assert r.status_code == 201, r.text
    before = counts(session)
    r = client.post(url, json={"amount": "490.00", "reason": "Overpaid"}, headers=w.headers | key())
    problem = assert_problem(r, 409, "fraud.held")
    after = counts(session)
    assert after == before | {"fraud_reviews": before["fraud_reviews"] + 1}
    return problem["data"]["review_id"], str(payment.id)


def test_a_held_refund_executes_once_when_approved(
    client: TestClient, session: Session, w: World
) -> None:
    review_id, payment_id = _held(client, session, w)
    url = f"{REVIEWS}/{review_id}/decide"
    # the clerk may read the queue, not decide it
    assert client.get(f"{REVIEWS}/{review_id}", headers=w.headers).status_code == 200
    r = client.post(url, json={"decision": "approve"}, headers=w.headers | key())
    assert_problem(r, 403, "auth.forbidden")
    r = client.post(url, json={"decision": "dismiss"}, headers=w.extra["admin_mfa"] | key())
    assert_problem(r, 409, "fraud.decision_not_allowed")
    before = counts(session)
    r = client.post(
        url, json={"decision": "approve", "note": "Checked"}, headers=w.extra["admin_mfa"] | key()
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["decided_by"], body["decision_note"]) == (
        "approved",
        str(w.extra["admin"].id),
        "Checked",
    )
    assert body["refund"]["id"] == body["result_id"]
    assert (body["refund"]["amount"], body["refund"]["status"]) == ("490.00", "paid")
    assert body["payment"]["id"] == payment_id
    after = counts(session)
    assert after["refunds"] == before["refunds"] + 1
    assert after["journal_entries"] == before["journal_entries"] + 2  # refund + payout
    r = client.post(url, json={"decision": "approve"}, headers=w.extra["admin_mfa"] | key())
    assert_problem(r, 409, "fraud.review_not_pending")
    assert counts(session) == after
    assert audit_actions(session, "fraud:") == [
        "fraud:hold",
        "fraud:read",
        "fraud:decide",
        "fraud:execute",
    ]


def test_a_rejected_hold_moves_nothing(client: TestClient, session: Session, w: World) -> None:
    review_id, _ = _held(client, session, w)
    before = counts(session)
    r = client.post(
        f"{REVIEWS}/{review_id}/decide",
        json={"decision": "reject", "note": "Not justified"},
        headers=w.extra["admin_mfa"] | key(),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["result_id"], r.json()["refund"]) == (
        "rejected",
        None,
        None,
    )
    assert counts(session) == before
    assert review(session, review_id).status == "rejected"


def test_approving_needs_a_second_factor_and_a_key(
    client: TestClient, session: Session, w: World
) -> None:
    review_id, _ = _held(client, session, w)
    plain = auth_header(session, w.extra["admin"])
    session.commit()
    url = f"{REVIEWS}/{review_id}/decide"
    assert_problem(
        client.post(url, json={"decision": "approve"}, headers=plain | key()),
        403,
        "auth.mfa_required",
    )
    assert_problem(
        client.post(url, json={"decision": "approve"}, headers=w.extra["admin_mfa"]),
        400,
        "idempotency.key_required",
    )
    assert review(session, review_id).status == "held"


def test_nobody_decides_their_own_transaction(
    client: TestClient, session: Session, w: World
) -> None:
    body = {"patient_id": str(w.patient.id), "amount": "60.00", "method": "cash"}
    for _ in range(2):
        r = client.post(PAYMENTS, json=body, headers=w.extra["admin_mfa"])
        assert r.status_code == 201, r.text
    [flag] = reviews(session)
    assert (flag.rule_code, flag.actor_user_id) == ("duplicate_payment", w.extra["admin"].id)
    url = f"{REVIEWS}/{flag.id}/decide"
    r = client.post(url, json={"decision": "dismiss"}, headers=w.extra["admin_mfa"] | key())
    assert_problem(r, 403, "auth.same_approver")
    r = client.post(url, json={"decision": "dismiss"}, headers=w.extra["other_admin_mfa"] | key())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed"


def test_the_queue_is_staff_only_and_per_practice(
    client: TestClient, session: Session, w: World
) -> None:
    elsewhere = make_practice(session, name="Elsewhere")
    stranger = make_user(session, "billing_staff", practices=[elsewhere])
    hidden = make_patient(session, elsewhere)
    pay(session, SYSTEM, hidden, "10.00")
    theirs = auth_header(session, stranger)
    session.commit()
    r = client.post(  # the same as the payment just recorded: flagged
        PAYMENTS,
        json={"patient_id": str(hidden.id), "amount": "10.00", "method": "cash"},
        headers=theirs,
    )
    assert r.status_code == 201, r.text
    [hidden_review] = reviews(session)
    assert_problem(client.get(REVIEWS, headers=w.extra["patient_headers"]), 403, "auth.forbidden")
    r = client.get(REVIEWS, headers=w.headers)
    assert (r.status_code, r.json()["items"]) == (200, [])
    assert_problem(
        client.get(f"{REVIEWS}/{hidden_review.id}", headers=w.headers),
        404,
        "fraud.review_not_found",
    )
    mine = client.get(REVIEWS, headers=theirs, params={"status": "open"})
    assert [i["id"] for i in mine.json()["items"]] == [str(hidden_review.id)]
    by_rule = client.get(REVIEWS, headers=theirs, params={"rule": "card_testing"})
    assert by_rule.json()["items"] == []


def test_rule_settings_routes(client: TestClient, session: Session, w: World) -> None:
    url = f"/api/v1/practices/{w.practice.id}/fraud-rules"
    r = client.get(url, headers=w.headers)
    assert r.status_code == 200
    rules = {i["code"]: i for i in r.json()["items"]}
    assert rules["card_testing"]["params"] == {
        "window_minutes": 10,
        "small_amount_minor": 1000,
        "fingerprint_declines": 3,
        "user_declines": 5,
        "address_declines": 10,
    }
    assert_problem(
        client.patch(f"{url}/card_testing", json={"enabled": False}, headers=w.headers),
        403,
        "auth.forbidden",
    )
    r = client.patch(
        f"{url}/card_testing",
        json={"params": {"fingerprint_declines": 5}},
        headers=w.extra["admin_mfa"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["params"]["fingerprint_declines"], r.json()["action"]) == (5, "block")
    assert_problem(
        client.patch(
            f"{url}/card_testing", json={"params": {"bogus": 1}}, headers=w.extra["admin_mfa"]
        ),
        400,
        "fraud.unknown_parameter",
    )
    assert_problem(
        client.patch(f"{url}/refund_ratio", json={"action": "block"}, headers=w.extra["admin_mfa"]),
        400,
        "fraud.action_unsupported",
    )
    assert_problem(
        client.patch(f"{url}/nope", json={"enabled": False}, headers=w.extra["admin_mfa"]),
        404,
        "fraud.rule_not_found",
    )
    assert audit_actions(session, "fraud:rule") == ["fraud:rule_update"]
