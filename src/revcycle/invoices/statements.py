"""The patient's account statement: every ledger movement on their receivable and credit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import InvalidInput
from revcycle.invoices import calc
from revcycle.invoices.repository import InvoiceRepository
from revcycle.invoices.service import practice_of
from revcycle.kit.clock import today
from revcycle.ledger.chart import EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.patients import service as patients_service

STATEMENT_LABELS = {
    EntryKind.INVOICE_ISSUE.value: "Invoice issued",
    EntryKind.INVOICE_VOID.value: "Invoice voided",
    EntryKind.CREDIT_NOTE.value: "Credit note",
    EntryKind.CREDIT_NOTE_VOID.value: "Credit note reversed",
    EntryKind.WRITE_OFF.value: "Balance written off",
    EntryKind.PAYMENT.value: "Payment received",
    EntryKind.PAYMENT_RETURN.value: "Payment returned by the bank",
}


@dataclass(frozen=True)
class StatementLineView:
    date: dt.date
    kind: str
    description: str
    invoice_id: uuid.UUID | None
    invoice_number: str | None
    charges_minor: int
    credits_minor: int
    balance_minor: int


@dataclass(frozen=True)
class StatementView:
    patient_id: uuid.UUID
    account_number: str
    currency: str
    date_from: dt.date | None
    date_to: dt.date | None
    opening_minor: int
    lines: list[StatementLineView]
    total_charges_minor: int
    total_credits_minor: int
    amount_due_minor: int
    credit_balance_minor: int
    overdue_minor: int

    @property
    def closing_minor(self) -> int:
        return self.amount_due_minor - self.credit_balance_minor


def patient_statement(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> StatementView:
    """The patient's account: every ledger movement on their receivable and credit, with a running
    balance (what they owe minus credit held), straight from the postings."""
    actor.require(Action.STATEMENT_READ)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidInput("date_from is after date_to", code="statement.period_invalid")
    patient = patients_service.access_patient(session, actor, patient_id, Action.STATEMENT_READ)
    practice = practice_of(session, patient.practice_id)
    ledger_repo = LedgerRepository(session)
    rows = ledger_repo.patient_account_lines(patient.id)
    invoices = InvoiceRepository(session).by_ids(
        sorted({r.invoice_id for r in rows if r.invoice_id is not None})
    )
    opening = 0
    running = 0
    lines: list[StatementLineView] = []
    charges_total = credits_total = 0
    for r in rows:
        delta = int(r.ar) + int(r.credit)  # debit-positive: AR up = owes more; credit up = less
        if date_to is not None and r.effective_date > date_to:
            continue
        if date_from is not None and r.effective_date < date_from:
            opening += delta
            running += delta
            continue
        if delta == 0:
            continue  # e.g. a payment that moved credit onto an invoice within one entry
        running += delta
        charges = delta if delta > 0 else 0
        credits = -delta if delta < 0 else 0
        charges_total += charges
        credits_total += credits
        inv = invoices.get(r.invoice_id) if r.invoice_id is not None else None
        label = STATEMENT_LABELS.get(r.kind, r.kind)
        if inv is None and r.kind == EntryKind.PAYMENT.value:
            label = "Payment received (unapplied credit)"
        lines.append(
            StatementLineView(
                date=r.effective_date,
                kind=r.kind,
                description=f"{label} {inv.display_number}" if inv else label,
                invoice_id=r.invoice_id,
                invoice_number=inv.display_number if inv else None,
                charges_minor=charges,
                credits_minor=credits,
                balance_minor=running,
            )
        )
    ar, credit_held = ledger_repo.patient_balances(patient.id)
    now = today()
    open_invoices = [
        i
        for i in InvoiceRepository(session).for_patient(patient.id)
        if calc.is_overdue(i.status, i.due_date, now)
    ]
    overdue = sum(ledger_repo.invoice_ar_balances([i.id for i in open_invoices]).values())
    audit.record_read(
        session,
        actor,
        "statement:read",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
    )
    return StatementView(
        patient_id=patient.id,
        account_number=patient.account_number,
        currency=practice.currency,
        date_from=date_from,
        date_to=date_to,
        opening_minor=opening,
        lines=lines,
        total_charges_minor=charges_total,
        total_credits_minor=credits_total,
        amount_due_minor=ar,
        credit_balance_minor=credit_held,
        overdue_minor=overdue,
    )
