"""Recording payments: oldest-due-first auto allocation, explicit allocations, patient credit, the
ledger entry, every refusal (nothing written), visibility, and concurrent payers."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.integrity import service as integrity
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import InvoiceVoid
from revcycle.invoices.service import void_invoice
from revcycle.kit.clock import today
from revcycle.ledger.models import JournalEntry
from revcycle.ledger.repository import LedgerRepository
from revcycle.payments import service
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.payments.schemas import PaymentCreate
from tests.factories.auth import make_user, principal
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import World, pay, priced, snapshot, stored_status

D = dt.date


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def split(view: service.PaymentView) -> list[tuple[uuid.UUID, int]]:
    return [(a.invoice_id, a.amount_minor) for a in view.allocations]


def entry_postings(session: Session, entry_id: uuid.UUID) -> list[tuple[str, int, bool, bool]]:
    repo = LedgerRepository(session)
    entry = repo.get_entry(entry_id)
    assert entry is not None
    codes = {v: k for k, v in repo.account_ids(entry.practice_id).items()}
    return sorted(
        (codes[p.account_id], p.amount_minor, p.patient_id is not None, p.invoice_id is not None)
        for p in repo.postings_of(entry_id)
    )


@pytest.fixture
def three(session: Session, w: World) -> dict[str, Invoice]:
    """Three open invoices whose due order (B, A, C) differs from their number order (A, B, C),
    plus a draft, a void and a paid invoice that auto allocation must skip."""
    made = {
        # INV-000001: 100.00 due 2026-03-31
        "A": make_invoice(session, w.patient, lines=priced("100.00"), issue_date=D(2026, 3, 1)),
        # INV-000002: 60.00 due on receipt 2026-02-01
        "B": make_invoice(
            session,
            w.patient,
            lines=priced("60.00"),
            issue_date=D(2026, 2, 1),
            terms="due_on_receipt",
        ),
        # INV-000003: 80.00 due 2026-04-15
        "C": make_invoice(
            session,
            w.patient,
            lines=priced("80.00"),
            issue_date=D(2026, 4, 1),
            terms="fixed_date",
            due_date=D(2026, 4, 15),
        ),
        "draft": w.invoice("draft", "500.00"),
        "void": w.invoice("void", "500.00"),
        "paid": w.invoice("paid", "30.00"),
    }
    session.flush()
    assert [made[k].due_date for k in "ABC"] == [D(2026, 3, 31), D(2026, 2, 1), D(2026, 4, 15)]
    return made


# auto allocation ---------------------------------------------------------------------------------


def test_auto_allocation_pays_the_oldest_due_first(
    session: Session, w: World, three: dict[str, Invoice]
) -> None:
    a, b, c = three["A"], three["B"], three["C"]
    view = pay(session, w.patient, "200.00")
    assert split(view) == [(b.id, 6000), (a.id, 10000), (c.id, 4000)]
    p = view.payment
    assert (p.amount_minor, p.unapplied_minor, p.currency, p.method) == (20000, 0, "USD", "cash")
    assert p.received_on == today()
    assert [stored_status(session, i.id) for i in (a, b, c)] == ["paid", "paid", "partially_paid"]
    assert entry_postings(session, p.entry_id) == [
        ("1000", 20000, False, False),
        ("1200", -10000, True, True),
        ("1200", -6000, True, True),
        ("1200", -4000, True, True),
    ]
    entry = session.get(JournalEntry, p.entry_id)
    assert entry is not None
    assert (entry.kind, entry.source_type, entry.source_id) == ("payment", "payment", p.id)
    # the others were skipped
    for name in ("draft", "void", "paid"):
        assert stored_status(session, three[name].id) == name


def test_auto_allocation_remainder_becomes_patient_credit(
    session: Session, w: World, three: dict[str, Invoice]
) -> None:
    view = pay(session, w.patient, "250.00", method="card")
    assert split(view) == [(three["B"].id, 6000), (three["A"].id, 10000), (three["C"].id, 8000)]
    assert view.payment.unapplied_minor == 1000
    assert entry_postings(session, view.payment.entry_id) == [
        ("1010", 25000, False, False),  # card money in the clearing account
        ("1200", -10000, True, True),
        ("1200", -8000, True, True),
        ("1200", -6000, True, True),
        ("2100", -1000, True, False),  # 10.00 held as patient credit
    ]
    assert LedgerRepository(session).patient_balances(w.patient.id) == (0, 1000)
    # A later payment with nothing open is all credit.
    later = pay(session, w.patient, "5.00", method="check")
    assert (split(later), later.payment.unapplied_minor) == ([], 500)
    assert entry_postings(session, later.payment.entry_id) == [
        ("1000", 500, False, False),
        ("2100", -500, True, False),
    ]
    assert LedgerRepository(session).patient_balances(w.patient.id) == (0, 1500)


def test_auto_allocation_continues_a_partially_paid_invoice(
    session: Session, w: World, three: dict[str, Invoice]
) -> None:
    pay(session, w.patient, "100.00")  # B 60.00 paid, A 40.00 of 100.00
    assert stored_status(session, three["A"].id) == "partially_paid"
    view = pay(session, w.patient, "70.00")
    assert split(view) == [(three["A"].id, 6000), (three["C"].id, 1000)]


def test_equal_due_dates_go_by_invoice_number(session: Session, w: World) -> None:
    first = make_invoice(session, w.patient, lines=priced("10.00"), issue_date=D(2026, 5, 1))
    second = make_invoice(session, w.patient, lines=priced("10.00"), issue_date=D(2026, 5, 1))
    session.flush()
    view = pay(session, w.patient, "15.00")
    assert split(view) == [(first.id, 1000), (second.id, 500)]


def test_other_patients_invoices_are_never_touched(session: Session, w: World) -> None:
    other = make_patient(session, w.practice, first_name="Sam")
    theirs = w.invoice("open", patient=other)
    view = pay(session, w.patient, "20.00")
    assert (split(view), view.payment.unapplied_minor) == ([], 2000)
    assert stored_status(session, theirs.id) == "open"


def test_a_past_receipt_date_is_the_entry_date(session: Session, w: World) -> None:
    w.invoice("open")
    view = pay(session, w.patient, "10.00", received_on=D(2026, 6, 30), reference="CHK 1001")
    entry = session.get(JournalEntry, view.payment.entry_id)
    assert entry is not None
    assert (entry.effective_date, view.payment.reference) == (D(2026, 6, 30), "CHK 1001")


# explicit allocations ----------------------------------------------------------------------------


def test_explicit_allocations_with_the_rest_as_credit(
    session: Session, w: World, three: dict[str, Invoice]
) -> None:
    a, c = three["A"], three["C"]
    view = pay(session, w.patient, "100.00", [(c, "30.00"), (a, "50.00")], method="bank_transfer")
    assert split(view) == [(c.id, 3000), (a.id, 5000)]
    assert view.payment.unapplied_minor == 2000
    assert [stored_status(session, i.id) for i in (a, three["B"], c)] == [
        "partially_paid",
        "open",
        "partially_paid",
    ]
    rows = session.execute(
        select(PaymentAllocation.invoice_id, PaymentAllocation.amount_minor).where(
            PaymentAllocation.payment_id == view.payment.id
        )
    ).all()
    assert sorted(rows) == sorted([(c.id, 3000), (a.id, 5000)])


def test_empty_allocations_make_it_all_credit(session: Session, w: World) -> None:
    inv = w.invoice("open")
    view = pay(session, w.patient, "40.00", [])
    assert (split(view), view.payment.unapplied_minor) == ([], 4000)
    assert stored_status(session, inv.id) == "open"


def test_allocation_of_the_exact_balance_pays_it(session: Session, w: World) -> None:
    inv = w.invoice("partially_paid")
    view = pay(session, w.patient, "75.00", [(inv, "75.00")])
    assert (split(view), view.payment.unapplied_minor) == ([(inv.id, 7500)], 0)
    assert stored_status(session, inv.id) == "paid"


# refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "amount", "share", "status", "code"),
    [
        ("void", "10.00", "10.00", 409, "invoice.voided"),
        ("paid", "10.00", "10.00", 409, "invoice.already_paid"),
        ("draft", "10.00", "10.00", 409, "invoice.not_issued"),
        ("written_off", "10.00", "10.00", 409, "invoice.written_off"),
        ("open", "200.00", "125.01", 409, "payment.exceeds_balance"),
        ("partially_paid", "80.00", "75.01", 409, "payment.exceeds_balance"),
        ("open", "10.00", "10.01", 400, "payment.allocations_exceed_amount"),
        ("open", "10.00", "10.001", 400, "money.too_many_decimals"),
    ],
)
def test_refused_allocations_write_nothing(
    session: Session, w: World, state: str, amount: str, share: str, status: int, code: str
) -> None:
    inv = w.invoice(state)
    before = snapshot(session, inv.id)
    with pytest.raises(DomainError) as exc:
        pay(session, w.patient, amount, [(inv, share)])
    assert (exc.value.status, exc.value.code) == (status, code)
    assert snapshot(session, inv.id) == before


def test_allocations_summing_above_the_amount(session: Session, w: World) -> None:
    a, b = w.invoice("open"), w.invoice("open")
    before = snapshot(session, a.id, b.id)
    with pytest.raises(DomainError) as exc:
        pay(session, w.patient, "100.00", [(a, "60.00"), (b, "40.01")])
    assert (exc.value.status, exc.value.code) == (400, "payment.allocations_exceed_amount")
    assert snapshot(session, a.id, b.id) == before


def test_exceeds_balance_names_the_invoice(session: Session, w: World) -> None:
    inv = w.invoice("partially_paid")
    with pytest.raises(DomainError) as exc:
        pay(session, w.patient, "80.00", [(inv, "75.01")])
    assert exc.value.data == {"invoice_id": str(inv.id), "balance": "75.00"}


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"currency": "EUR"}, 400, "payment.currency_mismatch"),
        ({"amount": "10.001"}, 400, "money.too_many_decimals"),
        ({"received_on": today() + dt.timedelta(days=1)}, 400, "payment.date_in_future"),
        ({"patient_id": uuid.uuid4()}, 404, "patient.not_found"),
    ],
)
def test_refused_payments_write_nothing(
    session: Session, w: World, extra: dict[str, Any], status: int, code: str
) -> None:
    inv = w.invoice("open")
    before = snapshot(session, inv.id)
    body: dict[str, Any] = {"patient_id": w.patient.id, "amount": "10.00", "method": "cash"}
    body.update(extra)
    with pytest.raises(DomainError) as exc:
        service.record_payment(session, SYSTEM, PaymentCreate.model_validate(body))
    assert (exc.value.status, exc.value.code) == (status, code)
    assert snapshot(session, inv.id) == before


def test_currency_may_be_given_when_it_matches(session: Session, w: World) -> None:
    view = pay(session, w.patient, "1.00", currency="usd")
    assert view.payment.currency == "USD"


@pytest.mark.parametrize("whose", ["other_patient", "unknown"])
def test_allocation_to_an_invoice_not_of_this_patient(
    session: Session, w: World, whose: str
) -> None:
    other = make_patient(session, w.practice, first_name="Sam")
    inv = w.invoice("open", patient=other) if whose == "other_patient" else Invoice(id=uuid.uuid4())
    before = snapshot(session)
    with pytest.raises(DomainError) as exc:
        pay(session, w.patient, "10.00", [(inv, "10.00")])
    assert (exc.value.status, exc.value.code) == (404, "invoice.not_found")
    assert snapshot(session) == before


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "0"},
        {"amount": "-5.00"},
        {"amount": 12.5},
        {"method": "bitcoin"},
        {"allocations": "dup"},
        {"surprise": True},
    ],
)
def test_schema_refusals(w: World, body: dict[str, Any]) -> None:
    data: dict[str, Any] = {"patient_id": w.patient.id, "amount": "10.00", "method": "cash"}
    data.update(body)
    if body.get("allocations") == "dup":
        inv_id = uuid.uuid4()
        data["allocations"] = [
            {"invoice_id": inv_id, "amount": "1.00"},
            {"invoice_id": inv_id, "amount": "2.00"},
        ]
    with pytest.raises(ValidationError):
        PaymentCreate.model_validate(data)


# access ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["insurance_specialist", "patient"])
def test_only_billing_roles_record_payments(session: Session, w: World, role: str) -> None:
    user = make_user(
        session,
        role,
        practices=[w.practice] if role != "patient" else [],
        patient=w.patient if role == "patient" else None,
    )
    session.flush()
    actor = principal(session, user)
    before = snapshot(session)
    body = PaymentCreate.model_validate(
        {"patient_id": w.patient.id, "amount": "10.00", "method": "cash"}
    )
    with pytest.raises(DomainError) as exc:
        service.record_payment(session, actor, body)
    assert (exc.value.status, exc.value.code) == (403, "auth.forbidden")
    assert snapshot(session) == before


def test_payment_visibility(session: Session, w: World) -> None:
    mine = pay(session, w.patient, "10.00").payment
    sibling = make_patient(session, w.practice, first_name="Sam")
    theirs = pay(session, sibling, "20.00").payment
    elsewhere = make_practice(session)
    far = pay(session, make_patient(session, elsewhere), "30.00").payment
    patient_user = make_user(session, "patient", patient=w.patient)
    clerk = make_user(session, "billing_staff", practices=[w.practice])
    session.flush()
    me, staff = principal(session, patient_user), principal(session, clerk)

    def listed(actor: Any, **kw: Any) -> set[uuid.UUID]:
        kw = {"patient_id": None, "practice_id": None, "cursor": None, "limit": 50} | kw
        return {v.payment.id for v in service.list_payments(session, actor, **kw).items}

    assert listed(me) == {mine.id}
    assert listed(staff) == {mine.id, theirs.id}
    assert listed(staff, patient_id=sibling.id) == {theirs.id}
    assert listed(SYSTEM) == {mine.id, theirs.id, far.id}
    assert service.get_payment(session, me, mine.id).payment.id == mine.id
    for actor, pid in [(me, theirs.id), (staff, far.id), (me, uuid.uuid4())]:
        with pytest.raises(DomainError) as exc:
            service.get_payment(session, actor, pid)
        assert (exc.value.status, exc.value.code) == (404, "payment.not_found")


def test_payment_of_a_voided_invoice_after_void(session: Session, w: World) -> None:
    """Void then try to pay by auto allocation: the void invoice is skipped, money is credit."""
    inv = w.invoice("open")
    void_invoice(session, SYSTEM, inv.id, InvoiceVoid(reason="x"))
    view = pay(session, w.patient, "125.00")
    assert (split(view), view.payment.unapplied_minor) == ([], 12500)


def test_payment_right_after_issue_in_the_same_unit_of_work(session: Session, w: World) -> None:
    """Services only flush, so one transaction may issue an invoice and take its payment (a CLI
    import, a job): the payment must find the invoice open."""
    inv = make_invoice(session, w.patient, lines=priced("10.00"))  # no flush, as in one UoW
    view = pay(session, w.patient, "10.00")
    assert (split(view), view.payment.unapplied_minor) == ([(inv.id, 1000)], 0)


# concurrency -------------------------------------------------------------------------------------


@pytest.mark.committed
def test_concurrent_payers_never_over_allocate(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        inv = make_invoice(s, patient, lines=priced("125.00"))
    barrier = threading.Barrier(10)

    def one(_: int) -> tuple[int, int]:
        barrier.wait()
        with unit_of_work(factory) as s:
            view = service.record_payment(
                s,
                SYSTEM,
                PaymentCreate.model_validate(
                    {"patient_id": patient.id, "amount": "20.00", "method": "cash"}
                ),
            )
            return sum(a.amount_minor for a in view.allocations), view.payment.unapplied_minor

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(10)))

    assert sum(applied for applied, _ in results) == 12500
    assert sum(credit for _, credit in results) == 7500
    assert sorted(results) == [(0, 2000)] * 3 + [(500, 1500)] + [(2000, 0)] * 6
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 10
        assert s.scalar(select(Invoice.status).where(Invoice.id == inv.id)) == "paid"
        assert LedgerRepository(s).patient_balances(patient.id) == (0, 7500)
        report = integrity.run(s)
        assert report.ok, report.violations
