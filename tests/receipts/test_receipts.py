"""Receipt numbers (per practice, series and year, gap-free, concurrent takers), receipt content
as HTML / PDF / JSON, ownership (patients: their own; others 404) and the audit of every read."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.integrity import service as integrity
from revcycle.kit.clock import today
from revcycle.payments import service as payments_service
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.receipts.models import Receipt
from tests.factories.auth import auth_header, make_user
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import World, assert_problem, pay, priced
from tests.refunds.helpers import refund

YEAR = today().year


def number(session: Session, payment_id: object = None, refund_id: object = None) -> str:
    session.flush()
    col = Receipt.payment_id if payment_id is not None else Receipt.refund_id
    return str(
        session.scalar(select(Receipt.display_number).where(col == (payment_id or refund_id)))
    )


def test_payments_and_refunds_are_numbered_per_practice_and_series(session: Session) -> None:
    w = World.build(session)
    other = make_practice(session, name="Other")
    other_patient = make_patient(session, other)
    first = pay(session, w.patient, "10.00").payment
    second = pay(session, w.patient, "20.00", method="check", reference="1001").payment
    elsewhere = pay(session, other_patient, "5.00").payment
    back = refund(session, SYSTEM, second.id, "4.00")
    assert number(session, first.id) == f"R-{YEAR}-000001"
    assert number(session, second.id) == f"R-{YEAR}-000002"
    assert number(session, elsewhere.id) == f"R-{YEAR}-000001"
    assert number(session, refund_id=back.refund.id) == f"RF-{YEAR}-000001"
    seq = session.execute(
        text("select series, last_number from receipt_sequences where practice_id = :p"),
        {
            "p": str(w.practice.id)
            if session.bind.dialect.name == "postgresql"
            else w.practice.id.hex
        },
    ).all()
    assert sorted(tuple(r) for r in seq) == [("R", 2), ("RF", 1)]


def test_a_payment_refused_takes_no_number(session: Session) -> None:
    w = World.build(session)
    pay(session, w.patient, "10.00")
    inv = make_invoice(session, w.patient, lines=priced("5.00"))
    with pytest.raises(Exception, match="exceeds"), session.begin_nested():
        pay(session, w.patient, "10.00", [(inv, "9.00")])
    later = pay(session, w.patient, "1.00").payment
    assert number(session, later.id) == f"R-{YEAR}-000002"


@pytest.fixture
def world(session: Session) -> World:
    w = World.build(session)
    inv = make_invoice(session, w.patient, lines=priced("100.00"))
    payment = pay(
        session, w.patient, "130.00", [(inv, "100.00")], method="check", reference="1001"
    ).payment
    owner = make_user(session, "patient", patient=w.patient)
    stranger_patient = make_patient(session, w.practice, first_name="Other")
    stranger = make_user(session, "patient", patient=stranger_patient)
    w.extra.update(
        invoice=inv,
        payment=payment,
        owner=auth_header(session, owner),
        stranger=auth_header(session, stranger),
    )
    session.commit()
    return w


def test_receipt_as_json_html_and_pdf(session: Session, client: TestClient, world: World) -> None:
    w, payment, inv = world, world.extra["payment"], world.extra["invoice"]
    url = f"/api/v1/payments/{payment.id}/receipt"
    r = client.get(url, params={"format": "json"}, headers=w.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["number"], body["kind"], body["method_detail"]) == (
        f"R-{YEAR}-000001",
        "payment",
        "Cheque no. 1001",
    )
    assert (body["amount"], body["credited"], body["balance_after"]) == (
        "130.00",
        "30.00",
        "-30.00",
    )
    assert body["applied"] == [
        {"invoice_id": str(inv.id), "invoice_number": inv.display_number, "amount": "100.00"}
    ]
    assert body["account_number"] == w.patient.account_number

    r = client.get(url, headers=w.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    page = r.text
    for expected in (
        f"R-{YEAR}-000001",
        "Riverside Family Medicine",
        "100 Main St",
        "Jordan Casey",
        w.patient.account_number,
        "Cheque no. 1001",
        f"Invoice {inv.display_number}",
        "130.00",
        "Credit on account after this payment",
    ):
        assert expected in page, expected

    r = client.get(url, headers={**w.headers, "Accept": "application/pdf"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    pdf_text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    assert f"R-{YEAR}-000001" in pdf_text
    assert "Cheque no. 1001" in pdf_text
    # every read is audited as a read of this payment
    reads = session.execute(
        text("select count(*) from audit_events where action = 'receipt:read'")
    ).scalar_one()
    assert reads == 3


def test_refund_receipt(session: Session, client: TestClient, world: World) -> None:
    payment = world.extra["payment"]
    back = refund(session, SYSTEM, payment.id, "40.00", reason="Overpaid")
    session.commit()
    r = client.get(
        f"/api/v1/refunds/{back.refund.id}/receipt",
        params={"format": "json"},
        headers=world.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["number"], body["payment_receipt_number"], body["amount"]) == (
        f"RF-{YEAR}-000001",
        f"R-{YEAR}-000001",
        "40.00",
    )
    inv = world.extra["invoice"]
    assert [(a["invoice_number"], a["amount"]) for a in body["applied"]] == [
        (None, "30.00"),
        (inv.display_number, "10.00"),
    ]
    assert (body["balance_after"], body["method_detail"]) == (
        "10.00",
        "Cash (refund of a cheque payment)",
    )


def test_hostile_text_is_escaped(session: Session, client: TestClient) -> None:
    practice = make_practice(session, name="<b>Practice</b>")
    patient = make_patient(session, practice, first_name="<script>alert(1)</script>")
    staff = make_user(session, "billing_staff", practices=[practice])
    payment = pay(session, patient, "5.00", method="check", reference='"><img src=x>').payment
    headers = auth_header(session, staff)
    session.commit()
    r = client.get(f"/api/v1/payments/{payment.id}/receipt", headers=headers)
    assert r.status_code == 200
    assert "<script>" not in r.text
    assert "<img" not in r.text
    assert "<b>Practice" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "&lt;b&gt;Practice&lt;/b&gt;" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_patients_read_their_own_receipts_only(
    session: Session, client: TestClient, world: World
) -> None:
    url = f"/api/v1/payments/{world.extra['payment'].id}/receipt"
    assert client.get(url, headers=world.extra["owner"]).status_code == 200
    r = client.get(url, headers=world.extra["stranger"])
    assert_problem(r, 404, "payment.not_found")


def test_a_pending_payment_has_no_receipt(
    session: Session, client: TestClient, world: World
) -> None:
    payment = Payment(
        practice_id=world.practice.id,
        patient_id=world.patient.id,
        method="card",
        amount_minor=500,
        currency="USD",
        received_on=today(),
        status="pending",
    )
    session.add(payment)
    session.commit()
    r = client.get(f"/api/v1/payments/{payment.id}/receipt", headers=world.headers)
    assert_problem(r, 409, "receipt.not_issued")


@pytest.mark.committed
def test_concurrent_payments_get_distinct_consecutive_numbers(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    n = 20
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patients = [make_patient(s, practice, first_name=f"P{i}") for i in range(n)]
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        with unit_of_work(factory) as s:
            payments_service.record_payment(
                s,
                SYSTEM,
                PaymentCreate.model_validate(
                    {"patient_id": patients[i % 4].id, "amount": "1.00", "method": "cash"}
                ),
            )

    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(one, range(n)))
    with unit_of_work(factory) as s:
        numbers = sorted(s.scalars(select(Receipt.number)).all())
        assert numbers == list(range(1, n + 1))
        assert integrity.run(s).ok
