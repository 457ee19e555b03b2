from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories.auth import auth_header, make_user
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice


def test_invoice_round_trip(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    inv = make_invoice(session, patient)
    staff = make_user(session, "billing_staff", practices=[practice])
    headers = auth_header(session, staff)
    session.commit()
    r = client.get(f"/api/v1/invoices/{inv.id}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"] == "INV-000001"
    assert body["status"] == "open"
    assert body["total"] == "125.00"
    assert body["balance"] == "125.00"
