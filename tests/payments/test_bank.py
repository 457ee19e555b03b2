"""Bank transfers (ACH-style) through the test gateway: pending -> settled (webhook or poll),
each return code before and after settlement (balances reopen exactly, nothing invented),
returns after refunds, Idempotency-Key required, raw account numbers refused, refused requests
write nothing, timeout recovery without a second debit, and N concurrent identical requests ->
one debit, one payment, one ledger entry."""

from __future__ import annotations

import datetime as dt
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
from revcycle.gateway.base import ReturnCode
from revcycle.gateway.models import GatewayEvent
from revcycle.gateway.testgw import bank as testgw_bank
from revcycle.gateway.testgw.models import TestgwBankDebit, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway, deliver_webhooks
from revcycle.integrity import service as integrity
from revcycle.kit.clock import today
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.ledger.repository import LedgerRepository
from revcycle.payments.bank import recover_pending_bank
from revcycle.payments.card import recover_pending
from revcycle.payments.models import Payment
from tests import conftest
from tests.factories.auth import make_user, token_for
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.gateway.bank_helpers import ACCOUNTS, ROUTING, bank_tokenize
from tests.gateway.helpers import SECRET, WEBHOOK, signed
from tests.invoices.helpers import World, assert_problem, count, snapshot, stored_status
from tests.payments.test_card import _world

PAYMENTS = "/api/v1/payments"
LATER = dt.timedelta(days=10)  # every debit is due by then


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    session.commit()
    return world


def bank_json(patient_id: uuid.UUID, token: str, amount: str = "40.00", **extra: Any) -> Any:
    return {
        "patient_id": str(patient_id),
        "amount": amount,
        "method": "bank_transfer",
        "bank_token": token,
    } | extra


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"ach-{uuid.uuid4()}"}


def balance(session: Session, code: AccountCode, **dims: Any) -> int:
    q = (
        select(func.coalesce(func.sum(Posting.amount_minor), 0))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.code == code.value)
    )
    for k, v in dims.items():
        q = q.where(getattr(Posting, k) == v if v is not None else getattr(Posting, k).is_(None))
    return int(session.scalar(q) or 0)


def invoice_balance(session: Session, invoice_id: uuid.UUID) -> int:
    return LedgerRepository(session).invoice_ar_balances([invoice_id])[invoice_id]


def deliver(client: TestClient, factory: sessionmaker[Session]) -> tuple[int, int]:
    def send(body: bytes, headers: dict[str, str]) -> int:
        return client.post(WEBHOOK, content=body, headers=headers).status_code

    return deliver_webhooks(factory, secret=SECRET, send=send)


def settle(factory: sessionmaker[Session], client: TestClient, days: dt.timedelta = LATER) -> None:
    testgw_bank.settle(factory, today() + days)
    deliver(client, factory)


def start(
    client: TestClient, w: World, scenario: str = "settles", amount: str = "40.00", **extra: Any
) -> dict[str, Any]:
    token = bank_tokenize(client, scenario)
    r = client.post(
        PAYMENTS, json=bank_json(w.patient.id, token, amount, **extra), headers=w.headers | key()
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def get(client: TestClient, w: World, payment_id: str) -> dict[str, Any]:
    r = client.get(f"{PAYMENTS}/{payment_id}", headers=w.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_pending_until_settled_by_webhook(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    body = start(client, w)
    assert (body["status"], body["method"], body["amount"], body["allocations"]) == (
        "pending",
        "bank_transfer",
        "40.00",
        [],
    )
    assert body["bank_account"] == {
        "last4": "6789",
        "routing_number": ROUTING,
        "account_type": "checking",
        "bank_name": "Test Bank",
    }
    assert body["gateway_charge_id"].startswith("py_")
    assert (body["settled_at"], body["return_code"]) == (None, None)
    # Pending: nothing posted, the invoice still owes everything (balances = ledger).
    assert count(session, "journal_entries") == 1
    assert invoice_balance(session, inv.id) == 12500
    assert stored_status(session, inv.id) == "open"
    assert deliver(client, factory) == (1, 0)  # bank_debit.processing: nothing to change
    assert get(client, w, body["id"])["status"] == "pending"

    testgw_bank.settle(factory, today())
    assert get(client, w, body["id"])["status"] == "pending"  # not due the same day
    settle(factory, client)
    got = get(client, w, body["id"])
    assert (got["status"], got["allocations"]) == (
        "succeeded",
        [{"invoice_id": str(inv.id), "amount": "40.00"}],
    )
    assert got["settled_at"] is not None
    assert balance(session, AccountCode.CARD_CLEARING) == 4000
    assert invoice_balance(session, inv.id) == 8500
    assert stored_status(session, inv.id) == "partially_paid"
    outcomes = list(
        session.scalars(select(GatewayEvent.outcome).order_by(GatewayEvent.received_at))
    )
    assert outcomes == ["already_applied", "payment_succeeded"]


def test_settlement_found_by_polling_without_webhooks(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "30.00")
    session.commit()
    body = start(client, w, amount="50.00")  # 30.00 to the invoice, 20.00 patient credit
    gw = TestGateway(factory)
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"pending": 1}
    testgw_bank.settle(factory, today() + LATER)
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"succeeded": 1}
    # Settled and inside the return window: polled again, nothing changes.
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {}
    got = get(client, w, body["id"])
    assert (got["status"], got["unapplied"]) == ("succeeded", "20.00")
    assert stored_status(session, inv.id) == "paid"
    assert balance(session, AccountCode.PATIENT_CREDIT, patient_id=w.patient.id) == -2000
    # The webhooks arriving late change nothing.
    deliver(client, factory)
    assert count(session, "journal_entries") == 2


@pytest.mark.parametrize("code", ["R01", "R02", "R03", "R04"])
def test_a_return_before_settlement_posts_nothing(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session], code: str
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    before = snapshot(session, inv.id)
    body = start(client, w, code)
    settle(factory, client)
    got = get(client, w, body["id"])
    assert (got["status"], got["return_code"], got["allocations"]) == ("returned", code, [])
    assert got["returned_at"] is not None
    assert got["settled_at"] is None
    after = snapshot(session, inv.id)
    for table in ("journal_entries", "postings", "payment_allocations"):
        assert after[table] == before[table]
    assert after[f"invoice {inv.id}"] == before[f"invoice {inv.id}"]
    assert invoice_balance(session, inv.id) == 12500
    actions = session.execute(
        select(func.count()).select_from(Payment).where(Payment.status == "returned")
    ).scalar_one()
    assert actions == 1


def _settled(
    client: TestClient,
    session: Session,
    w: World,
    factory: sessionmaker[Session],
    amount: str,
    allocations: list[tuple[uuid.UUID, str]] | None = None,
    scenario: str = "settles",
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if allocations is not None:
        extra["allocations"] = [{"invoice_id": str(i), "amount": a} for i, a in allocations]
    body = start(client, w, scenario, amount, **extra)
    testgw_bank.settle(factory, today() + dt.timedelta(days=4))
    deliver(client, factory)
    got = get(client, w, body["id"])
    assert got["status"] == "succeeded", got
    return got


@pytest.mark.parametrize("code", list(ReturnCode))
def test_a_return_after_settlement_reopens_exactly(
    client: TestClient,
    session: Session,
    w: World,
    factory: sessionmaker[Session],
    code: ReturnCode,
) -> None:
    a = w.invoice("open", "60.00")
    b = w.invoice("open", "25.00")
    session.commit()
    balances = (invoice_balance(session, a.id), invoice_balance(session, b.id))
    got = _settled(client, session, w, factory, "100.00")  # 60 + 25 + 15 credit
    assert (stored_status(session, a.id), stored_status(session, b.id)) == ("paid", "paid")
    testgw_bank.return_debit(factory, got["gateway_charge_id"], code)
    assert deliver(client, factory) == (1, 0)
    after = get(client, w, got["id"])
    assert (after["status"], after["return_code"]) == ("returned", code.value)
    assert (invoice_balance(session, a.id), invoice_balance(session, b.id)) == balances
    assert (stored_status(session, a.id), stored_status(session, b.id)) == ("open", "open")
    assert balance(session, AccountCode.PATIENT_CREDIT, patient_id=w.patient.id) == 0
    assert balance(session, AccountCode.CARD_CLEARING) == 0
    assert balance(session, AccountCode.PATIENT_AR, patient_id=w.patient.id, invoice_id=None) == 0
    # One exact reversal, no correction (nothing was refunded or spent), no fee.
    payment_entry = session.get(Payment, uuid.UUID(got["id"]))
    assert payment_entry is not None
    kinds = sorted(session.scalars(select(JournalEntry.kind)).all())
    assert kinds == ["invoice.issue", "invoice.issue", "payment", "payment.return"]
    reversal = session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "payment.return")
    ).one()
    assert reversal.reverses_id == payment_entry.entry_id
    assert f"({code.value})" in (reversal.memo or "")
    report = integrity.run(session)
    assert report.ok, report.violations


def test_the_late_return_account_end_to_end(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "80.00")
    session.commit()
    got = _settled(client, session, w, factory, "80.00", scenario="return_after_settlement")
    assert stored_status(session, inv.id) == "paid"
    settle(factory, client, dt.timedelta(days=14))
    after = get(client, w, got["id"])
    assert (after["status"], after["return_code"]) == ("returned", "R01")
    assert invoice_balance(session, inv.id) == 8000
    assert stored_status(session, inv.id) == "open"
    # Replaying the return event is refused and changes nothing.
    row = session.scalars(
        select(TestgwWebhook).where(TestgwWebhook.type == "bank_debit.returned")
    ).one()
    before = snapshot(session, inv.id)
    body = row.payload.encode()
    assert_problem(
        client.post(WEBHOOK, content=body, headers=signed(body)), 409, "webhook.replayed"
    )
    again = snapshot(session, inv.id)
    assert {k: v for k, v in again.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }


def test_a_return_after_refunds_leaves_what_was_paid_out_owed(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "60.00")
    session.commit()
    got = _settled(client, session, w, factory, "100.00")  # 60 to the invoice, 40 credit
    refund = client.post(
        f"{PAYMENTS}/{got['id']}/refunds",
        json={"amount": "50.00", "reason": "Overpaid"},  # 40 credit + 10 from the invoice
        headers=w.headers | key(),
    )
    assert refund.status_code == 201, refund.text
    assert invoice_balance(session, inv.id) == 1000
    testgw_bank.return_debit(factory, got["gateway_charge_id"], ReturnCode.INSUFFICIENT_FUNDS)
    deliver(client, factory)
    assert get(client, w, got["id"])["status"] == "returned"
    # The invoice owes what it did before the payment, never more; credit is not negative;
    # the 50.00 paid out of a payment that bounced is owed by the patient outside any invoice.
    assert invoice_balance(session, inv.id) == 6000
    assert balance(session, AccountCode.PATIENT_CREDIT, patient_id=w.patient.id) == 0
    assert (
        balance(session, AccountCode.PATIENT_AR, patient_id=w.patient.id, invoice_id=None) == 5000
    )
    assert balance(session, AccountCode.PATIENT_AR, patient_id=w.patient.id) == 11000
    kinds = sorted(session.scalars(select(JournalEntry.kind)).all())
    assert kinds == [
        "invoice.issue",
        "payment",
        "payment.return",
        "payment.return",
        "refund",
        "refund.payout",
    ]
    again = client.post(
        f"{PAYMENTS}/{got['id']}/refunds",
        json={"amount": "1.00", "reason": "Overpaid"},
        headers=w.headers | key(),
    )
    assert_problem(again, 409, "refund.payment_returned")


def test_refunds_wait_for_settlement(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    w.invoice("open", "60.00")
    session.commit()
    body = start(client, w, amount="20.00")
    before = snapshot(session)
    r = client.post(
        f"{PAYMENTS}/{body['id']}/refunds",
        json={"amount": "5.00", "reason": "Overpaid"},
        headers=w.headers | key(),
    )
    assert_problem(r, 409, "refund.payment_not_settled")
    after = snapshot(session)
    assert {k: v for k, v in after.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"
    }
    assert count(session, "refunds") == 0
    settle(factory, client)
    ok = client.post(
        f"{PAYMENTS}/{body['id']}/refunds",
        json={"amount": "5.00", "reason": "Overpaid"},
        headers=w.headers | key(),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["status"] == "paid"


def test_bank_debits_require_an_idempotency_key(
    client: TestClient, session: Session, w: World
) -> None:
    w.invoice("open")
    session.commit()
    token = bank_tokenize(client)
    before = snapshot(session)
    r = client.post(PAYMENTS, json=bank_json(w.patient.id, token), headers=w.headers)
    assert_problem(r, 428, "payment.idempotency_key_required")
    assert snapshot(session) == before
    assert count(session, "testgw_bank_debits") == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"account_number": ACCOUNTS["settles"], "routing_number": ROUTING},
        {"routing_number": ROUTING},
        {"bank_account": {"number": "000123456789"}},
    ],
)
def test_raw_bank_accounts_are_refused(
    client: TestClient, session: Session, w: World, extra: dict[str, Any]
) -> None:
    before = snapshot(session)
    payload = {"patient_id": str(w.patient.id), "amount": "10.00", "method": "bank_transfer"}
    r = client.post(PAYMENTS, json=payload | extra, headers=w.headers | key())
    assert_problem(r, 422, "payment.bank_account_refused")
    assert ACCOUNTS["settles"] not in r.text
    assert snapshot(session) == before


def test_refused_requests_write_nothing(client: TestClient, session: Session, w: World) -> None:
    inv = w.invoice("open", "30.00")
    void = w.invoice("void", "30.00")
    session.commit()
    token = bank_tokenize(client)
    before = snapshot(session, inv.id)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (bank_json(w.patient.id, "btok_unknown00000"), 400, "payment.token_refused"),
        (bank_json(w.patient.id, token, currency="EUR"), 400, "payment.currency_mismatch"),
        (
            bank_json(
                w.patient.id,
                token,
                "10.00",
                allocations=[{"invoice_id": str(void.id), "amount": "10.00"}],
            ),
            409,
            "invoice.voided",
        ),
        (
            bank_json(
                w.patient.id,
                token,
                "50.00",
                allocations=[{"invoice_id": str(inv.id), "amount": "50.00"}],
            ),
            409,
            "payment.exceeds_balance",
        ),
        ({**bank_json(w.patient.id, token), "method": "card"}, 422, "payment.token_not_for_method"),
        (bank_json(w.patient.id, "tok_notabanktoken0"), 422, "request.validation"),
    ]
    for body, status, code in cases:
        r = client.post(PAYMENTS, json=body, headers=w.headers | key())
        assert r.status_code == status, (code, r.text)
        if code != "request.validation":
            assert r.json()["code"] == code, r.text
    for amount in ("0.00", "-5.00"):
        r = client.post(
            PAYMENTS, json=bank_json(w.patient.id, token, amount), headers=w.headers | key()
        )
        assert r.status_code in (400, 422), r.text
    after = snapshot(session, inv.id)
    assert {k: v for k, v in after.items() if k != "security_events"} == {
        k: v for k, v in before.items() if k != "security_events"
    }
    assert count(session, "testgw_bank_debits") == 0


def test_a_practice_not_billing_in_dollars_cannot_take_bank_debits(
    client: TestClient, session: Session
) -> None:
    practice = make_practice(session, currency="EUR")
    patient = make_patient(session, practice)
    clerk = make_user(session, "billing_staff", practices=[practice])
    session.flush()
    headers = {"Authorization": f"Bearer {token_for(session, clerk)}"}
    session.commit()
    before = snapshot(session)
    r = client.post(
        PAYMENTS, json=bank_json(patient.id, bank_tokenize(client)), headers=headers | key()
    )
    assert_problem(r, 400, "payment.bank_currency_unsupported")
    assert snapshot(session) == before


def test_timeout_is_recovered_without_a_second_debit(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    inv = w.invoice("open", "125.00")
    session.commit()
    token = bank_tokenize(client, "timeout")
    headers = w.headers | key()
    r = client.post(PAYMENTS, json=bank_json(w.patient.id, token, "25.00"), headers=headers)
    assert r.status_code == 202, r.text
    assert (r.json()["status"], r.json()["gateway_charge_id"]) == ("pending", None)
    again = client.post(PAYMENTS, json=bank_json(w.patient.id, token, "25.00"), headers=headers)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (202, "true")
    gw = TestGateway(factory)
    # Card recovery leaves bank payments alone (it would not find a card charge for them).
    assert recover_pending(factory, gw, older_than=dt.timedelta(0)) == {}
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(seconds=60)) == {}
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"pending": 1}
    assert get(client, w, r.json()["id"])["gateway_charge_id"].startswith("py_")
    testgw_bank.settle(factory, today() + LATER)
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"succeeded": 1}
    assert count(session, "testgw_bank_debits") == 1
    assert invoice_balance(session, inv.id) == 10000


def test_recovery_fails_a_bank_payment_the_gateway_never_saw(
    session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    session.add(
        Payment(
            practice_id=w.practice.id,
            patient_id=w.patient.id,
            method="bank_transfer",
            amount_minor=100,
            currency="USD",
            received_on=dt.date(2026, 11, 1),
            status="pending",
            gateway_provider="testgw",
            gateway_idempotency_key="rc_never_sent_bank",
        )
    )
    session.commit()
    gw = TestGateway(factory)
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"failed": 1}
    assert session.scalar(select(Payment.decline_code)) == "not_charged"


@pytest.mark.committed
def test_concurrent_identical_bank_debits_debit_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    headers, patient_id = _world(factory)
    app = create_app(conftest.test_settings(url), session_factory=factory)
    token = bank_tokenize(TestClient(app))
    n = 24
    barrier = threading.Barrier(n)
    body = bank_json(patient_id, token, "40.00")
    idem = {"Idempotency-Key": "ach-burst-1"}

    def fire(_: int) -> httpx.Response:
        c = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return c.post(PAYMENTS, json=body, headers=headers | idem)

    with ThreadPoolExecutor(max_workers=n) as pool:
        responses = list(pool.map(fire, range(n)))

    statuses = sorted(r.status_code for r in responses)
    assert all(r.status_code in (202, 409) for r in responses), statuses
    accepted = [r for r in responses if r.status_code == 202]
    assert accepted
    assert len({r.content for r in accepted}) == 1
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, 409, "idempotency.in_progress")
    testgw_bank.settle(factory, today() + LATER)
    gw = TestGateway(factory)
    assert recover_pending_bank(factory, gw, older_than=dt.timedelta(0)) == {"succeeded": 1}
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(TestgwBankDebit)) == 1
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        kinds = s.scalars(select(JournalEntry.kind)).all()
        assert sorted(kinds) == ["invoice.issue", "payment"]
        assert balance(s, AccountCode.CARD_CLEARING) == 4000
        report = integrity.run(s)
        assert report.ok, report.violations
    again = TestClient(app).post(PAYMENTS, json=body, headers=headers | idem)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (202, "true")
    assert again.content == accepted[0].content
