"""Payment history: one row per ledger entry, running balances that end at the balance the
ledger derives, receipt numbers named, pages that join up exactly."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from revcycle.invoices import service as invoices
from revcycle.invoices.schemas import CreditNoteCreate
from revcycle.kit.clock import today
from revcycle.ledger.repository import LedgerRepository
from tests.factories.auth import auth_header, make_user
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM
from tests.invoices.helpers import World, assert_problem, pay, priced
from tests.refunds.helpers import refund

YEAR = today().year


def test_patient_and_invoice_history(session: Session, client: TestClient) -> None:
    w = World.build(session)
    a = make_invoice(session, w.patient, lines=priced("100.00"))
    b = make_invoice(session, w.patient, lines=priced("50.00"))
    p1 = pay(
        session, w.patient, "120.00", [(a, "100.00"), (b, "20.00")], method="check", reference="77"
    ).payment
    invoices.add_credit_note(
        session,
        SYSTEM,
        b.id,
        CreditNoteCreate.model_validate({"amount": "5.00", "reason_code": "courtesy"}),
    )
    back = refund(session, SYSTEM, p1.id, "30.00")
    owner = auth_header(session, make_user(session, "patient", patient=w.patient))
    stranger = auth_header(
        session, make_user(session, "patient", patient=make_patient(session, w.practice))
    )
    session.commit()

    url = f"/api/v1/patients/{w.patient.id}/payment-history"
    r = client.get(url, headers=w.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = [(x["kind"], x["amount"], x["balance"], x["receipt_number"]) for x in body["items"]]
    assert rows == [
        ("invoice.issue", "100.00", "100.00", None),
        ("invoice.issue", "50.00", "150.00", None),
        ("payment", "-120.00", "30.00", f"R-{YEAR}-000001"),
        ("invoice.credit_note", "-5.00", "25.00", None),
        ("refund", "30.00", "55.00", f"RF-{YEAR}-000001"),
    ]
    ar, credit = LedgerRepository(session).patient_balances(w.patient.id)
    assert body["balance"] == body["items"][-1]["balance"] == f"{(ar - credit) / 100:.2f}"
    pay_row = body["items"][2]
    assert pay_row["method"] == "Cheque no. 77"
    assert [(i["invoice_number"], i["amount"]) for i in pay_row["invoices"]] == [
        (a.display_number, "-100.00"),
        (b.display_number, "-20.00"),
    ]
    assert body["items"][4]["refund_id"] == str(back.refund.id)

    # pages join up exactly, balances included
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=w.headers).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == body["items"]
    assert_problem(
        client.get(url, params={"cursor": "bm9wZQ"}, headers=w.headers),
        400,
        "pagination.invalid_cursor",
    )

    assert client.get(url, headers=owner).status_code == 200
    assert_problem(client.get(url, headers=stranger), 404, "patient.not_found")

    r = client.get(f"/api/v1/invoices/{b.id}/payment-history", headers=w.headers)
    assert r.status_code == 200, r.text
    inv = r.json()
    assert [(x["kind"], x["amount"], x["balance"]) for x in inv["items"]] == [
        ("invoice.issue", "50.00", "50.00"),
        ("payment", "-20.00", "30.00"),
        ("invoice.credit_note", "-5.00", "25.00"),
        ("refund", "20.00", "45.00"),
    ]
    balance = LedgerRepository(session).invoice_ar_balances([b.id])[b.id]
    assert inv["balance"] == inv["items"][-1]["balance"] == f"{balance / 100:.2f}"
