"""Denials and appeals over HTTP: the queue grouped, an appeal's whole life (attachment, letter
preview and PDF, send, outcome), secondary claims, who may do what, and bad input."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.appeals.models import Appeal
from tests.factories.appeals import decided_claim
from tests.factories.auth import auth_header, make_user
from tests.factories.insurance import make_coverage, make_payer, make_plan

PDF = b"%PDF-1.4\n% enclosed notes\n"


@pytest.fixture
def w(session: Session) -> dict[str, Any]:
    world, denied = decided_claim(session, days_ago=40)
    other, hidden = decided_claim(session)
    out = {
        "world": world,
        "denied": denied,
        "hidden": hidden,
        "specialist": auth_header(
            session, make_user(session, "insurance_specialist", practices=[world.practice])
        ),
        "billing": auth_header(
            session, make_user(session, "billing_staff", practices=[world.practice])
        ),
        "me": auth_header(session, make_user(session, "patient", patient=world.patient)),
        "stranger": auth_header(session, make_user(session, "patient", patient=other.patient)),
    }
    session.commit()
    return out


def test_queue_over_http(client: TestClient, w: dict[str, Any]) -> None:
    r = client.get("/api/v1/denials?group_by=reason", headers=w["specialist"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["count"], body["at_stake"], body["currency"], body["group_by"]) == (
        1,
        "210.00",
        "USD",
        "reason",
    )
    assert body["groups"] == [
        {
            "key": "CO-50",
            "label": "The payer does not find the service medically necessary",
            "count": 1,
            "at_stake": "210.00",
        }
    ]
    [item] = body["items"]
    assert (item["claim_id"], item["age_days"], item["age_bucket"], item["days_left"]) == (
        str(w["denied"].id),
        40,
        "31-60",
        20,
    )
    assert item["lines"][0]["adjustments"] == [
        {
            "group": "CO",
            "reason": "50",
            "amount": "150.00",
            "description": "The payer does not find the service medically necessary",
            "group_description": "Contractual: the provider absorbs it and may not bill the "
            "patient",
            # Looked up in the default table (this event predates the posting's record).
            "action": "appeal",
        }
    ]
    assert (item["action"], item["lines"][0]["action"], item["lines"][1]["action"]) == (
        "appeal",
        "appeal",
        "correct_resubmit",
    )
    assert item["remarks"][1] == {"code": "ZZ999", "description": "no description on file"}
    # Patients: their own claims only.
    mine = client.get("/api/v1/denials", headers=w["me"]).json()
    assert [i["claim_id"] for i in mine["items"]] == [str(w["denied"].id)]
    theirs = client.get("/api/v1/denials", headers=w["stranger"]).json()
    assert [i["claim_id"] for i in theirs["items"]] == [str(w["hidden"].id)]
    for bad in ("group_by=codes", "age=5-10", "reason=%27%3B--", "practice_id=nope", "action=x"):
        r = client.get(f"/api/v1/denials?{bad}", headers=w["specialist"])
        assert r.status_code == 422, bad


def test_an_appeal_over_http(client: TestClient, session: Session, w: dict[str, Any]) -> None:
    h = w["specialist"]
    body = {"claim_id": str(w["denied"].id), "argument": "Necessary.\n\nSee notes."}
    assert client.post("/api/v1/appeals", json=body, headers=w["billing"]).status_code == 403
    assert session.scalar(select(func.count()).select_from(Appeal)) == 0
    r = client.post("/api/v1/appeals", json=body, headers=h)
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert (appeal["status"], appeal["level"], appeal["at_stake"], appeal["expected"]) == (
        "draft",
        1,
        "210.00",
        None,
    )
    url = f"/api/v1/appeals/{appeal['id']}"
    again = client.post("/api/v1/appeals", json=body, headers=h)
    assert (again.status_code, again.json()["code"]) == (409, "appeal.exists")

    att = {
        "filename": "notes.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(PDF).decode(),
    }
    r = client.post(f"{url}/attachments", json=att, headers=h)
    assert r.status_code == 201, r.text
    att_id = r.json()["id"]
    r = client.get(f"{url}/attachments/{att_id}", headers=h)
    assert (r.status_code, r.content, r.headers["content-type"]) == (
        200,
        PDF,
        "application/pdf",
    )
    assert r.headers["content-disposition"].startswith('attachment; filename="notes.pdf"')
    bad = client.post(f"{url}/attachments", json={**att, "content_base64": "abcde"}, headers=h)
    assert (bad.status_code, bad.json()["code"]) == (400, "appeal.attachment_invalid")
    bad = client.post(f"{url}/attachments", json={**att, "content_base64": "@@@@"}, headers=h)
    assert bad.status_code == 422

    page = client.get(f"{url}/letter", headers=h)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<p>See notes.</p>" in page.text
    assert "<li>notes.pdf</li>" in page.text
    pdf = client.get(f"{url}/letter.pdf", headers=h)
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF-")
    # The patient may read their own appeal's letter; another patient may not.
    assert client.get(f"{url}/letter", headers=w["me"]).status_code == 200
    assert client.get(f"{url}/letter.pdf", headers=w["stranger"]).status_code == 404

    assert client.post(f"{url}/send", headers=h).json()["status"] == "sent"
    out = {"outcome": "partially_won", "expected_amount": "120.00", "note": "Half"}
    r = client.post(f"{url}/outcome", json=out, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["expected"]) == ("partially_won", "120.00")
    assert [e["to_status"] for e in r.json()["events"]] == [
        "draft",
        "draft",
        "sent",
        "partially_won",
    ]
    listed = client.get(f"/api/v1/appeals?claim_id={w['denied'].id}", headers=h).json()
    assert [a["id"] for a in listed["items"]] == [appeal["id"]]
    assert client.get("/api/v1/appeals", headers=w["stranger"]).json()["items"] == []

    # The claim is adjudicated again (awaiting the 835): a secondary may follow only once the
    # payer's 835 adjudicates it, so the request is refused.
    r = client.post(f"/api/v1/claims/{w['denied'].id}/secondary", headers=h)
    assert (r.status_code, r.json()["code"]) == (409, "claim.not_adjudicated")


def test_secondary_over_http(client: TestClient, session: Session, w: dict[str, Any]) -> None:
    world, primary = decided_claim(session, to="adjudicated")
    p2 = make_payer(session, world.practice, name="Harbor Mutual")
    make_coverage(session, world.patient, make_plan(session, p2), priority=2)
    admin = auth_header(session, make_user(session, "admin", practices=[world.practice]))
    session.commit()
    url = f"/api/v1/claims/{primary.id}/secondary"
    assert client.post(url, headers=w["specialist"]).status_code == 404  # another practice
    r = client.post(url, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["created"], body["primary_claim_id"]) == (
        "secondary",
        True,
        str(primary.id),
    )
    sec = body["secondary_claim"]
    assert (sec["sequence"], sec["primary_claim_id"], sec["charge"], sec["payer_id"]) == (
        "secondary",
        str(primary.id),
        "210.00",
        str(p2.id),
    )
    again = client.post(url, headers=admin).json()
    assert (again["created"], again["secondary_claim"]["id"]) == (False, sec["id"])
