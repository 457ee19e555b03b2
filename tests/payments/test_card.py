"""Card payments through the test gateway: every test card through the API, Idempotency-Key
required, card numbers refused and never stored or logged, timeout -> pending -> recovery, and
N concurrent identical requests -> one charge and one ledger entry."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.app import create_app
from revcycle.db import unit_of_work
from revcycle.gateway.testgw.models import TestgwCharge
from revcycle.gateway.testgw.service import TestGateway
from revcycle.integrity import service as integrity
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.payments.card import recover_pending
from revcycle.payments.models import Payment
from tests import conftest
from tests.factories.auth import make_user, token_for
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.gateway.helpers import APPROVED, CARDS, EXP_YEAR, tokenize
from tests.invoices.helpers import World, assert_problem, count, priced, snapshot, stored_status

PAYMENTS = "/api/v1/payments"


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    session.commit()
    return world


def card_json(patient_id: uuid.UUID, token: str, amount: str = "40.00", **extra: Any) -> Any:
    return {
        "patient_id": str(patient_id),
        "amount": amount,
        "method": "card",
        "token": token,
    } | extra


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"card-{uuid.uuid4()}"}


def clearing_balance(session: Session) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(Account.code == AccountCode.CARD_CLEARING.value)
        )
        or 0
    )


def test_an_approved_card_payment(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    token = tokenize(client)
    r = client.post(
        PAYMENTS, json=card_json(w.patient.id, token, "40.00"), headers=w.headers | key()
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["method"], body["amount"], body["decline_code"]) == (
        "succeeded",
        "card",
        "40.00",
        None,
    )
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": EXP_YEAR}
    assert body["gateway_charge_id"].startswith("ch_")
    assert body["allocations"] == [{"invoice_id": str(inv.id), "amount": "40.00"}]
    charge = session.get(TestgwCharge, body["gateway_charge_id"])
    assert charge is not None
    assert (charge.amount_minor, charge.captured_minor) == (4000, 4000)
    assert clearing_balance(session) == 4000
    assert stored_status(session, inv.id) == "partially_paid"


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [
        ("generic_decline", "generic_decline"),
        ("insufficient_funds", "insufficient_funds"),
        ("expired_card", "expired_card"),
        ("incorrect_cvc", "incorrect_cvc"),
        ("processing_error", "processing_error"),
    ],
)
def test_declines_are_402_with_the_decline_code(
    client: TestClient, session: Session, w: World, card: str, decline_code: str
) -> None:
    inv = w.invoice("open")
    session.commit()
    token = tokenize(client, CARDS[card])
    before = snapshot(session, inv.id)
    headers = w.headers | key()
    r = client.post(PAYMENTS, json=card_json(w.patient.id, token), headers=headers)
    problem = assert_problem(r, 402, "payment.card_declined")
    assert problem["data"]["decline_code"] == decline_code
    after = snapshot(session, inv.id)
    # Kept on purpose: the declined attempt (for card-testing rules), nothing else of money.
    assert after["payments"] == before["payments"] + 1
    for table in ("journal_entries", "postings", "payment_allocations"):
        assert after[table] == before[table]
    assert after[f"invoice {inv.id}"] == before[f"invoice {inv.id}"]
    declined = session.scalars(select(Payment).where(Payment.status == "declined")).one()
    assert (declined.entry_id, declined.decline_code) == (None, decline_code)
    # The same key replays the refusal; the gateway is not asked again.
    again = client.post(PAYMENTS, json=card_json(w.patient.id, token), headers=headers)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (402, "true")
    assert count(session, "testgw_charges") == 1


def test_card_payments_require_an_idempotency_key(
    client: TestClient, session: Session, w: World
) -> None:
    w.invoice("open")
    session.commit()
    token = tokenize(client)
    before = snapshot(session)
    r = client.post(PAYMENTS, json=card_json(w.patient.id, token), headers=w.headers)
    assert_problem(r, 428, "payment.idempotency_key_required")
    assert snapshot(session) == before
    assert count(session, "testgw_charges") == 0


def test_an_unknown_token_is_refused(client: TestClient, session: Session, w: World) -> None:
    w.invoice("open")
    session.commit()
    r = client.post(
        PAYMENTS, json=card_json(w.patient.id, "tok_unknownunknown"), headers=w.headers | key()
    )
    assert_problem(r, 400, "payment.token_refused")
    assert session.scalar(select(Payment.status)) == "failed"
    assert count(session, "journal_entries") == 1  # the invoice's only


def test_bad_requests_charge_nothing(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open", "30.00")
    session.commit()
    token = tokenize(client)
    before = snapshot(session, inv.id)
    too_much = card_json(
        w.patient.id, token, "50.00", allocations=[{"invoice_id": str(inv.id), "amount": "50.00"}]
    )
    assert_problem(
        client.post(PAYMENTS, json=too_much, headers=w.headers | key()),
        409,
        "payment.exceeds_balance",
    )
    euro = card_json(w.patient.id, token, currency="EUR")
    assert_problem(
        client.post(PAYMENTS, json=euro, headers=w.headers | key()),
        400,
        "payment.currency_mismatch",
    )
    for amount in ("0.00", "-5.00"):
        r = client.post(
            PAYMENTS, json=card_json(w.patient.id, token, amount), headers=w.headers | key()
        )
        assert r.status_code in (400, 422), r.text
    after = snapshot(session, inv.id)
    assert {k: v for k, v in after.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }
    assert count(session, "testgw_charges") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"token": APPROVED},
        {"token": "4242-4242-4242-4242"},
        {"reference": "4242 4242 4242 4242"},
        {"reference": "card 5555555555554444 exp 12/30"},
    ],
)
def test_card_numbers_are_refused_and_never_logged(
    client: TestClient,
    session: Session,
    w: World,
    body: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = snapshot(session)
    payload = {"patient_id": str(w.patient.id), "amount": "10.00", "method": "card"} | body
    r = client.post(PAYMENTS, json=payload, headers=w.headers | key())
    assert_problem(r, 422, "payment.card_number_refused")
    pan = next(iter(body.values()))
    digits = "".join(ch for ch in pan if ch.isdigit())
    assert digits not in r.text.replace(" ", "").replace("-", "")
    assert snapshot(session) == before
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert digits not in logged.replace(" ", "").replace("-", "")


def _all_text(session: Session) -> str:
    """Every value in every table of the database, as text."""
    session.flush()
    bind = session.get_bind()
    out = []
    for table in inspect(bind).get_table_names():
        for row in session.execute(text(f'select * from "{table}"')):
            out.extend(str(v) for v in row)
    return "\n".join(out)


def test_no_card_number_anywhere_in_the_database(
    client: TestClient, session: Session, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w.invoice("open")
    session.commit()
    for number in (APPROVED, CARDS["generic_decline"]):
        token = tokenize(client, number)
        client.post(PAYMENTS, json=card_json(w.patient.id, token), headers=w.headers | key())
    stored = _all_text(session)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    for number in (APPROVED, CARDS["generic_decline"]):
        assert number not in stored
        assert number not in logged
    assert "4242" in stored  # last 4 is kept (brand + last 4 + expiry)


def test_timeout_leaves_a_pending_payment_that_recovery_completes(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    token = tokenize(client, CARDS["timeout"])
    headers = w.headers | key()
    r = client.post(PAYMENTS, json=card_json(w.patient.id, token, "25.00"), headers=headers)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["allocations"], r.json()["gateway_charge_id"]) == (
        "pending",
        [],
        None,
    )
    assert count(session, "journal_entries") == 1  # only the invoice's: nothing posted yet
    assert clearing_balance(session) == 0
    # A retry with the same key replays "pending": no second charge.
    again = client.post(PAYMENTS, json=card_json(w.patient.id, token, "25.00"), headers=headers)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (202, "true")

    gw = TestGateway(factory)
    assert recover_pending(factory, gw, older_than=dt.timedelta(seconds=60)) == {}  # too young
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {"succeeded": 1}
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {}  # nothing left
    got = client.get(f"{PAYMENTS}/{r.json()['id']}", headers=w.headers).json()
    assert (got["status"], got["allocations"]) == (
        "succeeded",
        [{"invoice_id": str(inv.id), "amount": "25.00"}],
    )
    assert got["card"]["last4"] == "0408"
    assert count(session, "testgw_charges") == 1
    charge = session.scalars(select(TestgwCharge)).one()
    assert charge.captured_minor == 2500
    assert clearing_balance(session) == 2500


def test_recovery_fails_a_payment_the_gateway_never_saw(
    session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    session.add(
        Payment(
            practice_id=w.practice.id,
            patient_id=w.patient.id,
            method="card",
            amount_minor=100,
            currency="USD",
            received_on=dt.date(2026, 11, 1),
            status="pending",
            gateway_provider="testgw",
            gateway_idempotency_key="rc_never_sent",
        )
    )
    session.commit()
    counts = recover_pending(factory, TestGateway(factory), older_than=dt.timedelta(0))
    assert counts == {"failed": 1}
    assert session.scalar(select(Payment.decline_code)) == "not_charged"


def _world(factory: sessionmaker[Session]) -> tuple[dict[str, str], uuid.UUID]:
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        make_invoice(s, patient, lines=priced("125.00"))
        clerk = make_user(s, "billing_staff", practices=[practice])
        s.flush()
        token = token_for(s, clerk)
    return {"Authorization": f"Bearer {token}"}, patient.id


@pytest.mark.committed
def test_concurrent_identical_card_payments_charge_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    headers, patient_id = _world(factory)
    app = create_app(conftest.test_settings(url), session_factory=factory)
    token = tokenize(TestClient(app))
    n = 24
    barrier = threading.Barrier(n)
    body = card_json(patient_id, token, "40.00")
    idem = {"Idempotency-Key": "card-burst-1"}

    def fire(_: int) -> httpx.Response:
        c = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return c.post(PAYMENTS, json=body, headers=headers | idem)

    with ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(fire, range(n)))

    statuses = sorted(r.status_code for r in responses)
    assert all(r.status_code in (201, 409) for r in responses), statuses
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.content for r in created}) == 1
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "idempotency.in_progress")
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(TestgwCharge)) == 1
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        kinds = s.scalars(select(JournalEntry.kind)).all()
        assert sorted(kinds) == ["invoice.issue", "payment"]
        assert clearing_balance(s) == 4000
        report = integrity.run(s)
        assert report.ok, report.violations
    again = TestClient(app).post(PAYMENTS, json=body, headers=headers | idem)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.content == created[0].content
