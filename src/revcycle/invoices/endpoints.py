"""JSON routes for invoices."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.approvals.endpoints import accepted_when_requested, approval_read
from revcycle.approvals.gate import Limits
from revcycle.approvals.schemas import ApprovalRequestRead
from revcycle.auth.principal import Principal
from revcycle.invoices import calc, service
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine
from revcycle.invoices.schemas import (
    CreditNoteCreate,
    InvoiceAdjustmentRead,
    InvoiceCreate,
    InvoiceHistory,
    InvoiceIssue,
    InvoiceLineRead,
    InvoicePaymentRead,
    InvoiceRead,
    InvoiceStatus,
    InvoiceUpdate,
    InvoiceVoid,
    WriteOffCreate,
)
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.money import Money

router = APIRouter(tags=["invoices"])
Limit = Annotated[int, Query(ge=1, le=200)]


def line_read(ln: InvoiceLine, cur: str) -> InvoiceLineRead:
    amounts = calc.line_amounts(
        ln.units, Money(ln.unit_price_minor, cur), discount_amount=Money(ln.discount_minor, cur)
    )
    return InvoiceLineRead(
        id=ln.id,
        position=ln.position,
        service_code=ln.service_code,
        modifiers=ln.modifiers,
        description=ln.description,
        units=ln.units,
        unit_price=amount(ln.unit_price_minor, cur),
        gross=amounts.gross.format(),
        discount=amounts.discount.format(),
        amount=amounts.net.format(),
        diagnosis_codes=ln.diagnosis_codes,
        date_of_service=ln.date_of_service,
        provider_id=ln.provider_id,
    )


def invoice_read(v: service.InvoiceView, *, with_lines: bool = True) -> InvoiceRead:
    inv, fig, cur = v.invoice, v.figures, v.invoice.currency
    return InvoiceRead(
        id=inv.id,
        practice_id=inv.practice_id,
        patient_id=inv.patient_id,
        number=inv.display_number,
        status=InvoiceStatus(inv.status),
        overdue=v.overdue,
        currency=cur,
        terms=inv.terms,
        terms_days=inv.terms_days,
        issue_date=inv.issue_date,
        due_date=inv.due_date,
        subtotal=amount(inv.subtotal_minor, cur),
        discount=amount(inv.discount_minor, cur),
        total=amount(inv.total_minor, cur),
        paid=amount(fig.paid, cur),
        adjusted=amount(fig.adjusted, cur),
        written_off=amount(fig.written_off, cur),
        # A draft owes nothing yet; an issued invoice owes what its receivable says.
        balance=amount(fig.balance, cur),
        memo=inv.memo,
        void_reason=inv.void_reason,
        created_at=inv.created_at,
        lines=[line_read(ln, cur) for ln in inv.lines] if with_lines else None,
    )


def adjustment_read(a: InvoiceAdjustment) -> InvoiceAdjustmentRead:
    return InvoiceAdjustmentRead(
        id=a.id,
        invoice_id=a.invoice_id,
        kind=a.kind,
        reason_code=a.reason_code,
        amount=amount(a.amount_minor, a.currency),
        currency=a.currency,
        memo=a.memo,
        created_at=a.created_at,
    )


def _reloaded(s: Session, invoice: object) -> InvoiceRead:
    assert isinstance(invoice, Invoice)
    return invoice_read(service.reload_view(s, invoice))


@router.post("/invoices", status_code=201, response_model=InvoiceRead)
def create_invoice(body: InvoiceCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: invoice_read(service.created_view(s, service.create_invoice(s, p, body))),
        status_code=201,
    )


@router.get("/invoices", response_model=PageRead[InvoiceRead])
def list_invoices(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    status: Annotated[list[InvoiceStatus] | None, Query()] = None,
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
    overdue: bool = False,
    include_lines: bool = False,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_invoices(
            s,
            p,
            practice_id=practice_id,
            patient_id=patient_id,
            statuses=tuple(x.value for x in status or ()),
            issued_from=issued_from,
            issued_to=issued_to,
            overdue=overdue,
            with_lines=include_lines,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[InvoiceRead](
            items=[invoice_read(v, with_lines=include_lines) for v in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)


@router.get("/invoices/{invoice_id}", response_model=InvoiceRead)
def get_invoice(invoice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: invoice_read(service.get_invoice(s, p, invoice_id)))


@router.patch("/invoices/{invoice_id}", response_model=InvoiceRead)
def update_invoice(invoice_id: uuid.UUID, body: InvoiceUpdate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: _reloaded(s, service.update_invoice(s, p, invoice_id, body)))


@router.post("/invoices/{invoice_id}/issue", response_model=InvoiceRead)
def issue_invoice(invoice_id: uuid.UUID, ctx: CtxDep, body: InvoiceIssue | None = None) -> Response:
    data = body or InvoiceIssue()
    return ctx.write(lambda s, p: _reloaded(s, service.issue_invoice(s, p, invoice_id, data)))


@router.post("/invoices/{invoice_id}/void", response_model=InvoiceRead)
def void_invoice(invoice_id: uuid.UUID, body: InvoiceVoid, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: _reloaded(s, service.void_invoice(s, p, invoice_id, body)))


@router.post(
    "/invoices/{invoice_id}/credit-notes", status_code=201, response_model=InvoiceAdjustmentRead
)
def add_credit_note(invoice_id: uuid.UUID, body: CreditNoteCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: adjustment_read(service.add_credit_note(s, p, invoice_id, body)),
        status_code=201,
    )


@router.post(
    "/invoices/{invoice_id}/write-off",
    response_model=InvoiceRead | ApprovalRequestRead,
    responses={202: {"model": ApprovalRequestRead, "description": "Approval requested"}},
)
def write_off_invoice(invoice_id: uuid.UUID, body: WriteOffCreate, ctx: CtxDep) -> Response:
    """Above the caller's write-off limit: 202 with an approval request, nothing written off."""
    limits = Limits.from_settings(ctx.settings)

    def work(s: Session, p: Principal) -> BaseModel:
        out = service.write_off_invoice(s, p, invoice_id, body, limits=limits)
        return _reloaded(s, out) if isinstance(out, Invoice) else approval_read(out)

    return accepted_when_requested(ctx.write(work))


@router.get("/invoices/{invoice_id}/history", response_model=InvoiceHistory)
def invoice_history(invoice_id: uuid.UUID, ctx: CtxDep) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        inv, payments, adjustments = service.invoice_history(s, p, invoice_id)
        return InvoiceHistory(
            invoice_id=inv.id,
            payments=[
                InvoicePaymentRead(
                    payment_id=r.id,
                    received_on=r.received_on,
                    method=r.method,
                    reference=r.reference,
                    amount_applied=amount(r.amount_minor, r.currency),
                    currency=r.currency,
                )
                for r in payments
            ],
            adjustments=[adjustment_read(a) for a in adjustments],
        )

    return ctx.read(work)
