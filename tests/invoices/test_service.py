"""Invoice use-cases against the database: drafts, issue, every status transition, every refusal
(with nothing changed), gap-free numbering (also under concurrency) and access rules."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.integrity import service as integrity
from revcycle.invoices import service
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceSequence
from revcycle.invoices.schemas import (
    CreditNoteCreate,
    InvoiceIssue,
    InvoiceUpdate,
    InvoiceVoid,
    WriteOffCreate,
)
from revcycle.kit.clock import today
from revcycle.ledger.models import JournalEntry
from revcycle.ledger.repository import LedgerRepository
from tests.factories.auth import make_user, principal
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_provider, make_service_item
from tests.invoices.helpers import (
    World,
    count,
    entries_of,
    pay,
    priced,
    snapshot,
    stored_status,
)

D = dt.date


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def postings(session: Session, entry_id: uuid.UUID) -> list[tuple[str, int, bool, bool]]:
    """(account code, signed amount, has patient, has invoice) for each posting of an entry."""
    repo = LedgerRepository(session)
    entry = repo.get_entry(entry_id)
    assert entry is not None
    codes = {v: k for k, v in repo.account_ids(entry.practice_id).items()}
    return sorted(
        (codes[p.account_id], p.amount_minor, p.patient_id is not None, p.invoice_id is not None)
        for p in repo.postings_of(entry_id)
    )


def ar_balance(session: Session, invoice: Invoice) -> int:
    return LedgerRepository(session).invoice_ar_balances([invoice.id])[invoice.id]


def credit(session: Session, invoice: Invoice, amount: str, reason: str = "billing_error") -> Any:
    return service.add_credit_note(
        session,
        SYSTEM,
        invoice.id,
        CreditNoteCreate.model_validate({"amount": amount, "reason_code": reason}),
    )


def write_off(session: Session, invoice: Invoice) -> Invoice:
    return service.write_off_invoice(
        session, SYSTEM, invoice.id, WriteOffCreate.model_validate({"reason_code": "bad_debt"})
    )


def void(session: Session, invoice: Invoice, reason: str = "Entered twice") -> Invoice:
    return service.void_invoice(session, SYSTEM, invoice.id, InvoiceVoid(reason=reason))


def issue(session: Session, invoice: Invoice, on: dt.date | None = None) -> Invoice:
    return service.issue_invoice(session, SYSTEM, invoice.id, InvoiceIssue(issue_date=on))


# drafts ------------------------------------------------------------------------------------------


def test_create_draft_computes_totals_and_posts_nothing(session: Session, w: World) -> None:
    audits = count(session, "audit_events")
    inv = make_invoice(
        session,
        w.patient,
        issue=False,
        lines=[
            line("99213", "125.00"),
            line("36415", "10.00", units=3, discount_amount=Decimal("5.00")),
            line("81002", "10.05", discount_percent=Decimal(50)),
        ],
    )
    session.flush()
    assert (inv.subtotal_minor, inv.discount_minor, inv.total_minor) == (16505, 1003, 15502)
    assert inv.status == "draft"
    assert (inv.number, inv.display_number, inv.issue_date, inv.due_date) == (
        None,
        None,
        None,
        None,
    )
    assert (inv.terms, inv.terms_days, inv.currency) == ("net", 30, "USD")
    assert inv.issue_entry_id is None
    assert entries_of(session, inv.id) == []
    assert count(session, "invoice_lines") == 3
    assert count(session, "audit_events") == audits + 1
    view = service.view(session, inv)
    assert view.figures == service.InvoiceFigures(0, 0, 0, 0, 0)
    assert view.overdue is False


def test_charge_master_price_is_taken_on_the_date_of_service(session: Session, w: World) -> None:
    make_service_item(
        session, w.practice, "99214", "150.00", effective_to=D(2025, 12, 31), description="Old"
    )
    new = make_service_item(
        session, w.practice, "99214", "180.00", effective_from=D(2026, 1, 1), description="New"
    )
    inv = make_invoice(
        session,
        w.patient,
        issue=False,
        lines=[
            line("99214", None, dos=D(2025, 6, 1), description=None),
            line("99214", None, dos=D(2026, 2, 1), description=None, units=2),
            line("99214", "99.00", dos=D(2026, 2, 1)),  # an explicit price wins
        ],
    )
    session.flush()
    session.refresh(inv, ["lines"])
    got = [(ln.unit_price_minor, ln.description, ln.service_item_id == new.id) for ln in inv.lines]
    assert got == [(15000, "Old", False), (18000, "New", True), (9900, "Office visit", True)]
    assert inv.total_minor == 15000 + 36000 + 9900


@pytest.mark.parametrize(
    ("lines", "code", "data"),
    [
        (
            [line("99213"), line("99999", None, description=None)],
            "invoice.no_price",
            {"line": 2, "service_code": "99999"},
        ),
        ([line("99213", description=None)], "invoice.description_missing", {"line": 1}),
        (
            [line("99213"), line("99213", dos=today() + dt.timedelta(days=2))],
            "invoice.service_date_in_future",
            {"line": 2},
        ),
        (
            [line("99213", discount_amount=Decimal("125.01"))],
            "invoice.discount_exceeds_line",
            {},
        ),
        ([line("99213", "10.005")], "money.too_many_decimals", None),
    ],
)
def test_create_refuses_bad_lines(
    session: Session, w: World, lines: list[dict[str, Any]], code: str, data: Any
) -> None:
    before = snapshot(session)
    with pytest.raises(DomainError) as exc:
        make_invoice(session, w.patient, lines=lines)
    assert (exc.value.status, exc.value.code) == (400, code)
    if data is not None:
        assert exc.value.data == data
    session.flush()
    assert snapshot(session) == before


def test_provider_must_belong_to_the_practice(session: Session, w: World) -> None:
    own = make_provider(session, w.practice)
    other = make_provider(session, make_practice(session))
    inv = make_invoice(session, w.patient, issue=False, lines=[line(provider_id=own.id)])
    session.flush()
    session.refresh(inv, ["lines"])
    assert inv.lines[0].provider_id == own.id
    with pytest.raises(DomainError) as exc:
        make_invoice(session, w.patient, lines=[line(provider_id=other.id)])
    assert (exc.value.code, exc.value.data) == ("invoice.provider_unknown", {"line": 1})


def test_update_draft_replaces_lines_terms_and_memo(session: Session, w: World) -> None:
    inv = w.invoice("draft")
    service.update_invoice(
        session,
        SYSTEM,
        inv.id,
        InvoiceUpdate.model_validate(
            {
                "memo": "Second visit",
                "terms": "due_on_receipt",
                "lines": [
                    line("99214", "200.00", discount_percent=Decimal(10)),
                    line("36415", "9"),
                ],
            }
        ),
    )
    session.flush()
    session.refresh(inv, ["lines"])
    assert (inv.subtotal_minor, inv.discount_minor, inv.total_minor) == (20900, 2000, 18900)
    assert [(ln.position, ln.service_code) for ln in inv.lines] == [(1, "99214"), (2, "36415")]
    assert count(session, "invoice_lines") == 2
    assert (inv.memo, inv.terms, inv.terms_days) == ("Second visit", "due_on_receipt", None)
    issue(session, inv, D(2026, 3, 10))
    assert inv.due_date == D(2026, 3, 10)


# issue -------------------------------------------------------------------------------------------


def test_issue_assigns_number_due_date_and_posts_the_charge(session: Session, w: World) -> None:
    inv = make_invoice(
        session,
        w.patient,
        issue=False,
        lines=[line("99213", "125.00"), line("36415", "10.00", discount_amount=Decimal("2.50"))],
    )
    session.flush()
    issue(session, inv, D(2026, 3, 10))
    session.flush()
    assert (inv.status, inv.number, inv.display_number) == ("open", 1, "INV-000001")
    assert (inv.issue_date, inv.due_date) == (D(2026, 3, 10), D(2026, 4, 9))
    [entry] = entries_of(session, inv.id)
    assert inv.issue_entry_id == entry.id
    assert (entry.kind, entry.effective_date, entry.memo, entry.source_type) == (
        "invoice.issue",
        D(2026, 3, 10),
        "Invoice issued",  # the number is taken after the post; source_id links the invoice
        "invoice",
    )
    assert entry.reverses_id is None
    assert postings(session, entry.id) == [
        ("1200", 13250, True, True),  # patient owes the total
        ("4000", -13500, False, True),  # gross revenue
        ("4100", 250, False, True),  # discount given
    ]
    assert service.view(session, inv).figures == service.InvoiceFigures(13250, 0, 0, 0, 13250)


def test_issue_defaults_to_today(session: Session, w: World) -> None:
    inv = w.invoice("draft")
    issue(session, inv)
    assert (inv.issue_date, inv.due_date) == (today(), today() + dt.timedelta(days=30))


@pytest.mark.parametrize(
    ("terms", "due"),
    [
        ({"terms": "due_on_receipt"}, D(2026, 3, 10)),
        ({"terms": "net", "terms_days": 10}, D(2026, 3, 20)),
        ({"terms": "net"}, D(2026, 4, 9)),  # the practice's 30 days
        ({"terms": "fixed_date", "due_date": D(2026, 5, 1)}, D(2026, 5, 1)),
    ],
)
def test_terms_set_the_due_date(
    session: Session, w: World, terms: dict[str, Any], due: dt.date
) -> None:
    inv = make_invoice(session, w.patient, issue_date=D(2026, 3, 10), **terms)
    assert (inv.status, inv.due_date) == ("open", due)


@pytest.mark.parametrize(
    ("extra", "on", "code"),
    [
        ({}, today() + dt.timedelta(days=1), "invoice.issue_date_in_future"),
        ({}, D(2026, 1, 4), "invoice.issue_before_service"),  # the line is dated 2026-01-05
        (
            {"terms": "fixed_date", "due_date": D(2026, 3, 1)},
            D(2026, 3, 10),
            "invoice.due_before_issue",
        ),
    ],
)
def test_issue_refusals_take_no_number(
    session: Session, w: World, extra: dict[str, Any], on: dt.date, code: str
) -> None:
    inv = make_invoice(session, w.patient, issue=False, **extra)
    session.flush()
    before = snapshot(session, inv.id)
    with pytest.raises(DomainError) as exc:
        issue(session, inv, on)
    assert (exc.value.status, exc.value.code) == (400, code)
    session.flush()
    assert snapshot(session, inv.id) == before
    assert before[f"invoice {inv.id}"][:3] == ("draft", None, None)


# status transitions ------------------------------------------------------------------------------


def test_draft_to_void(session: Session, w: World) -> None:
    inv = w.invoice("draft")
    void(session, inv, "Wrong patient")
    session.flush()
    assert (stored_status(session, inv.id), inv.void_reason) == ("void", "Wrong patient")
    assert inv.voided_at is not None
    assert (inv.number, inv.display_number) == (None, None)
    assert entries_of(session, inv.id) == []


def test_open_to_void_reverses_the_charge(session: Session, w: World) -> None:
    inv = w.invoice("open")
    assert ar_balance(session, inv) == 12500
    void(session, inv)
    session.flush()
    assert stored_status(session, inv.id) == "void"
    assert inv.display_number == "INV-000001"  # a voided invoice keeps its number
    issued, reversal = entries_of(session, inv.id)
    assert issued.id == inv.issue_entry_id
    assert (reversal.kind, reversal.reverses_id) == ("invoice.void", issued.id)
    assert reversal.effective_date == today()
    assert postings(session, reversal.id) == [
        ("1200", -12500, True, True),
        ("4000", 12500, False, True),
    ]
    assert ar_balance(session, inv) == 0
    assert service.view(session, inv).figures == service.InvoiceFigures(0, 0, 0, 0, 0)


def test_void_also_reverses_credit_notes(session: Session, w: World) -> None:
    inv = w.invoice("open")
    note = credit(session, inv, "25.00")
    void(session, inv)
    session.flush()
    kinds = {e.kind: e for e in entries_of(session, inv.id)}
    assert set(kinds) == {
        "invoice.issue",
        "invoice.credit_note",
        "invoice.credit_note_void",
        "invoice.void",
    }
    assert kinds["invoice.credit_note_void"].reverses_id == note.entry_id
    assert kinds["invoice.void"].reverses_id == inv.issue_entry_id
    assert ar_balance(session, inv) == 0
    assert service.view(session, inv).figures == service.InvoiceFigures(0, 0, 0, 0, 0)


def test_open_to_partially_paid_to_paid(session: Session, w: World) -> None:
    inv = w.invoice("open")
    pay(session, w.patient, "50.00", [(inv, "50.00")])
    assert stored_status(session, inv.id) == "partially_paid"
    assert service.view(session, inv).figures == service.InvoiceFigures(12500, 5000, 0, 0, 7500)
    pay(session, w.patient, "75.00", [(inv, "75.00")])
    assert stored_status(session, inv.id) == "paid"
    assert service.view(session, inv).figures == service.InvoiceFigures(12500, 12500, 0, 0, 0)


def test_open_to_paid_in_one_payment(session: Session, w: World) -> None:
    inv = w.invoice("open")
    pay(session, w.patient, "125.00", [(inv, "125.00")])
    assert stored_status(session, inv.id) == "paid"


def test_credit_note_of_the_full_balance_pays_the_invoice(session: Session, w: World) -> None:
    inv = w.invoice("open")
    adj = credit(session, inv, "125.00", "courtesy")
    session.flush()
    assert stored_status(session, inv.id) == "paid"
    assert (adj.kind, adj.reason_code, adj.amount_minor, adj.currency) == (
        "credit_note",
        "courtesy",
        12500,
        "USD",
    )
    assert postings(session, adj.entry_id) == [
        ("1200", -12500, True, True),
        ("4300", 12500, False, True),
    ]
    assert service.view(session, inv).figures == service.InvoiceFigures(12500, 0, 12500, 0, 0)


def test_partial_credit_note_keeps_the_invoice_open(session: Session, w: World) -> None:
    inv = w.invoice("open")
    credit(session, inv, "25.00")
    assert stored_status(session, inv.id) == "open"
    pay(session, w.patient, "50.00", [(inv, "50.00")])
    assert stored_status(session, inv.id) == "partially_paid"
    credit(session, inv, "50.00")  # balance 50.00 -> 0.00
    assert stored_status(session, inv.id) == "paid"
    assert service.view(session, inv).figures == service.InvoiceFigures(12500, 5000, 7500, 0, 0)


@pytest.mark.parametrize(("state", "amount"), [("open", 12500), ("partially_paid", 7500)])
def test_write_off_takes_the_remaining_balance(
    session: Session, w: World, state: str, amount: int
) -> None:
    inv = w.invoice(state)
    write_off(session, inv)
    session.flush()
    assert stored_status(session, inv.id) == "written_off"
    assert inv.written_off_at is not None
    [adj] = session.scalars(
        select(InvoiceAdjustment).where(InvoiceAdjustment.invoice_id == inv.id)
    ).all()
    assert (adj.kind, adj.reason_code, adj.amount_minor) == ("write_off", "bad_debt", amount)
    assert postings(session, adj.entry_id) == [
        ("1200", -amount, True, True),
        ("6100", amount, False, True),
    ]
    assert ar_balance(session, inv) == 0
    assert service.view(session, inv).figures.written_off == amount


def test_zero_total_invoice_is_paid_when_issued(session: Session, w: World) -> None:
    inv = make_invoice(session, w.patient, lines=priced("0.00"))
    session.flush()
    assert (inv.status, inv.display_number, inv.total_minor) == ("paid", "INV-000001", 0)
    assert inv.issue_entry_id is None
    assert entries_of(session, inv.id) == []


def test_fully_discounted_invoice_is_paid_and_books_the_discount(
    session: Session, w: World
) -> None:
    inv = make_invoice(session, w.patient, lines=[line("99213", discount_percent=Decimal(100))])
    session.flush()
    assert (inv.status, inv.total_minor, inv.discount_minor) == ("paid", 0, 12500)
    assert inv.issue_entry_id is not None
    assert postings(session, inv.issue_entry_id) == [
        ("4000", -12500, False, True),
        ("4100", 12500, False, True),
    ]


# refusals ----------------------------------------------------------------------------------------

Op = Callable[[Session, Invoice], object]

OPS: dict[str, Op] = {
    "update": lambda s, i: service.update_invoice(
        s, SYSTEM, i.id, InvoiceUpdate.model_validate({"memo": "x"})
    ),
    "issue": lambda s, i: issue(s, i),
    "void": lambda s, i: void(s, i),
    "credit_1": lambda s, i: credit(s, i, "1.00"),
    "credit_125.01": lambda s, i: credit(s, i, "125.01"),
    "write_off": lambda s, i: write_off(s, i),
}


@pytest.mark.parametrize(
    ("state", "op", "status", "code"),
    [
        ("open", "update", 409, "invoice.not_editable"),
        ("paid", "update", 409, "invoice.not_editable"),
        ("void", "update", 409, "invoice.not_editable"),
        ("open", "issue", 409, "invoice.illegal_transition"),
        ("paid", "issue", 409, "invoice.illegal_transition"),
        ("void", "issue", 409, "invoice.illegal_transition"),
        ("written_off", "issue", 409, "invoice.illegal_transition"),
        ("void", "void", 409, "invoice.already_void"),
        ("partially_paid", "void", 409, "invoice.has_payments"),
        ("paid", "void", 409, "invoice.has_payments"),
        ("written_off", "void", 409, "invoice.illegal_transition"),
        ("draft", "credit_1", 409, "invoice.not_issued"),
        ("void", "credit_1", 409, "invoice.voided"),
        ("written_off", "credit_1", 409, "invoice.written_off"),
        ("paid", "credit_1", 409, "invoice.credit_exceeds_balance"),
        ("open", "credit_125.01", 409, "invoice.credit_exceeds_balance"),
        ("draft", "write_off", 409, "invoice.not_issued"),
        ("void", "write_off", 409, "invoice.voided"),
        ("written_off", "write_off", 409, "invoice.written_off"),
        ("paid", "write_off", 409, "invoice.nothing_due"),
    ],
)
def test_refused_transitions_change_nothing(
    session: Session, w: World, state: str, op: str, status: int, code: str
) -> None:
    inv = w.invoice(state)
    before = snapshot(session, inv.id)
    with pytest.raises(DomainError) as exc:
        OPS[op](session, inv)
    assert (exc.value.status, exc.value.code) == (status, code)
    session.flush()
    assert snapshot(session, inv.id) == before


def test_credit_note_refusal_names_the_balance(session: Session, w: World) -> None:
    inv = w.invoice("partially_paid")
    with pytest.raises(DomainError) as exc:
        credit(session, inv, "75.01")
    assert exc.value.data == {"balance": "75.00"}
    assert credit(session, inv, "75.00").amount_minor == 7500


def test_unknown_invoice_is_not_found(session: Session, w: World) -> None:
    for op in OPS.values():
        with pytest.raises(DomainError) as exc:
            op(session, Invoice(id=uuid.uuid4()))
        assert (exc.value.status, exc.value.code) == (404, "invoice.not_found")


# numbering ---------------------------------------------------------------------------------------


def test_numbers_follow_issue_order_not_creation_order(session: Session, w: World) -> None:
    first, second, third = (w.invoice("draft") for _ in range(3))
    for inv in (second, third, first):
        issue(session, inv)
    assert [i.display_number for i in (second, third, first)] == [
        "INV-000001",
        "INV-000002",
        "INV-000003",
    ]
    assert [i.number for i in (second, third, first)] == [1, 2, 3]


def test_a_voided_draft_never_takes_a_number(session: Session, w: World) -> None:
    dropped, kept = w.invoice("draft"), w.invoice("draft")
    void(session, dropped)
    issue(session, kept)
    assert (dropped.number, kept.display_number) == (None, "INV-000001")
    last = session.scalar(
        select(InvoiceSequence.last_number).where(InvoiceSequence.practice_id == w.practice.id)
    )
    assert last == 1


def test_numbers_are_per_practice_with_the_practice_prefix(session: Session, w: World) -> None:
    w.invoice("open")
    w.invoice("open")
    other = make_practice(session, invoice_prefix="RFM")
    inv = make_invoice(session, make_patient(session, other))
    assert inv.display_number == "RFM-000001"
    assert w.invoice("open").display_number == "INV-000003"


# access ------------------------------------------------------------------------------------------


def test_staff_of_another_practice_cannot_see_or_bill(session: Session, w: World) -> None:
    inv = w.invoice("open")
    user = make_user(session, "billing_staff", practices=[make_practice(session)])
    session.flush()
    outsider = principal(session, user)
    with pytest.raises(DomainError) as exc:
        service.get_invoice(session, outsider, inv.id)
    assert (exc.value.status, exc.value.code) == (404, "invoice.not_found")
    with pytest.raises(DomainError) as exc:
        make_invoice(session, w.patient, actor=outsider)
    assert (exc.value.status, exc.value.code) == (404, "patient.not_found")


@pytest.mark.parametrize("role", ["insurance_specialist", "patient"])
def test_roles_without_billing_rights_are_forbidden(session: Session, w: World, role: str) -> None:
    user = make_user(
        session,
        role,
        practices=[w.practice] if role != "patient" else [],
        patient=w.patient if role == "patient" else None,
    )
    session.flush()
    actor = principal(session, user)
    inv = w.invoice("draft")
    before = snapshot(session, inv.id)
    for attempt in (
        lambda: make_invoice(session, w.patient, actor=actor),
        lambda: service.issue_invoice(session, actor, inv.id, InvoiceIssue()),
        lambda: service.void_invoice(session, actor, inv.id, InvoiceVoid(reason="x")),
    ):
        with pytest.raises(DomainError) as exc:
            attempt()
        assert (exc.value.status, exc.value.code) == (403, "auth.forbidden")
    session.flush()
    assert snapshot(session, inv.id) == before
    # Staff may read a draft; a patient only sees invoices once they are issued.
    if role == "patient":
        with pytest.raises(DomainError) as exc:
            service.get_invoice(session, actor, inv.id)
        assert (exc.value.status, exc.value.code) == (404, "invoice.not_found")
    else:
        assert service.get_invoice(session, actor, inv.id).invoice.id == inv.id


def test_overdue_view(session: Session, w: World) -> None:
    inv = make_invoice(session, w.patient, issue_date=D(2026, 3, 10))  # due 2026-04-09
    assert service.get_invoice(session, SYSTEM, inv.id).overdue is True
    pay(session, w.patient, "125.00", [(inv, "125.00")])
    assert service.get_invoice(session, SYSTEM, inv.id).overdue is False


# concurrency -------------------------------------------------------------------------------------


@pytest.mark.committed
def test_concurrent_issues_take_gap_free_numbers(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        ids = [make_invoice(s, patient, issue=False).id for _ in range(20)]

    def issue_one(invoice_id: uuid.UUID) -> int:
        with unit_of_work(factory) as s:
            inv = service.issue_invoice(s, SYSTEM, invoice_id, InvoiceIssue())
            assert inv.number is not None
            return inv.number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(issue_one, ids))

    assert sorted(numbers) == list(range(1, 21))
    with unit_of_work(factory) as s:
        stored = s.execute(
            select(Invoice.number, Invoice.display_number, Invoice.status).where(
                Invoice.practice_id == practice.id
            )
        ).all()
        assert sorted(n for n, _, _ in stored) == list(range(1, 21))
        assert {d for _, d, _ in stored} == {f"INV-{n:06d}" for n in range(1, 21)}
        assert {st for _, _, st in stored} == {"open"}
        seq = s.get(InvoiceSequence, practice.id)
        assert seq is not None
        assert seq.last_number == 20
        assert s.scalar(select(JournalEntry.id).where(JournalEntry.kind != "invoice.issue")) is None
        report = integrity.run(s)
        assert report.ok, report.violations


def test_a_draft_can_be_changed_and_issued_in_the_same_unit_of_work(
    session: Session, w: World
) -> None:
    """Services only flush, so a CLI command or job may compose them in one transaction: a draft
    created by ``create_invoice`` must be visible (with its lines) to the next service call."""
    draft = make_invoice(session, w.patient, issue=False)  # no flush in between, as in one UoW
    service.update_invoice(session, SYSTEM, draft.id, InvoiceUpdate.model_validate({"memo": "m"}))
    other = make_invoice(session, w.patient, issue=False)
    issue(session, other)
    assert (other.status, other.display_number, other.total_minor) == ("open", "INV-000001", 12500)
