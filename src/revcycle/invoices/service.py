"""Invoice use-cases: drafts, issue (number + ledger), void (reversal), credit notes, write-offs,
and the ledger-derived figures every screen shows.

Lock order (documented in docs/architecture.md): patient -> invoices (by id) -> invoice sequence.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from revcycle.approvals import gate
from revcycle.approvals.errors import AmountChanged
from revcycle.approvals.models import ApprovalRequest
from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.authorizations import service as authorizations
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.invoices import calc, errors
from revcycle.invoices.calc import InvoiceFigures, figures_from_movements
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine
from revcycle.invoices.repository import InvoiceFilter, InvoiceRepository
from revcycle.invoices.schemas import (
    CreditNoteCreate,
    InvoiceCreate,
    InvoiceIssue,
    InvoiceLineIn,
    InvoiceUpdate,
    InvoiceVoid,
    WriteOffCreate,
)
from revcycle.kit.clock import today, utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.patients import service as patients_service
from revcycle.practices.models import Practice
from revcycle.practices.repository import PracticeRepository


@dataclass(frozen=True)
class InvoiceView:
    invoice: Invoice
    figures: InvoiceFigures
    today: dt.date

    @property
    def overdue(self) -> bool:
        return calc.is_overdue(self.invoice.status, self.invoice.due_date, self.today)


def invoice_figures(session: Session, invoice_id: uuid.UUID) -> InvoiceFigures:
    return figures_from_movements(LedgerRepository(session).invoice_movements(invoice_id))


def refresh_status(session: Session, invoice: Invoice) -> InvoiceFigures:
    """Re-derive an issued invoice's status from the ledger after any money movement."""
    return refresh_statuses(session, [invoice])[invoice.id]


def refresh_statuses(session: Session, invoices: list[Invoice]) -> dict[uuid.UUID, InvoiceFigures]:
    """The same for several invoices with one ledger query (a payment across many invoices)."""
    session.flush()
    moves = LedgerRepository(session).invoice_movements_many([i.id for i in invoices])
    figures: dict[uuid.UUID, InvoiceFigures] = {}
    for invoice in invoices:
        fig = figures[invoice.id] = figures_from_movements(moves.get(invoice.id, []))
        invoice.status = calc.derive_status(
            invoice.status, total=invoice.total_minor, balance=fig.balance, paid=fig.paid
        )
    return figures


def refresh_statuses_by_id(
    session: Session, invoices: Mapping[uuid.UUID, tuple[str, int]]
) -> dict[uuid.UUID, str]:
    """:func:`refresh_statuses` for invoices given as id -> (status, total), for a batch that
    holds plain rows (autopay): one ledger query, one UPDATE of the statuses that change.
    Returns id -> status now."""
    moves = LedgerRepository(session).invoice_movements_many(list(invoices))
    now: dict[uuid.UUID, str] = {}
    changed: list[dict[str, object]] = []
    for invoice_id, (status, total) in invoices.items():
        fig = figures_from_movements(moves.get(invoice_id, []))
        now[invoice_id] = calc.derive_status(
            status, total=total, balance=fig.balance, paid=fig.paid
        )
        if now[invoice_id] != status:
            changed.append({"id": invoice_id, "status": now[invoice_id]})
    InvoiceRepository(session).set_statuses(changed)
    return now


# access --------------------------------------------------------------------------------------


def access_invoice(
    session: Session,
    actor: Principal,
    invoice_id: uuid.UUID,
    action: Action = Action.INVOICE_READ,
    *,
    for_update: bool = False,
) -> Invoice:
    actor.require(action)
    repo = InvoiceRepository(session)
    invoice = (
        repo.get_for_update(invoice_id) if for_update else repo.get(invoice_id, with_lines=True)
    )
    if invoice is None:
        raise errors.InvoiceNotFound("No such invoice")
    if not actor.sees_patient(invoice.practice_id, invoice.patient_id):
        raise out_of_scope(errors.InvoiceNotFound("No such invoice"), "invoice", invoice.id)
    if actor.is_patient and invoice.status == "draft":  # not billed yet: not theirs to see
        raise errors.InvoiceNotFound("No such invoice")
    return invoice


def practice_of(session: Session, practice_id: uuid.UUID) -> Practice:
    practice = PracticeRepository(session).get(practice_id)
    assert practice is not None
    return practice


# drafts --------------------------------------------------------------------------------------


def _build_lines(
    session: Session, practice: Practice, lines_in: list[InvoiceLineIn]
) -> list[InvoiceLine]:
    repo = PracticeRepository(session)
    built: list[InvoiceLine] = []
    for position, li in enumerate(lines_in, start=1):
        if li.date_of_service > today():
            raise errors.InvalidLine(
                f"line {position}: the date of service is in the future",
                code="invoice.service_date_in_future",
                line=position,
            )
        if li.provider_id is not None:
            provider = repo.get_provider(li.provider_id)
            if provider is None or provider.practice_id != practice.id:
                raise errors.InvalidLine(
                    f"line {position}: no such provider in this practice",
                    code="invoice.provider_unknown",
                    line=position,
                )
        # The line is linked to the charge-master price in effect (even when the caller
        # overrides the price), which also supplies what the caller left out.
        item = repo.price_on(
            practice.id, li.service_code, ":".join(li.modifiers), li.date_of_service
        )
        if li.unit_price is not None:
            price = Money.parse(li.unit_price, practice.currency)
        elif item is not None:
            price = Money(item.price_minor, item.currency)
        else:
            raise errors.NoPriceForService(
                f"line {position}: {li.service_code} has no charge-master price on "
                f"{li.date_of_service}; give unit_price",
                line=position,
                service_code=li.service_code,
            )
        description = li.description or (item.description if item else None)
        if description is None:
            raise errors.InvalidLine(
                f"line {position}: a description is needed",
                code="invoice.description_missing",
                line=position,
            )
        discount = (
            Money.parse(li.discount_amount, practice.currency)
            if li.discount_amount is not None
            else None
        )
        amounts = calc.line_amounts(
            li.units, price, discount_amount=discount, discount_percent=li.discount_percent
        )
        built.append(
            InvoiceLine(
                position=position,
                service_code=li.service_code,
                modifiers=list(li.modifiers),
                description=description,
                units=li.units,
                unit_price_minor=price.amount_minor,
                discount_minor=amounts.discount.amount_minor,
                diagnosis_codes=list(li.diagnosis_codes),
                date_of_service=li.date_of_service,
                provider_id=li.provider_id,
                service_item_id=item.id if item else None,
            )
        )
    return built


def _apply_totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    cur = invoice.currency
    amounts = [
        calc.line_amounts(
            ln.units, Money(ln.unit_price_minor, cur), discount_amount=Money(ln.discount_minor, cur)
        )
        for ln in lines
    ]
    t = calc.totals(amounts, cur)
    invoice.subtotal_minor = t.subtotal.amount_minor
    invoice.discount_minor = t.discount.amount_minor
    invoice.total_minor = t.total.amount_minor


def _apply_terms(
    invoice: Invoice, practice: Practice, data: InvoiceCreate | InvoiceUpdate, *, creating: bool
) -> None:
    if data.terms is not None:
        invoice.terms = data.terms.value
        invoice.terms_days = data.terms_days if data.terms.value == "net" else None
        invoice.terms_due_date = data.due_date
        if invoice.terms == "net" and invoice.terms_days is None:
            invoice.terms_days = practice.default_terms_days or 0
    elif creating:
        invoice.terms = practice.default_terms
        invoice.terms_days = practice.default_terms_days
        invoice.terms_due_date = None


def create_invoice(session: Session, actor: Principal, data: InvoiceCreate) -> Invoice:
    actor.require(Action.INVOICE_WRITE)
    if data.issue:
        actor.require(Action.INVOICE_ISSUE)
    patient = patients_service.access_patient(session, actor, data.patient_id)
    practice = practice_of(session, patient.practice_id)
    invoice = Invoice(
        practice_id=practice.id,
        patient_id=patient.id,
        status="draft",
        currency=practice.currency,
        memo=data.memo,
        created_by=actor.user_id,
    )
    _apply_terms(invoice, practice, data, creating=True)
    lines = _build_lines(session, practice, data.lines)
    _apply_totals(invoice, lines)
    invoice.id = uuid7()
    for line in lines:
        line.invoice_id = invoice.id
    invoice.lines = lines  # loaded in memory: rendering needs no reload
    session.add(invoice)
    audit.record(
        session,
        actor,
        "invoice:create",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=practice.id,
        fields=data.model_fields_set - {"issue"},
    )
    if data.issue:
        # One flush (inside the ledger post) writes the invoice, its lines and both audit rows.
        _issue(session, actor, invoice, practice, lines, data.issue_date)
    else:
        session.flush()
    return invoice


def update_invoice(
    session: Session, actor: Principal, invoice_id: uuid.UUID, data: InvoiceUpdate
) -> Invoice:
    invoice = access_invoice(session, actor, invoice_id, Action.INVOICE_WRITE, for_update=True)
    if invoice.status != "draft":
        raise errors.InvoiceNotEditable(
            f"Invoice {invoice.display_number} is {invoice.status}; an issued invoice cannot be "
            "edited. Void it and issue a corrected one, or add a credit note.",
            status_now=invoice.status,
        )
    practice = practice_of(session, invoice.practice_id)
    changes = data.model_dump(exclude_unset=True)
    _apply_terms(invoice, practice, data, creating=False)
    if "memo" in changes:
        invoice.memo = data.memo
    if data.lines is not None:
        lines = _build_lines(session, practice, data.lines)
        InvoiceRepository(session).replace_lines(invoice, lines)
        _apply_totals(invoice, lines)
    invoice.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "invoice:update",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
        fields=changes,
    )
    session.flush()
    session.expire(invoice, ["lines"])
    return invoice


# issue ---------------------------------------------------------------------------------------


def issue_invoice(
    session: Session, actor: Principal, invoice_id: uuid.UUID, data: InvoiceIssue
) -> Invoice:
    session.flush()
    invoice = access_invoice(session, actor, invoice_id, Action.INVOICE_ISSUE, for_update=True)
    if invoice.status != "draft":
        raise errors.IllegalTransition(
            f"Only a draft can be issued; this invoice is {invoice.status}",
            status_now=invoice.status,
        )
    practice = practice_of(session, invoice.practice_id)
    _issue(session, actor, invoice, practice, list(invoice.lines), data.issue_date)
    return invoice


def _issue(
    session: Session,
    actor: Principal,
    invoice: Invoice,
    practice: Practice,
    lines: list[InvoiceLine],
    issue_date: dt.date | None,
) -> None:
    if not lines:
        raise errors.InvalidLine(
            "An invoice needs at least one line to be issued", code="invoice.no_lines"
        )
    issue_on = issue_date or today()
    if issue_on > today():
        raise InvalidInput("The issue date is in the future", code="invoice.issue_date_in_future")
    latest_service = max(ln.date_of_service for ln in lines)
    if issue_on < latest_service:
        raise InvalidInput(
            "An invoice cannot be issued before its latest date of service",
            code="invoice.issue_before_service",
            latest_date_of_service=latest_service.isoformat(),
        )
    invoice.issue_date = issue_on
    invoice.due_date = calc.due_date(
        invoice.terms, issue_on, days=invoice.terms_days, fixed=invoice.terms_due_date
    )
    cur = invoice.currency
    legs = []
    if invoice.total_minor:
        legs.append(
            ledger.debit(
                AccountCode.PATIENT_AR,
                Money(invoice.total_minor, cur),
                patient_id=invoice.patient_id,
                invoice_id=invoice.id,
            )
        )
    if invoice.discount_minor:
        legs.append(
            ledger.debit(
                AccountCode.DISCOUNTS, Money(invoice.discount_minor, cur), invoice_id=invoice.id
            )
        )
    if invoice.subtotal_minor:
        legs.append(
            ledger.credit(
                AccountCode.SERVICE_REVENUE,
                Money(invoice.subtotal_minor, cur),
                invoice_id=invoice.id,
            )
        )
    invoice.status = "open" if invoice.total_minor > 0 else "paid"
    invoice.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "invoice:issue",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=practice.id,
        fields=["status", "number", "issue_date", "due_date"],
    )
    entry_id = None
    if legs:
        entry_id = ledger.post_entry(
            session,
            ledger.EntrySpec(
                practice_id=practice.id,
                kind=EntryKind.INVOICE_ISSUE.value,
                legs=legs,
                effective_date=issue_on,
                memo="Invoice issued",
                created_by=actor.user_id,
                source_type="invoice",
                source_id=invoice.id,
            ),
        )
    for ln in lines:  # prior authorisations: units consumed, or the charge held (insurance.md)
        authorizations.consume_for_charge(
            session,
            practice.id,
            invoice.patient_id,
            ln.service_code,
            ln.date_of_service,
            ln.units,
            charge_ref=f"invoice_line:{ln.id}",
        )
    # The number is taken LAST (lock order: ... -> invoice sequence): the per-practice sequence
    # row stays locked only from here to COMMIT, so concurrent issuing serialises briefly.
    session.flush()  # everything else is written before the sequence row is locked
    number = InvoiceRepository(session).assign_number(
        invoice.id, practice.id, practice.invoice_prefix, entry_id
    )
    set_committed_value(invoice, "issue_entry_id", entry_id)
    set_committed_value(invoice, "number", number)
    set_committed_value(invoice, "display_number", f"{practice.invoice_prefix}-{number:06d}")


# void, credit notes, write-offs ----------------------------------------------------------------


def void_invoice(
    session: Session, actor: Principal, invoice_id: uuid.UUID, data: InvoiceVoid
) -> Invoice:
    invoice = access_invoice(session, actor, invoice_id, Action.INVOICE_VOID, for_update=True)
    if invoice.status == "void":
        raise errors.IllegalTransition("This invoice is already void", code="invoice.already_void")
    if invoice.status == "written_off":
        raise errors.IllegalTransition(
            "A written-off invoice cannot be voided", status_now=invoice.status
        )
    if invoice.status != "draft":
        fig = invoice_figures(session, invoice.id)
        if fig.paid != 0:
            raise errors.InvoiceHasPayments(
                "Payments are applied to this invoice; refund or re-apply them before voiding",
                paid=Money(fig.paid, invoice.currency).format(),
            )
        on = today()
        for adj in InvoiceRepository(session).adjustments(invoice.id):
            ledger.reverse_entry(
                session,
                adj.entry_id,
                kind=EntryKind.CREDIT_NOTE_VOID.value,
                effective_date=on,
                created_by=actor.user_id,
                memo=f"Void of {invoice.display_number}: credit note reversed",
            )
        if invoice.issue_entry_id is not None:
            ledger.reverse_entry(
                session,
                invoice.issue_entry_id,
                kind=EntryKind.INVOICE_VOID.value,
                effective_date=on,
                created_by=actor.user_id,
                memo=f"Void of invoice {invoice.display_number}",
            )
    for ln in invoice.lines:  # authorisation units used by these charges come back
        authorizations.release_for_charge(session, f"invoice_line:{ln.id}")
    invoice.status = "void"
    invoice.void_reason = data.reason
    invoice.voided_at = utcnow()
    invoice.updated_at = invoice.voided_at
    audit.record(
        session,
        actor,
        "invoice:void",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
        fields=["status", "void_reason"],
    )
    return invoice


def _require_collectible(invoice: Invoice) -> None:
    if invoice.status == "draft":
        raise errors.IllegalTransition("The invoice has not been issued", code="invoice.not_issued")
    if invoice.status == "void":
        raise errors.IllegalTransition("The invoice is void", code="invoice.voided")
    if invoice.status == "written_off":
        raise errors.IllegalTransition("The invoice was written off", code="invoice.written_off")


def _reduce_receivable(
    session: Session,
    actor: Principal,
    invoice: Invoice,
    amount: Money,
    *,
    kind: EntryKind,
    contra: AccountCode,
    reason_code: str,
    memo: str | None,
    entry_memo: str,
) -> InvoiceAdjustment:
    """Credit the invoice's receivable against ``contra`` and record why (credit note or
    write-off)."""
    entry_id = ledger.post_entry(
        session,
        ledger.EntrySpec(
            practice_id=invoice.practice_id,
            kind=kind.value,
            legs=[
                ledger.debit(contra, amount, invoice_id=invoice.id),
                ledger.credit(
                    AccountCode.PATIENT_AR,
                    amount,
                    patient_id=invoice.patient_id,
                    invoice_id=invoice.id,
                ),
            ],
            effective_date=today(),
            memo=entry_memo,
            created_by=actor.user_id,
            source_type="invoice",
            source_id=invoice.id,
        ),
    )
    adjustment = InvoiceAdjustment(
        invoice_id=invoice.id,
        kind="credit_note" if kind is EntryKind.CREDIT_NOTE else "write_off",
        reason_code=reason_code,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        memo=memo,
        entry_id=entry_id,
        created_by=actor.user_id,
    )
    session.add(adjustment)
    return adjustment


def add_credit_note(
    session: Session, actor: Principal, invoice_id: uuid.UUID, data: CreditNoteCreate
) -> InvoiceAdjustment:
    invoice = access_invoice(session, actor, invoice_id, Action.INVOICE_ADJUST, for_update=True)
    _require_collectible(invoice)
    amount = Money.parse(data.amount, invoice.currency)
    fig = invoice_figures(session, invoice.id)
    if amount.amount_minor > fig.balance:
        raise errors.CreditExceedsBalance(
            f"A credit of {amount.format()} exceeds the balance of "
            f"{Money(fig.balance, invoice.currency).format()}",
            balance=Money(fig.balance, invoice.currency).format(),
        )
    adj = _reduce_receivable(
        session,
        actor,
        invoice,
        amount,
        kind=EntryKind.CREDIT_NOTE,
        contra=AccountCode.BILLING_ADJUSTMENTS,
        reason_code=data.reason_code.value,
        memo=data.memo,
        entry_memo=f"Credit note ({data.reason_code.value}) on {invoice.display_number}",
    )
    session.flush()
    refresh_status(session, invoice)
    invoice.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "invoice:credit_note",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
        fields=["amount", "reason_code", "status"],
    )
    return adj


def write_off_invoice(
    session: Session,
    actor: Principal,
    invoice_id: uuid.UUID,
    data: WriteOffCreate,
    *,
    limits: gate.Limits | None = None,
    approved_minor: int | None = None,
) -> Invoice | ApprovalRequest:
    """Write off the remaining balance. Above the caller's limit (``limits``) nothing is written
    off: an approval request is returned instead. ``approved_minor``: executing an approved
    request, which may not write off more than was approved."""
    invoice = access_invoice(session, actor, invoice_id, Action.INVOICE_WRITE_OFF, for_update=True)
    _require_collectible(invoice)
    fig = invoice_figures(session, invoice.id)
    if fig.balance <= 0:
        raise errors.IllegalTransition(
            "Nothing is left to write off", code="invoice.nothing_due", status_now=invoice.status
        )
    amount = Money(fig.balance, invoice.currency)
    if approved_minor is not None and amount.amount_minor > approved_minor:
        raise AmountChanged(
            f"The balance is now {amount.format()}, more than the "
            f"{Money(approved_minor, invoice.currency).format()} approved; request again",
            balance=amount.format(),
        )
    limit = gate.over_limit(limits, gate.WRITE_OFF, actor, amount)
    if limit is not None:
        return gate.request_approval(
            session,
            actor,
            operation=gate.WRITE_OFF,
            object_type="invoice",
            object_id=invoice.id,
            practice_id=invoice.practice_id,
            patient_id=invoice.patient_id,
            amount=amount,
            limit=limit,
            payload=data.model_dump(mode="json"),
        )
    _reduce_receivable(
        session,
        actor,
        invoice,
        amount,
        kind=EntryKind.WRITE_OFF,
        contra=AccountCode.BAD_DEBT,
        reason_code=data.reason_code.value,
        memo=data.memo,
        entry_memo=f"Write-off ({data.reason_code.value}) of {invoice.display_number}",
    )
    invoice.status = "written_off"
    invoice.written_off_at = utcnow()
    invoice.updated_at = invoice.written_off_at
    audit.record(
        session,
        actor,
        "invoice:write_off",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
        fields=["status", "reason_code"],
    )
    return invoice


# reading -------------------------------------------------------------------------------------


def get_invoice(session: Session, actor: Principal, invoice_id: uuid.UUID) -> InvoiceView:
    invoice = access_invoice(session, actor, invoice_id)
    audit.record_read(
        session,
        actor,
        "invoice:read",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
    )
    return InvoiceView(invoice, invoice_figures(session, invoice.id), today())


def view(session: Session, invoice: Invoice) -> InvoiceView:
    return InvoiceView(invoice, invoice_figures(session, invoice.id), today())


def created_view(session: Session, invoice: Invoice) -> InvoiceView:
    """A just-created invoice: its lines are in memory and its only ledger movement is the
    issue entry just written, so nothing needs re-reading (no query while the number is held)."""
    session.flush()
    moves = [(EntryKind.INVOICE_ISSUE.value, invoice.total_minor)] if invoice.issue_entry_id else []
    return InvoiceView(invoice, figures_from_movements(moves), today())


def reload_view(session: Session, invoice: Invoice) -> InvoiceView:
    """The invoice as stored after a change (lines and ledger figures re-read)."""
    session.flush()
    if "lines" in inspect(invoice).unloaded:
        session.refresh(invoice, ["lines"])
    return view(session, invoice)


def list_invoices(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    statuses: tuple[str, ...],
    issued_from: dt.date | None,
    issued_to: dt.date | None,
    overdue: bool,
    with_lines: bool,
    cursor: str | None,
    limit: int,
) -> Page[InvoiceView]:
    actor.require(Action.INVOICE_READ)
    limit = min(limit, MAX_LIMIT)
    now = today()
    f = InvoiceFilter(
        practice_ids=None if actor.is_patient else actor.practice_ids,
        patient_ids=actor.patient_ids if actor.is_patient else None,
        practice_id=practice_id,
        patient_id=patient_id,
        statuses=statuses,
        issued_from=issued_from,
        issued_to=issued_to,
        overdue_on=now if overdue else None,
        exclude_drafts=actor.is_patient,
    )
    rows = list(
        InvoiceRepository(session).search(
            f, before=parse_cursor_uuid(after_id(cursor)), limit=limit + 1, with_lines=with_lines
        )
    )
    page = page_by_id(rows, limit)
    movements = LedgerRepository(session).invoice_movements_many([i.id for i in page.items])
    views = [
        InvoiceView(i, figures_from_movements(movements.get(i.id, [])), now) for i in page.items
    ]
    audit.record_list_read(
        session, actor, "invoice:list", ((i.practice_id, i.patient_id) for i in page.items)
    )
    return Page(views, page.next_cursor)


def invoice_history(
    session: Session, actor: Principal, invoice_id: uuid.UUID
) -> tuple[Invoice, list[Any], list[InvoiceAdjustment]]:
    invoice = access_invoice(session, actor, invoice_id)
    repo = InvoiceRepository(session)
    audit.record_read(
        session,
        actor,
        "invoice:history:read",
        object_type="invoice",
        object_id=invoice.id,
        practice_id=invoice.practice_id,
    )
    return invoice, list(repo.payments(invoice.id)), list(repo.adjustments(invoice.id))
