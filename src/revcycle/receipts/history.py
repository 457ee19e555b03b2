"""Payment history per patient and per invoice, straight from the ledger: one row per journal
entry touching the patient's account (receivable + credit) or the invoice's receivable, in
ledger order, with the running balance after it (the last one equals the balance the ledger
derives). Rows name their payment or refund, its receipt number and method. Paginated with an
opaque cursor (the last row's entry id); the running balance is always counted from the first
entry, so every page shows true balances."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.invoices import service as invoices_service
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.pagination import MAX_LIMIT, InvalidCursor, Page, after_id, encode_cursor
from revcycle.ledger.chart import EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.patients import service as patients_service
from revcycle.payments.repository import PaymentRepository
from revcycle.receipts.documents import method_detail
from revcycle.receipts.repository import ReceiptRepository
from revcycle.refunds.repository import RefundRepository

LABELS = {
    EntryKind.INVOICE_ISSUE.value: "Invoice issued",
    EntryKind.INVOICE_VOID.value: "Invoice voided",
    EntryKind.CREDIT_NOTE.value: "Credit note",
    EntryKind.CREDIT_NOTE_VOID.value: "Credit note reversed",
    EntryKind.WRITE_OFF.value: "Written off",
    EntryKind.PAYMENT.value: "Payment",
    EntryKind.REFUND.value: "Refund",
}


@dataclass(frozen=True)
class InvoiceShare:
    invoice_id: uuid.UUID
    invoice_number: str | None
    amount_minor: int  # signed: + owed more, - paid / credited


@dataclass
class HistoryRow:
    entry_id: uuid.UUID
    date: dt.date
    kind: str
    description: str
    amount_minor: int  # signed effect on the balance: + charges, - payments and credits
    balance_minor: int  # after this row
    invoices: list[InvoiceShare]
    payment_id: uuid.UUID | None = None
    refund_id: uuid.UUID | None = None
    receipt_number: str | None = None
    method: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    owner_id: uuid.UUID
    currency: str
    balance_minor: int  # the ledger's balance now (equals the last row's balance)
    page: Page[HistoryRow]


def _annotate(
    session: Session,
    rows: list[HistoryRow],
    sources: dict[uuid.UUID, tuple[str | None, uuid.UUID | None]],
) -> None:
    """Name each row's payment / refund, its receipt number and how it was paid."""
    payment_ids = [s for t, s in sources.values() if t == "payment" and s is not None]
    refund_ids = [s for t, s in sources.values() if t == "refund" and s is not None]
    refunds = {r.id: r for r in (RefundRepository(session).get(i) for i in refund_ids) if r}
    payment_ids += [r.payment_id for r in refunds.values()]
    payments = {p.id: p for p in (PaymentRepository(session).get(i) for i in set(payment_ids)) if p}
    numbers = ReceiptRepository(session).numbers_for(list(payments), list(refunds))
    for row in rows:
        source_type, source_id = sources[row.entry_id]
        if source_id is None:
            continue
        if source_type == "payment" and source_id in payments:
            row.payment_id = source_id
            row.method = method_detail(payments[source_id])
        elif source_type == "refund" and source_id in refunds:
            row.refund_id = source_id
            row.payment_id = refunds[source_id].payment_id
            row.method = method_detail(payments[refunds[source_id].payment_id])
        row.receipt_number = (
            numbers.get(row.refund_id or row.payment_id) if row.payment_id else None
        )


def _page(rows: list[HistoryRow], cursor: str | None, limit: int) -> Page[HistoryRow]:
    start = 0
    after = after_id(cursor)
    if after is not None:
        keys = [str(r.entry_id) for r in rows]
        if after not in keys:
            raise InvalidCursor("The cursor is not one this service issued")
        start = keys.index(after) + 1
    limit = min(limit, MAX_LIMIT)
    chunk = rows[start : start + limit]
    more = start + limit < len(rows)
    return Page(chunk, encode_cursor({"id": str(chunk[-1].entry_id)}) if more and chunk else None)


def _grouped(
    lines: Iterable[Any], delta: Any
) -> tuple[list[HistoryRow], dict[uuid.UUID, tuple[str | None, uuid.UUID | None]]]:
    """Collapse ledger lines (one per entry and invoice) into one row per entry."""
    rows: list[HistoryRow] = []
    sources: dict[uuid.UUID, tuple[str | None, uuid.UUID | None]] = {}
    for line in lines:
        amount = delta(line)
        if rows and rows[-1].entry_id == line.id:
            row = rows[-1]
            row.amount_minor += amount
        else:
            row = HistoryRow(
                entry_id=line.id,
                date=line.effective_date,
                kind=line.kind,
                description=LABELS.get(line.kind, line.kind),
                amount_minor=amount,
                balance_minor=0,
                invoices=[],
            )
            rows.append(row)
            sources[line.id] = (line.source_type, line.source_id)
        invoice_id = getattr(line, "invoice_id", None)  # invoice lines have none: all one
        if invoice_id is not None and amount != 0:
            row.invoices.append(InvoiceShare(invoice_id, None, amount))
    running = 0
    for row in rows:
        running += row.amount_minor
        row.balance_minor = running
    return rows, sources


def _numbers(session: Session, rows: list[HistoryRow]) -> None:
    ids = sorted({s.invoice_id for r in rows for s in r.invoices})
    found = InvoiceRepository(session).by_ids(ids)
    for row in rows:
        row.invoices = [
            InvoiceShare(
                s.invoice_id,
                found[s.invoice_id].display_number if s.invoice_id in found else None,
                s.amount_minor,
            )
            for s in row.invoices
        ]


def patient_history(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    patient = patients_service.access_patient(session, actor, patient_id, Action.PAYMENT_READ)
    practice = invoices_service.practice_of(session, patient.practice_id)
    ledger_repo = LedgerRepository(session)
    rows, sources = _grouped(
        ledger_repo.patient_account_lines(patient.id), lambda r: int(r.ar) + int(r.credit)
    )
    page = _page(rows, cursor, limit)
    _numbers(session, page.items)
    _annotate(session, page.items, sources)
    ar, credit = ledger_repo.patient_balances(patient.id)
    audit.record_read(
        session,
        actor,
        "payment_history:read",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
    )
    return HistoryPage(patient.id, practice.currency, ar - credit, page)


def invoice_history(
    session: Session,
    actor: Principal,
    invoice_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    actor.require(Action.PAYMENT_READ)
    invoice = invoices_service.access_invoice(session, actor, invoice_id)
    ledger_repo = LedgerRepository(session)
    rows, sources = _grouped(ledger_repo.invoice_ar_lines(invoice.id), lambda r: int(r.ar))
    page = _page(rows, cursor, limit)
    _annotate(session, page.items, sources)
    balance = ledger_repo.invoice_ar_balances([invoice.id])[invoice.id]
    audit.record_read(
        session,
        actor,
        "payment_history:read",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
    )
    return HistoryPage(invoice.id, invoice.currency, balance, page)
