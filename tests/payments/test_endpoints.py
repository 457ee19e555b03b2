"""The payments JSON API, invoice history and the patient statement: exact bodies, refusals
(problem+json, nothing written), Idempotency-Key semantics (also under concurrency), access."""

from __future__ import annotations

import datetime as dt
import json
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
from revcycle.idempotency import service as idem
from revcycle.idempotency.models import IdempotencyKey
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import CreditNoteCreate
from revcycle.kit.clock import today, utcnow
from revcycle.ledger.models import JournalEntry
from revcycle.payments.models import Payment
from tests import conftest
from tests.factories.auth import auth_header, make_user, token_for
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import (
    World,
    assert_problem,
    count,
    denial,
    invoice_json,
    pay,
    priced,
    security_events,
    snapshot,
    stored_status,
)

TODAY = today()
TOMORROW = (TODAY + dt.timedelta(days=1)).isoformat()
PAYMENTS = "/api/v1/payments"


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    session.commit()
    return world


def payment_json(patient_id: uuid.UUID, amount: Any = "10.00", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"patient_id": str(patient_id), "amount": amount, "method": "cash"}
    body.update(extra)
    return body


def alloc(invoice: Invoice | uuid.UUID, amount: Any) -> dict[str, Any]:
    iid = invoice.id if isinstance(invoice, Invoice) else invoice
    return {"invoice_id": str(iid), "amount": amount}


def strip(body: dict[str, Any]) -> dict[str, Any]:
    """Drop the generated id and timestamp after checking they are there."""
    body = dict(body)
    assert uuid.UUID(body.pop("id"))
    assert dt.datetime.fromisoformat(body.pop("created_at"))
    return body


# recording ---------------------------------------------------------------------------------------


def test_auto_allocated_payment(client: TestClient, session: Session, w: World) -> None:
    old = make_invoice(session, w.patient, lines=priced("100.00"), issue_date=dt.date(2026, 2, 1))
    new = make_invoice(session, w.patient, lines=priced("80.00"), issue_date=dt.date(2026, 5, 1))
    older = make_invoice(session, w.patient, lines=priced("60.00"), issue_date=dt.date(2026, 1, 10))
    session.commit()
    r = client.post(
        PAYMENTS,
        json=payment_json(w.patient.id, "250.00", reference="CHK 1001", method="check"),
        headers=w.headers,
    )
    assert r.status_code == 201, r.text
    assert strip(r.json()) == {
        "practice_id": str(w.practice.id),
        "patient_id": str(w.patient.id),
        "method": "check",
        "amount": "250.00",
        "currency": "USD",
        "received_on": TODAY.isoformat(),
        "reference": "CHK 1001",
        "unapplied": "10.00",
        "allocations": [
            {"invoice_id": str(older.id), "amount": "60.00"},
            {"invoice_id": str(old.id), "amount": "100.00"},
            {"invoice_id": str(new.id), "amount": "80.00"},
        ],
        "status": "succeeded",
        "card": None,
        "gateway_charge_id": None,
        "decline_code": None,
        "bank_account": None,
        "return_code": None,
        "settled_at": None,
        "returned_at": None,
        "next_action_url": None,
    }
    assert [stored_status(session, i.id) for i in (older, old, new)] == ["paid"] * 3
    statement = client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=w.headers).json()
    assert (statement["amount_due"], statement["credit_balance"]) == ("0.00", "10.00")
    assert statement["closing_balance"] == "-10.00"

    # GET returns the stored payment, the list shows it (allocation order: see the next test).
    def unordered(p: dict[str, Any]) -> dict[str, Any]:
        return p | {"allocations": sorted(p["allocations"], key=lambda a: a["invoice_id"])}

    got = client.get(f"{PAYMENTS}/{r.json()['id']}", headers=w.headers)
    assert got.status_code == 200
    assert unordered(got.json()) == unordered(r.json())
    listed = client.get(PAYMENTS, params={"patient_id": str(w.patient.id)}, headers=w.headers)
    assert [unordered(p) for p in listed.json()["items"]] == [unordered(r.json())]
    assert listed.json()["next_cursor"] is None


def test_a_stored_payment_lists_allocations_in_the_order_applied(
    client: TestClient, session: Session, w: World
) -> None:
    """POST answers with the allocations oldest-due first; reading the payment back must give the
    same document, not an order that depends on random bits of the allocation ids."""
    made = [
        make_invoice(
            session, w.patient, lines=priced(f"{n}.00"), issue_date=dt.date(2026, 1, 10 + n)
        )
        for n in range(1, 9)
    ]
    session.commit()
    r = client.post(PAYMENTS, json=payment_json(w.patient.id, "36.00"), headers=w.headers)
    assert r.status_code == 201, r.text
    assert [a["invoice_id"] for a in r.json()["allocations"]] == [str(i.id) for i in made]
    got = client.get(f"{PAYMENTS}/{r.json()['id']}", headers=w.headers)
    assert got.json()["allocations"] == r.json()["allocations"]
    listed = client.get(PAYMENTS, headers=w.headers).json()["items"]
    assert listed[0]["allocations"] == r.json()["allocations"]


def test_explicit_allocations(client: TestClient, session: Session, w: World) -> None:
    a, b = w.invoice("open"), w.invoice("partially_paid")
    session.commit()
    r = client.post(
        PAYMENTS,
        json=payment_json(
            w.patient.id,
            "100.00",
            method="card",
            received_on="2026-06-30",
            allocations=[alloc(b, "75.00"), alloc(a, "20.00")],
        ),
        headers=w.headers,
    )
    assert r.status_code == 201, r.text
    got = strip(r.json())
    assert (got["unapplied"], got["received_on"], got["method"]) == ("5.00", "2026-06-30", "card")
    assert got["allocations"] == [
        {"invoice_id": str(b.id), "amount": "75.00"},
        {"invoice_id": str(a.id), "amount": "20.00"},
    ]
    inv_a = client.get(f"/api/v1/invoices/{a.id}", headers=w.headers).json()
    inv_b = client.get(f"/api/v1/invoices/{b.id}", headers=w.headers).json()
    assert (inv_a["status"], inv_a["paid"], inv_a["balance"]) == (
        "partially_paid",
        "20.00",
        "105.00",
    )
    assert (inv_b["status"], inv_b["paid"], inv_b["balance"]) == ("paid", "125.00", "0.00")


def test_payment_transitions_open_to_partially_paid_to_paid(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open")
    session.commit()
    for amount, status, balance in [
        ("25.00", "partially_paid", "100.00"),
        ("100.00", "paid", "0.00"),
    ]:
        r = client.post(
            PAYMENTS,
            json=payment_json(w.patient.id, amount, allocations=[alloc(inv, amount)]),
            headers=w.headers,
        )
        assert r.status_code == 201, r.text
        got = client.get(f"/api/v1/invoices/{inv.id}", headers=w.headers).json()
        assert (got["status"], got["balance"]) == (status, balance)


def test_open_to_paid_in_full(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    session.commit()
    r = client.post(PAYMENTS, json=payment_json(w.patient.id, "125.00"), headers=w.headers)
    assert r.json()["allocations"] == [{"invoice_id": str(inv.id), "amount": "125.00"}]
    got = client.get(f"/api/v1/invoices/{inv.id}", headers=w.headers).json()
    assert (got["status"], got["paid"], got["balance"]) == ("paid", "125.00", "0.00")


# refusals ----------------------------------------------------------------------------------------


def _refusal_cases() -> list[Any]:
    def case(
        id_: str,
        state: str,
        st: int,
        code: str,
        amount: Any = "10.00",
        share: Any = None,
        **kw: Any,
    ) -> Any:
        return pytest.param(state, amount, share, kw, st, code, id=id_)

    return [
        case("void", "void", 409, "invoice.voided", share="10.00"),
        case("paid", "paid", 409, "invoice.already_paid", share="10.00"),
        case("draft", "draft", 409, "invoice.not_issued", share="10.00"),
        case("written-off", "written_off", 409, "invoice.written_off", share="10.00"),
        case("above-balance", "open", 409, "payment.exceeds_balance", "200.00", "125.01"),
        case("above-partial", "partially_paid", 409, "payment.exceeds_balance", "80.00", "75.01"),
        case("above-amount", "open", 400, "payment.allocations_exceed_amount", "10.00", "10.01"),
        case("currency", "open", 400, "payment.currency_mismatch", currency="EUR"),
        case("bad-currency", "open", 422, "money.unsupported_currency", currency="XXX"),
        case("3-decimals", "open", 400, "money.too_many_decimals", "10.005"),
        case("share-3-decimals", "open", 400, "money.too_many_decimals", "10.00", "1.001"),
        case("zero", "open", 422, "money.not_positive", "0"),
        case("zero-decimals", "open", 422, "money.not_positive", "0.00"),
        case("negative", "open", 422, "money.not_positive", "-5.00"),
        case("float", "open", 422, "money.not_a_string", 12.5),
        case("share-float", "open", 422, "money.not_a_string", "10.00", 12.5),
        case("share-zero", "open", 422, "money.not_positive", "10.00", "0"),
        case("not-a-number", "open", 422, "money.invalid", "ten"),
        case("exponent", "open", 422, "money.invalid", "1e2"),
        case("nan", "open", 422, "money.invalid", "NaN"),
        case("16-digits", "open", 422, "money.invalid", "1" * 16),
        # A JSON integer is accepted as an amount, so the same range limit must apply to it.
        case("huge-integer", "open", 422, "money.invalid", 10**30),
        case("boolean", "open", 422, "money.not_a_string", True),
        case("future", "open", 400, "payment.date_in_future", received_on=TOMORROW),
        case("method", "open", 422, "request.invalid", method="barter"),
        case("unknown-field", "open", 422, "request.unknown_field", tip="5.00"),
        case("unknown-patient", "open", 404, "patient.not_found", patient_id=str(uuid.uuid4())),
    ]


@pytest.mark.parametrize(("state", "amount", "share", "extra", "status", "code"), _refusal_cases())
def test_refused_payments_change_nothing(
    client: TestClient,
    session: Session,
    w: World,
    state: str,
    amount: Any,
    share: Any,
    extra: dict[str, Any],
    status: int,
    code: str,
) -> None:
    inv = w.invoice(state)
    session.commit()
    before = snapshot(session, inv.id)
    body = payment_json(w.patient.id, amount)
    body.update(extra)
    if share is not None:
        body["allocations"] = [alloc(inv, share)]
    r = client.post(PAYMENTS, json=body, headers=w.headers)
    assert_problem(r, status, code)
    assert snapshot(session, inv.id) == before


def test_allocations_summing_above_the_amount(
    client: TestClient, session: Session, w: World
) -> None:
    a, b = w.invoice("open"), w.invoice("open")
    session.commit()
    before = snapshot(session, a.id, b.id)
    r = client.post(
        PAYMENTS,
        json=payment_json(
            w.patient.id, "100.00", allocations=[alloc(a, "60.00"), alloc(b, "40.01")]
        ),
        headers=w.headers,
    )
    body = assert_problem(r, 400, "payment.allocations_exceed_amount")
    assert body["detail"] == "Allocations total 100.01 but the payment is 100.00"
    assert snapshot(session, a.id, b.id) == before


@pytest.mark.parametrize("whose", ["other_patient", "unknown", "duplicate"])
def test_bad_allocation_targets(client: TestClient, session: Session, w: World, whose: str) -> None:
    other = make_patient(session, w.practice, first_name="Sam")
    theirs = w.invoice("open", patient=other)
    mine = w.invoice("open")
    session.commit()
    before = snapshot(session, theirs.id, mine.id)
    allocations = {
        "other_patient": [alloc(theirs, "1.00")],
        "unknown": [alloc(uuid.uuid4(), "1.00")],
        "duplicate": [alloc(mine, "1.00"), alloc(mine, "2.00")],
    }[whose]
    r = client.post(
        PAYMENTS, json=payment_json(w.patient.id, allocations=allocations), headers=w.headers
    )
    if whose == "duplicate":
        assert_problem(r, 422, "request.invalid")
    else:
        assert_problem(r, 404, "invoice.not_found")
    assert snapshot(session, theirs.id, mine.id) == before


def test_malformed_and_oversized_payment_bodies(
    client: TestClient, session: Session, w: World
) -> None:
    before = snapshot(session)
    headers = {**w.headers, "Content-Type": "application/json"}
    assert_problem(
        client.post(PAYMENTS, content=b'{"amount": "10.00",', headers=headers),
        400,
        "request.malformed_json",
    )
    assert_problem(
        client.post(PAYMENTS, content=b"[1, 2", headers=headers), 400, "request.malformed_json"
    )
    big = payment_json(w.patient.id, reference="x" * 1_000_000)
    assert_problem(client.post(PAYMENTS, json=big, headers=w.headers), 413, "request.too_large")
    assert_problem(
        client.get(f"{PAYMENTS}/{uuid.uuid4()}", headers=w.headers), 404, "payment.not_found"
    )
    assert snapshot(session) == before


# history and statement ---------------------------------------------------------------------------


@pytest.fixture
def account(session: Session, w: World) -> dict[str, Any]:
    """A patient account with an overdue invoice, a payment in the past, a credit note, an exact
    payment and an all-credit payment - every statement line kind except voids/write-offs."""
    inv1 = make_invoice(session, w.patient, lines=priced("125.00"), issue_date=dt.date(2026, 9, 1))
    p1 = pay(session, w.patient, "50.00", [(inv1, "50.00")], received_on=dt.date(2026, 9, 15))
    inv2 = make_invoice(session, w.patient, lines=priced("80.00"))
    invoices.add_credit_note(
        session,
        SYSTEM,
        inv2.id,
        CreditNoteCreate.model_validate(
            {"amount": "10.00", "reason_code": "prompt_pay", "memo": "Paid at desk"}
        ),
    )
    p2 = pay(session, w.patient, "70.00", [(inv2, "70.00")], method="card", reference="T-77")
    p3 = pay(session, w.patient, "30.00", [])
    session.commit()
    assert stored_status(session, inv1.id) == "partially_paid"
    assert stored_status(session, inv2.id) == "paid"
    return {"inv1": inv1, "inv2": inv2, "p1": p1.payment, "p2": p2.payment, "p3": p3.payment}


def test_invoice_history(client: TestClient, w: World, account: dict[str, Any]) -> None:
    inv1, inv2, p1, p2 = account["inv1"], account["inv2"], account["p1"], account["p2"]
    r = client.get(f"/api/v1/invoices/{inv1.id}/history", headers=w.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "invoice_id": str(inv1.id),
        "payments": [
            {
                "payment_id": str(p1.id),
                "received_on": "2026-09-15",
                "method": "cash",
                "reference": None,
                "amount_applied": "50.00",
                "currency": "USD",
            }
        ],
        "adjustments": [],
    }
    r = client.get(f"/api/v1/invoices/{inv2.id}/history", headers=w.headers)
    got = r.json()
    assert got["payments"] == [
        {
            "payment_id": str(p2.id),
            "received_on": TODAY.isoformat(),
            "method": "card",
            "reference": "T-77",
            "amount_applied": "70.00",
            "currency": "USD",
        }
    ]
    [adj] = got["adjustments"]
    assert uuid.UUID(adj.pop("id"))
    assert adj.pop("created_at")
    assert adj == {
        "invoice_id": str(inv2.id),
        "kind": "credit_note",
        "reason_code": "prompt_pay",
        "amount": "10.00",
        "currency": "USD",
        "memo": "Paid at desk",
    }


def test_patient_statement(client: TestClient, w: World, account: dict[str, Any]) -> None:
    inv1, inv2 = account["inv1"], account["inv2"]
    r = client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=w.headers)
    assert r.status_code == 200, r.text
    got = r.json()
    assert dt.datetime.fromisoformat(got.pop("generated_at"))
    lines = got.pop("lines")
    assert got == {
        "patient_id": str(w.patient.id),
        "account_number": w.patient.account_number,
        "currency": "USD",
        "date_from": None,
        "date_to": None,
        "opening_balance": "0.00",
        "total_charges": "205.00",
        "total_credits": "160.00",
        "amount_due": "75.00",
        "credit_balance": "30.00",
        "closing_balance": "45.00",
        "overdue_amount": "75.00",  # INV-000001 was due 2026-10-01
    }
    today = TODAY.isoformat()
    i1, i2 = str(inv1.id), str(inv2.id)
    assert [
        (
            ln["date"],
            ln["kind"],
            ln["description"],
            ln["invoice_id"],
            ln["invoice_number"],
            ln["charges"],
            ln["credits"],
            ln["balance"],
        )
        for ln in lines
    ] == [
        (
            "2026-09-01",
            "invoice.issue",
            "Invoice issued INV-000001",
            i1,
            "INV-000001",
            "125.00",
            "0.00",
            "125.00",
        ),
        (
            "2026-09-15",
            "payment",
            "Payment received INV-000001",
            i1,
            "INV-000001",
            "0.00",
            "50.00",
            "75.00",
        ),
        (
            today,
            "invoice.issue",
            "Invoice issued INV-000002",
            i2,
            "INV-000002",
            "80.00",
            "0.00",
            "155.00",
        ),
        (
            today,
            "invoice.credit_note",
            "Credit note INV-000002",
            i2,
            "INV-000002",
            "0.00",
            "10.00",
            "145.00",
        ),
        (
            today,
            "payment",
            "Payment received INV-000002",
            i2,
            "INV-000002",
            "0.00",
            "70.00",
            "75.00",
        ),
        (
            today,
            "payment",
            "Payment received (unapplied credit)",
            None,
            None,
            "0.00",
            "30.00",
            "45.00",
        ),
    ]


@pytest.mark.parametrize(
    ("params", "opening", "first_balance", "n_lines"),
    [
        ({"date_from": "2026-09-10"}, "125.00", "75.00", 5),
        ({"date_from": "2026-09-16"}, "75.00", "155.00", 4),
        ({"date_to": "2026-09-15"}, "0.00", "125.00", 2),
        ({"date_from": "2026-09-02", "date_to": "2026-09-30"}, "125.00", "75.00", 1),
    ],
)
def test_statement_period(
    client: TestClient,
    w: World,
    account: dict[str, Any],
    params: dict[str, str],
    opening: str,
    first_balance: str,
    n_lines: int,
) -> None:
    r = client.get(f"/api/v1/patients/{w.patient.id}/statement", params=params, headers=w.headers)
    got = r.json()
    assert got["opening_balance"] == opening
    assert len(got["lines"]) == n_lines
    assert got["lines"][0]["balance"] == first_balance
    # Each running balance is the previous one plus charges minus credits.
    running = int(opening.replace(".", ""))
    for ln in got["lines"]:
        running += int(ln["charges"].replace(".", "")) - int(ln["credits"].replace(".", ""))
        assert int(ln["balance"].replace(".", "")) == running


def test_statement_after_void_and_write_off(client: TestClient, session: Session, w: World) -> None:
    voided = w.invoice("void", "40.00")
    written = w.invoice("written_off", "60.00")
    session.commit()
    got = client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=w.headers).json()
    assert [
        (ln["kind"], ln["invoice_number"], ln["charges"], ln["credits"], ln["balance"])
        for ln in got["lines"]
    ] == [
        ("invoice.issue", voided.display_number, "40.00", "0.00", "40.00"),
        ("invoice.void", voided.display_number, "0.00", "40.00", "0.00"),
        ("invoice.issue", written.display_number, "60.00", "0.00", "60.00"),
        ("invoice.write_off", written.display_number, "0.00", "60.00", "0.00"),
    ]
    assert [ln["description"] for ln in got["lines"]] == [
        "Invoice issued INV-000001",
        "Invoice voided INV-000001",
        "Invoice issued INV-000002",
        "Balance written off INV-000002",
    ]
    assert (got["amount_due"], got["credit_balance"], got["overdue_amount"]) == (
        "0.00",
        "0.00",
        "0.00",
    )


def test_statement_of_a_multi_invoice_payment(
    client: TestClient, session: Session, w: World
) -> None:
    """One payment entry spread over two invoices plus credit gives three statement lines. Their
    order must not depend on the database: the applied parts, then the unapplied credit (so the
    running balance only goes negative on the last line, identically on SQLite and PostgreSQL)."""
    a = make_invoice(session, w.patient, lines=priced("30.00"), issue_date=dt.date(2026, 8, 1))
    b = make_invoice(session, w.patient, lines=priced("20.00"), issue_date=dt.date(2026, 8, 2))
    session.flush()
    pay(session, w.patient, "60.00")
    session.commit()
    got = client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=w.headers).json()
    issued, paid = got["lines"][:2], got["lines"][2:]
    assert [(ln["invoice_number"], ln["balance"]) for ln in issued] == [
        (a.display_number, "30.00"),
        (b.display_number, "50.00"),
    ]
    assert sorted((ln["invoice_number"] or "", ln["credits"]) for ln in paid) == [
        ("", "10.00"),
        ("INV-000001", "30.00"),
        ("INV-000002", "20.00"),
    ]
    assert [ln["balance"] for ln in paid][-1] == "-10.00"
    assert [ln["invoice_number"] is None for ln in paid] == [False, False, True]
    assert [ln["description"] for ln in paid][-1] == "Payment received (unapplied credit)"
    assert paid[1]["balance"] == "0.00"  # both invoices settled before the credit line
    assert (got["total_charges"], got["total_credits"], got["closing_balance"]) == (
        "50.00",
        "60.00",
        "-10.00",
    )


def test_patient_reads_own_statement_and_payments(
    client: TestClient, session: Session, w: World, account: dict[str, Any]
) -> None:
    sibling = make_patient(session, w.practice, first_name="Sam")
    theirs = pay(session, sibling, "5.00").payment
    me = make_user(session, "patient", patient=w.patient)
    headers = auth_header(session, me)
    session.commit()
    r = client.get(f"/api/v1/patients/{w.patient.id}/statement", headers=headers)
    assert (r.status_code, r.json()["amount_due"]) == (200, "75.00")
    r = client.get(PAYMENTS, headers=headers)
    assert {p["id"] for p in r.json()["items"]} == {str(account[k].id) for k in ("p1", "p2", "p3")}
    assert_problem(client.get(f"{PAYMENTS}/{theirs.id}", headers=headers), 404, "payment.not_found")
    before = snapshot(session)
    assert_problem(
        client.post(PAYMENTS, json=payment_json(w.patient.id), headers=headers),
        403,
        "auth.forbidden",
    )
    assert snapshot(session) == {**before, "security_events": before["security_events"] + 1}
    assert security_events(session, before) == [
        denial("patient", "POST", PAYMENTS, 403, "auth.forbidden")
    ]


def test_payments_pagination(client: TestClient, session: Session, w: World) -> None:
    made = {str(pay(session, w.patient, f"{n}.00").payment.id) for n in range(1, 6)}
    session.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(PAYMENTS, params=params, headers=w.headers).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == made


# Idempotency-Key ---------------------------------------------------------------------------------


def test_same_key_same_body_replays(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    session.commit()
    before = snapshot(session, inv.id)
    body = payment_json(w.patient.id, "25.00")
    headers = {**w.headers, "Idempotency-Key": "pay-0001"}
    first = client.post(PAYMENTS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    after_first = snapshot(session, inv.id)
    assert after_first["payments"] == before["payments"] + 1
    assert after_first["journal_entries"] == before["journal_entries"] + 1
    second = client.post(PAYMENTS, json=body, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert second.content == first.content
    assert snapshot(session, inv.id) == after_first
    # A quoted key (structured-field string) is the same key.
    third = client.post(PAYMENTS, json=body, headers={**w.headers, "Idempotency-Key": '"pay-0001"'})
    assert (third.status_code, third.content) == (201, first.content)
    assert snapshot(session, inv.id) == after_first
    assert stored_status(session, inv.id) == "partially_paid"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "26.00"},
        {"method": "card"},
        {"path": "/api/v1/invoices"},
        {"query": "?x=1"},
    ],
)
def test_same_key_other_request_is_refused(
    client: TestClient, session: Session, w: World, change: dict[str, str]
) -> None:
    headers = {**w.headers, "Idempotency-Key": "pay-0002"}
    first = client.post(PAYMENTS, json=payment_json(w.patient.id, "25.00"), headers=headers)
    assert first.status_code == 201
    before = snapshot(session)
    body = payment_json(
        w.patient.id, change.get("amount", "25.00"), method=change.get("method", "cash")
    )
    if "path" in change:  # a valid request to another route
        body = invoice_json(w.patient.id)
    path = change.get("path", PAYMENTS) + change.get("query", "")
    r = client.post(path, json=body, headers=headers)
    assert_problem(r, 422, "idempotency.key_reused")
    assert "idempotent-replayed" not in r.headers
    assert snapshot(session) == before


def test_a_refusal_is_replayed(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("void")
    session.commit()
    before = snapshot(session, inv.id)
    body = payment_json(w.patient.id, allocations=[alloc(inv, "10.00")])
    headers = {**w.headers, "Idempotency-Key": "pay-void-1"}
    first = client.post(PAYMENTS, json=body, headers=headers)
    assert_problem(first, 409, "invoice.voided")
    second = client.post(PAYMENTS, json=body, headers=headers)
    assert_problem(second, 409, "invoice.voided")
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert snapshot(session, inv.id) == before
    assert count(session, "idempotency_keys") == 1


def test_keys_are_scoped_per_user(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open")
    colleague = make_user(session, "billing_staff", practices=[w.practice])
    other_headers = auth_header(session, colleague)
    session.commit()
    before = snapshot(session, inv.id)
    body = payment_json(w.patient.id, "10.00")
    key = {"Idempotency-Key": "shared-key"}
    r1 = client.post(PAYMENTS, json=body, headers={**w.headers, **key})
    r2 = client.post(PAYMENTS, json=body, headers={**other_headers, **key})
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert "idempotent-replayed" not in r2.headers
    assert r1.json()["id"] != r2.json()["id"]
    after = snapshot(session, inv.id)
    assert after["payments"] == before["payments"] + 2
    assert after["journal_entries"] == before["journal_entries"] + 2
    # ... and each user's replay returns their own payment.
    r3 = client.post(PAYMENTS, json=body, headers={**other_headers, **key})
    assert r3.json()["id"] == r2.json()["id"]


@pytest.mark.parametrize("key", ["", '""', "has space", "x" * 256, "tab\tkey"])
def test_invalid_keys(client: TestClient, session: Session, w: World, key: str) -> None:
    before = snapshot(session)
    r = client.post(
        PAYMENTS, json=payment_json(w.patient.id), headers={**w.headers, "Idempotency-Key": key}
    )
    assert_problem(r, 400, "idempotency.invalid_key")
    assert snapshot(session) == before
    assert count(session, "idempotency_keys") == 0


def _concurrent_world(factory: sessionmaker[Session]) -> tuple[dict[str, str], uuid.UUID]:
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        make_invoice(s, patient, lines=priced("125.00"))
        clerk = make_user(s, "billing_staff", practices=[practice])
        s.flush()
        token = token_for(s, clerk)
    return {"Authorization": f"Bearer {token}"}, patient.id


@pytest.mark.committed
def test_concurrent_identical_requests_make_one_payment(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    headers, patient_id = _concurrent_world(factory)
    app = create_app(conftest.test_settings(url), session_factory=factory)
    n = 24
    barrier = threading.Barrier(n)
    body = payment_json(patient_id, "40.00")
    key = {"Idempotency-Key": "burst-1"}

    def fire(_: int) -> httpx.Response:
        c = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return c.post(PAYMENTS, json=body, headers={**headers, **key})

    with ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(fire, range(n)))

    statuses = sorted(r.status_code for r in responses)
    assert all(r.status_code in (201, 409) for r in responses), statuses
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.content for r in created}) == 1  # the one payment, replayed byte for byte
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "idempotency.in_progress")
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        kinds = s.scalars(select(JournalEntry.kind)).all()
        assert sorted(kinds) == ["invoice.issue", "payment"]
        assert s.scalar(select(Invoice.status)) == "partially_paid"
        report = integrity.run(s)
        assert report.ok, report.violations
    # After the burst, a retry is a plain replay.
    again = TestClient(app).post(PAYMENTS, json=body, headers={**headers, **key})
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.content == created[0].content


@pytest.mark.parametrize(("age_seconds", "status"), [(5, 409), (120, 201)])
def test_an_abandoned_reservation_is_taken_over(
    client: TestClient, session: Session, w: World, age_seconds: int, status: int
) -> None:
    """A reservation left ``in_progress`` by a crashed worker blocks retries while its lock is
    fresh (409 idempotency.in_progress) and is taken over once older than the lock timeout."""
    raw = json.dumps(payment_json(w.patient.id, "12.00")).encode()
    session.add(
        IdempotencyKey(
            user_id=w.staff.id,
            key="crashed-1",
            method="POST",
            path=PAYMENTS,
            fingerprint=idem.fingerprint("POST", PAYMENTS, "", raw),
            state="in_progress",
            locked_at=utcnow() - dt.timedelta(seconds=age_seconds),
        )
    )
    session.commit()
    before = snapshot(session)
    headers = {**w.headers, "Idempotency-Key": "crashed-1", "Content-Type": "application/json"}
    r = client.post(PAYMENTS, content=raw, headers=headers)
    if status == 409:
        assert_problem(r, 409, "idempotency.in_progress")
        assert snapshot(session) == before
        return
    assert r.status_code == 201, r.text
    assert snapshot(session)["payments"] == before["payments"] + 1
    row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "crashed-1")).one()
    session.refresh(row)
    assert (row.state, row.response_status, row.locked_at) == ("completed", 201, None)
    replay = client.post(PAYMENTS, content=raw, headers=headers)
    assert (replay.status_code, replay.content) == (201, r.content)


def test_payment_list_filters_by_received_date(session: Session, client: TestClient) -> None:
    from tests.factories.auth import auth_header as _auth_header
    from tests.factories.auth import make_user as _make_user
    from tests.factories.invoices import make_invoice as _make_invoice
    from tests.factories.patients import make_patient as _make_patient
    from tests.factories.practices import make_practice as _make_practice

    practice = _make_practice(session)
    patient = _make_patient(session, practice)
    _make_invoice(session, patient, issue_date=dt.date(2026, 2, 1))
    headers = _auth_header(session, _make_user(session, "billing_staff", practices=[practice]))
    session.commit()
    for day, amount in [("2026-02-03", "10.00"), ("2026-02-10", "20.00"), ("2026-02-20", "30.00")]:
        r = client.post(
            "/api/v1/payments",
            headers=headers,
            json={
                "patient_id": str(patient.id),
                "amount": amount,
                "method": "cash",
                "received_on": day,
            },
        )
        assert r.status_code == 201, r.text
    r = client.get(
        "/api/v1/payments",
        headers=headers,
        params={"received_from": "2026-02-05", "received_to": "2026-02-15"},
    )
    assert r.status_code == 200
    assert [p["amount"] for p in r.json()["items"]] == ["20.00"]
    r = client.get("/api/v1/payments", headers=headers, params={"received_from": "2026-02-05"})
    assert [p["amount"] for p in r.json()["items"]] == ["30.00", "20.00"]


def test_overpayment_refused_when_the_practice_keeps_no_credit(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open")  # balance 125.00
    w.practice.allow_overpayment = False
    session.commit()
    before = snapshot(session, inv.id)
    r = client.post(PAYMENTS, json=payment_json(w.patient.id, "125.01"), headers=w.headers)
    body = assert_problem(r, 409, "payment.overpayment_not_allowed")
    assert body["data"] == {"applicable": "125.00"}
    assert snapshot(session, inv.id) == before
    # Explicit allocations below the amount are refused the same way.
    r = client.post(
        PAYMENTS,
        json={**payment_json(w.patient.id, "50.00"), "allocations": [alloc(inv, "40.00")]},
        headers=w.headers,
    )
    assert_problem(r, 409, "payment.overpayment_not_allowed")
    assert snapshot(session, inv.id) == before
    # Exactly the balance is fine.
    r = client.post(PAYMENTS, json=payment_json(w.patient.id, "125.00"), headers=w.headers)
    assert r.status_code == 201, r.text
    assert r.json()["unapplied"] == "0.00"


def test_overpayment_becomes_credit_by_default_and_the_policy_is_a_practice_setting(
    client: TestClient, session: Session, w: World
) -> None:
    inv = w.invoice("open")
    admin = make_user(session, "admin", practices=[w.practice])
    session.commit()
    headers = auth_header(session, admin)
    session.commit()
    r = client.get(f"/api/v1/practices/{w.practice.id}", headers=headers)
    assert r.json()["allow_overpayment"] is True
    r = client.post(PAYMENTS, json=payment_json(w.patient.id, "130.00"), headers=w.headers)
    assert (r.status_code, r.json()["unapplied"]) == (201, "5.00")
    r = client.patch(
        f"/api/v1/practices/{w.practice.id}", json={"allow_overpayment": False}, headers=headers
    )
    assert (r.status_code, r.json()["allow_overpayment"]) == (200, False)
    r = client.patch(
        f"/api/v1/practices/{w.practice.id}", json={"allow_overpayment": None}, headers=headers
    )
    assert r.status_code == 422
    assert inv.id
