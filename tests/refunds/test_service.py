"""Refunds: which money is taken back (credit first, then invoice allocations newest first), the
ledger postings of every step, invoices reopening, every refusal (nothing written) and two
concurrent refunds of one payment."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import WriteOffCreate
from revcycle.kit.clock import today
from revcycle.ledger import service as ledger
from revcycle.ledger.repository import LedgerRepository
from revcycle.payments.models import PaymentAllocation
from revcycle.refunds import calc
from revcycle.refunds.models import Refund, RefundPart
from revcycle.refunds.service import RefundView
from tests.factories.auth import make_user, principal
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import World, pay, priced
from tests.refunds.helpers import balances, entry_legs, full_snapshot, refund


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


@pytest.fixture
def paid(session: Session, w: World) -> dict[str, Any]:
    """A 300.00 cash payment: 100.00 to invoice A (paid), then 150.00 to invoice B (paid), and
    50.00 patient credit."""
    a = make_invoice(session, w.patient, lines=priced("100.00"))
    b = make_invoice(session, w.patient, lines=priced("150.00"))
    view = pay(session, w.patient, "300.00", [(a, "100.00"), (b, "150.00")])
    assert balances(session, a, b) == [("paid", 0), ("paid", 0)]
    return {"a": a, "b": b, "payment": view.payment}


def test_plan_takes_credit_first_then_allocations_newest_first() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert calc.plan_refund(3000, 5000, [(a, 10000), (b, 15000)]) == [(None, 3000)]
    assert calc.plan_refund(8000, 5000, [(a, 10000), (b, 15000)]) == [(None, 5000), (b, 3000)]
    assert calc.plan_refund(30000, 5000, [(a, 10000), (b, 15000)]) == [
        (None, 5000),
        (b, 15000),
        (a, 10000),
    ]
    assert calc.plan_refund(100, 0, [(a, 0), (b, 100)]) == [(b, 100)]
    with pytest.raises(ValueError, match="exceeds"):
        calc.plan_refund(30001, 5000, [(a, 10000), (b, 15000)])
    with pytest.raises(ValueError, match="positive"):
        calc.plan_refund(0, 5000, [])


def test_partial_then_full_refund(session: Session, w: World, paid: dict[str, Any]) -> None:
    a, b, payment = paid["a"], paid["b"], paid["payment"]
    ledger_repo = LedgerRepository(session)
    assert ledger_repo.patient_balances(w.patient.id) == (0, 5000)

    # 1. 80.00: all 50.00 credit, then 30.00 of invoice B (applied last) -> B reopens
    first = refund(session, SYSTEM, payment.id, "80.00", reason="Overpaid")
    assert isinstance(first, RefundView)
    assert (first.refund.amount_minor, first.refund.status, first.refund.method) == (
        8000,
        "paid",
        "cash",
    )
    assert [(p.invoice_id, p.amount_minor) for p in first.parts] == [(None, 5000), (b.id, 3000)]
    assert entry_legs(session, first.refund.entry_id) == [
        ("1200", 3000, f"invoice:{b.number}"),
        ("2100", 5000, "patient"),
        ("2200", -8000, "patient"),
    ]
    assert first.refund.payout_entry_id is not None
    assert entry_legs(session, first.refund.payout_entry_id) == [
        ("1000", -8000, None),
        ("2200", 8000, "patient"),
    ]
    assert balances(session, a, b) == [("paid", 0), ("partially_paid", 3000)]
    assert ledger_repo.patient_balances(w.patient.id) == (3000, 0)

    # 2. the remaining 220.00: 120.00 of B, then 100.00 of A -> both open again
    second = refund(session, SYSTEM, payment.id, "220.00")
    assert isinstance(second, RefundView)
    assert [(p.invoice_id, p.amount_minor) for p in second.parts] == [
        (b.id, 12000),
        (a.id, 10000),
    ]
    assert entry_legs(session, second.refund.entry_id) == sorted(
        [
            ("1200", 12000, f"invoice:{b.number}"),
            ("1200", 10000, f"invoice:{a.number}"),
            ("2200", -22000, "patient"),
        ]
    )
    assert balances(session, a, b) == [("open", 10000), ("open", 15000)]
    assert ledger_repo.patient_balances(w.patient.id) == (25000, 0)

    # 3. nothing is left
    before = full_snapshot(session, a.id, b.id)
    with pytest.raises(DomainError) as exc:
        refund(session, SYSTEM, payment.id, "0.01")
    assert (exc.value.code, exc.value.status) == ("refund.exceeds_refundable", 409)
    assert exc.value.data == {"refundable": "0.00"}
    assert full_snapshot(session, a.id, b.id) == before

    # the cash account is back where it started; the whole ledger balances
    tb = ledger.trial_balance(session, w.practice.id, date_from=None, date_to=today())
    closing = {r.code: r.closing_minor for r in tb.rows}
    assert closing["1000"] == 0
    assert closing["2200"] == 0
    assert closing["2100"] == 0
    assert tb.balanced
    assert session.scalar(select(func.count()).select_from(Refund)) == 2
    assert session.scalar(select(func.count()).select_from(RefundPart)) == 4
    session.flush()
    report = integrity.run(session)
    assert report.ok, report.violations


def test_refund_above_refundable_is_refused(
    session: Session, w: World, paid: dict[str, Any]
) -> None:
    payment = paid["payment"]
    refund(session, SYSTEM, payment.id, "100.00")
    before = full_snapshot(session, paid["a"].id, paid["b"].id)
    with pytest.raises(DomainError) as exc:
        refund(session, SYSTEM, payment.id, "200.01")
    assert (exc.value.code, exc.value.status) == ("refund.exceeds_refundable", 409)
    assert exc.value.data == {"refundable": "200.00"}
    assert full_snapshot(session, paid["a"].id, paid["b"].id) == before


def test_written_off_invoice_is_not_reopened(session: Session, w: World) -> None:
    """A payment's part on an invoice written off since is not refundable."""
    inv = w.invoice("partially_paid", price="125.00")  # 50.00 paid, then written off below
    invoices_service.write_off_invoice(
        session, SYSTEM, inv.id, WriteOffCreate.model_validate({"reason_code": "bad_debt"})
    )
    payment_id = session.scalar(
        select(PaymentAllocation.payment_id).where(PaymentAllocation.invoice_id == inv.id)
    )
    assert payment_id is not None
    before = full_snapshot(session, inv.id)
    with pytest.raises(DomainError) as exc:
        refund(session, SYSTEM, payment_id, "10.00")
    assert (exc.value.code, exc.value.data) == ("refund.exceeds_refundable", {"refundable": "0.00"})
    assert full_snapshot(session, inv.id) == before


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("too_many_decimals", 400, "money.too_many_decimals"),
        ("unknown_payment", 404, "payment.not_found"),
        ("other_practice", 404, "payment.not_found"),
        ("patient_role", 403, "auth.forbidden"),
        ("insurance_role", 403, "auth.forbidden"),
        ("no_key", 400, "idempotency.key_required"),
        ("void_payment", 409, "refund.payment_void"),
        ("card_without_gateway", 409, "refund.method_unavailable"),
    ],
)
def test_refusals_write_nothing(
    session: Session, w: World, paid: dict[str, Any], case: str, status: int, code: str
) -> None:
    payment = paid["payment"]
    actor = principal(session, w.staff)
    amount, key, payment_id = "10.00", "k", payment.id
    if case == "too_many_decimals":
        amount = "10.001"
    elif case == "unknown_payment":
        payment_id = uuid.uuid4()
    elif case == "other_practice":
        other = make_practice(session, name="Elsewhere")
        actor = principal(session, make_user(session, "billing_staff", practices=[other]))
    elif case == "patient_role":
        actor = principal(session, make_user(session, "patient", patient=w.patient))
    elif case == "insurance_role":
        actor = principal(
            session, make_user(session, "insurance_specialist", practices=[w.practice])
        )
    elif case == "no_key":
        key = None
    elif case == "void_payment":
        credit_only = pay(session, w.patient, "20.00", [])
        ledger.reverse_entry(
            session,
            credit_only.payment.entry_id,
            kind="payment.void",
            effective_date=today(),
            created_by=None,
        )
        payment_id = credit_only.payment.id
    elif case == "card_without_gateway":
        payment_id = pay(session, w.patient, "20.00", [], method="card").payment.id
    before = full_snapshot(session, paid["a"].id, paid["b"].id)
    with pytest.raises(DomainError) as exc:
        refund(session, actor, payment_id, amount, key=key)
    assert (exc.value.status, exc.value.code) == (status, code)
    assert full_snapshot(session, paid["a"].id, paid["b"].id) == before


def test_bank_transfer_refund_pays_out_of_clearing(session: Session, w: World) -> None:
    view = pay(session, w.patient, "40.00", [], method="bank_transfer")
    out = refund(session, SYSTEM, view.payment.id, "40.00")
    assert isinstance(out, RefundView)
    assert out.refund.payout_entry_id is not None
    assert entry_legs(session, out.refund.payout_entry_id) == [
        ("1010", -4000, None),
        ("2200", 4000, "patient"),
    ]


def test_concurrent_refunds_only_one_passes(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    """Two refunds of 60.00 against a 100.00 payment at the same moment: exactly one passes."""
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        inv = make_invoice(s, patient, lines=priced("70.00"))
        s.flush()
        payment_id = pay(s, patient, "100.00", [(inv, "70.00")]).payment.id
    n = 4
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                refund(s, SYSTEM, payment_id, "60.00", key=f"k{i}")
            return "refunded"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = sorted(pool.map(one, range(n)))
    assert results == ["refund.exceeds_refundable"] * (n - 1) + ["refunded"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.sum(Refund.amount_minor))) == 6000
        assert s.scalar(select(Invoice.status).where(Invoice.id == inv.id)) == "partially_paid"
        assert LedgerRepository(s).invoice_ar_balances([inv.id]) == {inv.id: 3000}
        assert LedgerRepository(s).patient_balances(patient.id) == (3000, 0)
        report = integrity.run(s)
        assert report.ok, report.violations


def test_integrity_flags_refund_parts_that_do_not_add_up(
    session: Session, w: World, paid: dict[str, Any]
) -> None:
    out = refund(session, SYSTEM, paid["payment"].id, "10.00")
    assert isinstance(out, RefundView)
    session.flush()
    assert integrity.run(session).checked["refunds"] == 1
    with session.begin_nested() as tamper:  # what a database operator could do
        session.add(
            RefundPart(
                refund_id=out.refund.id,
                payment_id=paid["payment"].id,
                invoice_id=None,
                amount_minor=1,
                currency="USD",
                position=9,
            )
        )
        session.flush()
        report = integrity.run(session)
        assert report.violations == [f"refund {out.refund.id}: parts 1001 != amount 1000"]
        tamper.rollback()
    assert integrity.run(session).ok
