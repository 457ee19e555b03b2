"""integrity.run() (`revcycle check`): clean on a real scenario, and it notices every kind of drift.

Each corruption happens inside a SAVEPOINT that is rolled back once the report is taken, so the
integrity check the conftest runs after every test still sees a clean database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices
from revcycle.invoices.models import Invoice, InvoiceSequence
from revcycle.invoices.schemas import CreditNoteCreate, InvoiceVoid, WriteOffCreate
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import JournalEntry
from revcycle.patients.models import Patient
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.practices.models import Practice
from tests.factories.invoices import make_invoice
from tests.factories.ledger import charge, post, raw_entry, usd
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

INVOICES = Invoice.__table__
SEQUENCES = InvoiceSequence.__table__
PAYMENTS = Payment.__table__


@contextmanager
def corrupted(session: Session) -> Iterator[None]:
    """Run the body in a SAVEPOINT and roll it back afterwards, whatever happens."""
    session.flush()
    nested = session.begin_nested()
    try:
        yield
    finally:
        nested.rollback()
        session.expire_all()


def check(session: Session) -> list[str]:
    session.flush()
    session.expire_all()  # see what the database holds, not the identity map
    return integrity.run(session).violations


def pay(
    session: Session,
    patient: Patient,
    amount: str,
    invoice: Invoice | None = None,
    *,
    applied: str | None = None,
) -> Payment:
    allocations = (
        None if invoice is None else [{"invoice_id": invoice.id, "amount": applied or amount}]
    )
    return payments.record_payment(
        session,
        SYSTEM,
        PaymentCreate.model_validate(
            {
                "patient_id": patient.id,
                "amount": Decimal(amount),
                "method": "cash",
                "received_on": dt.date(2026, 1, 6),
                "allocations": allocations,
            }
        ),
    ).payment


def open_invoice(session: Session) -> tuple[Practice, Patient, Invoice]:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    invoice = make_invoice(session, patient, issue_date=dt.date(2026, 1, 5))
    assert (invoice.display_number, invoice.status, invoice.total_minor) == (
        "INV-000001",
        "open",
        12500,
    )
    return practice, patient, invoice


# a clean scenario --------------------------------------------------------------------------------


def test_clean_scenario_is_ok(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    kw = {"issue_date": dt.date(2026, 1, 5)}
    partly = make_invoice(session, patient, **kw)
    pay(session, patient, "50.00", partly)
    settled = make_invoice(session, patient, **kw)
    pay(
        session, patient, "135.00", settled, applied="125.00"
    )  # 10.00 more than owed becomes patient credit
    voided = make_invoice(session, patient, **kw)
    invoices.void_invoice(session, SYSTEM, voided.id, InvoiceVoid(reason="duplicate"))
    written = make_invoice(session, patient, **kw)
    invoices.add_credit_note(
        session,
        SYSTEM,
        written.id,
        CreditNoteCreate(amount=Decimal("25.00"), reason_code="courtesy"),  # type: ignore[arg-type]
    )
    invoices.write_off_invoice(
        session,
        SYSTEM,
        written.id,
        WriteOffCreate(reason_code="bad_debt"),  # type: ignore[arg-type]
    )
    make_invoice(session, patient, issue=False)
    session.flush()
    assert [i.status for i in (partly, settled, voided, written)] == [
        "partially_paid",
        "paid",
        "void",
        "written_off",
    ]

    report = integrity.run(session)
    assert report.violations == []
    assert report.ok is True
    n_entries = session.scalar(select(func.count()).select_from(JournalEntry))
    n_reversals = session.scalar(
        select(func.count()).select_from(JournalEntry).where(JournalEntry.reverses_id.is_not(None))
    )
    assert report.checked == {
        "journal_entries": n_entries,
        "reversals": n_reversals,
        "invoices": 5,
        "payments": 2,
        "refunds": 0,
    }
    assert n_reversals == 1


def test_empty_database_is_ok(session: Session) -> None:
    report = integrity.run(session)
    assert report.ok
    assert report.checked == {
        "journal_entries": 0,
        "reversals": 0,
        "invoices": 0,
        "payments": 0,
        "refunds": 0,
    }


# invoice drift -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"status": "paid"}, "invoice INV-000001 is 'paid' but the ledger says 'open'"),
        (
            {"status": "partially_paid"},
            "invoice INV-000001 is 'partially_paid' but the ledger says 'open'",
        ),
        ({"total_minor": 12600}, "invoice INV-000001: total 12600 but ledger charged 12500"),
        ({"status": "void"}, "void invoice INV-000001 still has balance 12500"),
        ({"status": "draft"}, "draft invoice INV-000001 has ledger postings"),
        ({"status": "written_off"}, "written-off invoice INV-000001 still has balance 12500"),
    ],
)
def test_invoice_drift_is_reported(
    session: Session, values: dict[str, object], expected: str
) -> None:
    _, _, invoice = open_invoice(session)
    assert check(session) == []
    with corrupted(session):
        session.execute(update(INVOICES).where(INVOICES.c.id == invoice.id).values(**values))
        assert check(session) == [expected]
    assert check(session) == []


def test_paid_invoice_reopened_is_reported(session: Session) -> None:
    _, patient, invoice = open_invoice(session)
    pay(session, patient, "125.00", invoice)
    session.flush()
    assert invoice.status == "paid"
    with corrupted(session):
        session.execute(update(INVOICES).where(INVOICES.c.id == invoice.id).values(status="open"))
        assert check(session) == ["invoice INV-000001 is 'open' but the ledger says 'paid'"]


# numbering ---------------------------------------------------------------------------------------


def test_sequence_bumped_is_a_gap(session: Session) -> None:
    practice, _, _ = open_invoice(session)
    with corrupted(session):
        session.execute(
            update(SEQUENCES).where(SEQUENCES.c.practice_id == practice.id).values(last_number=2)
        )
        assert check(session) == [f"practice {practice.id}: invoice numbers are not exactly 1..2"]


def test_renumbered_invoice_is_a_gap(session: Session) -> None:
    practice, _, invoice = open_invoice(session)
    with corrupted(session):
        session.execute(update(INVOICES).where(INVOICES.c.id == invoice.id).values(number=7))
        assert check(session) == [f"practice {practice.id}: invoice numbers are not exactly 1..1"]


# ledger ------------------------------------------------------------------------------------------


def test_unbalanced_entry_is_reported(session: Session) -> None:
    """SQLite has no deferred trigger: an entry written around ledger.service is caught here (on
    PostgreSQL the trigger would refuse it at COMMIT; before that the check sees it too)."""
    practice = make_practice(session)
    with corrupted(session):
        entry_id = raw_entry(
            session,
            practice.id,
            [(AccountCode.PATIENT_AR, 100, "USD"), (AccountCode.CASH, -99, "USD")],
        )
        assert check(session) == [
            f"journal entry {entry_id} is off by 1 in USD",
            "the ledger does not balance in USD: 1",
        ]


@pytest.mark.parametrize("n_postings", [0, 1])
def test_short_entry_is_reported(session: Session, n_postings: int) -> None:
    practice = make_practice(session)
    with corrupted(session):
        entry_id = raw_entry(
            session, practice.id, [(AccountCode.PATIENT_AR, 100, "USD")][:n_postings]
        )
        expected = [f"journal entry {entry_id} has {n_postings} postings (needs >= 2)"]
        if n_postings == 1:
            expected = [
                f"journal entry {entry_id} is off by 100 in USD",
                *expected,
                "the ledger does not balance in USD: 100",
            ]
        assert check(session) == expected


def test_inexact_reversal_is_reported(session: Session) -> None:
    practice = make_practice(session)
    original = charge(session, practice, 500)
    with corrupted(session):
        reversal = raw_entry(
            session,
            practice.id,
            [(AccountCode.PATIENT_AR, -400, "USD"), (AccountCode.SERVICE_REVENUE, 400, "USD")],
            reverses_id=original,
        )
        assert check(session) == [f"reversal {reversal} does not exactly negate entry {original}"]


def test_exact_reversal_is_ok(session: Session) -> None:
    practice = make_practice(session)
    original = charge(session, practice, 500)
    ledger.reverse_entry(
        session,
        original,
        kind="test.reversal",
        effective_date=dt.date(2026, 1, 11),
        created_by=None,
    )
    report = integrity.run(session)
    assert report.violations == []
    assert report.checked["reversals"] == 1


# payments and patient credit ---------------------------------------------------------------------


def test_payment_split_drift_is_reported(session: Session) -> None:
    _, patient, invoice = open_invoice(session)
    payment = pay(session, patient, "50.00", invoice)
    assert (payment.amount_minor, payment.unapplied_minor) == (5000, 0)
    with corrupted(session):
        session.execute(
            update(PAYMENTS).where(PAYMENTS.c.id == payment.id).values(unapplied_minor=5)
        )
        assert check(session) == [f"payment {payment.id}: 5000 allocated + 5 credit != 5000"]


def test_negative_patient_credit_is_reported(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    with corrupted(session):
        post(
            session,
            practice,
            [
                ledger.debit(AccountCode.PATIENT_CREDIT, usd(100), patient_id=patient.id),
                ledger.credit(AccountCode.CASH, usd(100)),
            ],
        )
        assert check(session) == [f"patient {patient.id} has negative credit 100"]


def test_several_problems_are_all_reported(session: Session) -> None:
    practice, _, invoice = open_invoice(session)
    steps: list[Callable[[], object]] = [
        lambda: session.execute(
            update(INVOICES).where(INVOICES.c.id == invoice.id).values(status="paid")
        ),
        lambda: session.execute(
            update(SEQUENCES).where(SEQUENCES.c.practice_id == practice.id).values(last_number=3)
        ),
    ]
    with corrupted(session):
        for step in steps:
            step()
        assert check(session) == [
            "invoice INV-000001 is 'paid' but the ledger says 'open'",
            f"practice {practice.id}: invoice numbers are not exactly 1..3",
        ]


def test_report_uses_invoice_id_when_unnumbered(session: Session) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    draft = make_invoice(session, patient, issue=False)
    assert draft.display_number is None
    with corrupted(session):
        post(
            session,
            practice,
            [
                ledger.debit(AccountCode.PATIENT_AR, usd(100), invoice_id=draft.id),
                ledger.credit(AccountCode.SERVICE_REVENUE, usd(100), invoice_id=draft.id),
            ],
            kind="invoice.issue",
        )
        assert check(session) == [f"draft invoice {draft.id} has ledger postings"]
    assert uuid.UUID(str(draft.id))
