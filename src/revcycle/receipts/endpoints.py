"""Receipts (printable HTML, PDF or JSON) and payment histories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.receipts import documents, history, render
from revcycle.receipts.schemas import (
    AppliedRead,
    HistoryRowRead,
    InvoiceShareRead,
    PaymentHistoryRead,
    ReceiptRead,
)

router = APIRouter(tags=["receipts"])
Limit = Annotated[int, Query(ge=1, le=200)]
Format = Literal["html", "pdf", "json"]
# The receipt page styles itself inline and loads nothing.
RECEIPT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
RECEIPT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The receipt: HTML (default), PDF (`Accept: application/pdf` or "
        "`?format=pdf`) or JSON (`?format=json`)",
        "content": {"text/html": {}, "application/pdf": {}},
    }
}


class _Receipt(BaseModel):
    data: ReceiptRead
    page: str


def receipt_read(v: documents.ReceiptView) -> ReceiptRead:
    c = v.currency
    return ReceiptRead(
        number=v.receipt.display_number,
        kind=v.kind,
        issued_at=v.receipt.issued_at,
        practice_id=v.practice.id,
        practice_name=v.practice.name,
        patient_id=v.patient.id,
        account_number=v.patient.account_number,
        date=v.date,
        method=v.method,
        method_detail=v.method_detail,
        amount=amount(v.amount_minor, c),
        currency=c,
        applied=[
            AppliedRead(
                invoice_id=a.invoice_id,
                invoice_number=a.invoice_number,
                amount=amount(a.amount_minor, c),
            )
            for a in v.applied
        ],
        credited=amount(v.credited_minor, c),
        balance_after=amount(v.balance_after_minor, c),
        payment_id=v.payment_id,
        refund_id=v.refund_id,
        payment_receipt_number=v.payment_receipt_number,
        reason=v.reason,
    )


def _wanted(ctx: CtxDep, fmt: Format | None) -> Format:
    if fmt is not None:
        return fmt
    accept = ctx.request.headers.get("accept", "")
    if "application/pdf" in accept:
        return "pdf"
    if "application/json" in accept and "text/html" not in accept:
        return "json"
    return "html"


def _receipt(
    ctx: CtxDep,
    fmt: Format | None,
    load: Callable[[Session, Principal], documents.ReceiptView],
) -> Response:
    def work(s: Session, p: Principal) -> BaseModel:
        view = load(s, p)
        return _Receipt(data=receipt_read(view), page=render.html(view))

    out = cast(_Receipt, ctx.read(work))
    wanted = _wanted(ctx, fmt)
    headers = {"Cache-Control": "no-store"}
    if wanted == "json":
        return Response(out.data.model_dump_json(), media_type="application/json", headers=headers)
    if wanted == "pdf":
        headers["Content-Disposition"] = f'inline; filename="{out.data.number}.pdf"'
        return Response(render.pdf(out.page), media_type="application/pdf", headers=headers)
    headers["Content-Security-Policy"] = RECEIPT_CSP
    return Response(out.page, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/payments/{payment_id}/receipt", responses=RECEIPT_RESPONSES)
def payment_receipt(payment_id: uuid.UUID, ctx: CtxDep, format: Format | None = None) -> Response:
    """The payment's receipt. Patients read their own."""
    return _receipt(ctx, format, lambda s, p: documents.payment_receipt(s, p, payment_id))


@router.get("/refunds/{refund_id}/receipt", responses=RECEIPT_RESPONSES)
def refund_receipt(refund_id: uuid.UUID, ctx: CtxDep, format: Format | None = None) -> Response:
    """The refund's receipt (paid refunds). Patients read their own."""
    return _receipt(ctx, format, lambda s, p: documents.refund_receipt(s, p, refund_id))


def history_read(h: history.HistoryPage) -> PaymentHistoryRead:
    c = h.currency
    return PaymentHistoryRead(
        owner_id=h.owner_id,
        currency=c,
        balance=amount(h.balance_minor, c),
        items=[
            HistoryRowRead(
                entry_id=r.entry_id,
                date=r.date,
                kind=r.kind,
                description=r.description,
                amount=amount(r.amount_minor, c),
                balance=amount(r.balance_minor, c),
                invoices=[
                    InvoiceShareRead(
                        invoice_id=i.invoice_id,
                        invoice_number=i.invoice_number,
                        amount=amount(i.amount_minor, c),
                    )
                    for i in r.invoices
                ],
                payment_id=r.payment_id,
                refund_id=r.refund_id,
                receipt_number=r.receipt_number,
                method=r.method,
            )
            for r in h.page.items
        ],
        next_cursor=h.page.next_cursor,
    )


@router.get("/patients/{patient_id}/payment-history", response_model=PaymentHistoryRead)
def patient_payment_history(
    patient_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    """Every movement on the patient's account in ledger order, with the running balance."""
    return ctx.read(
        lambda s, p: history_read(
            history.patient_history(s, p, patient_id, cursor=cursor, limit=limit)
        )
    )


@router.get("/invoices/{invoice_id}/payment-history", response_model=PaymentHistoryRead)
def invoice_payment_history(
    invoice_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    """Every movement on the invoice's balance (issue, payments, refunds, credit notes,
    write-offs, void) in ledger order, with the running balance."""
    return ctx.read(
        lambda s, p: history_read(
            history.invoice_history(s, p, invoice_id, cursor=cursor, limit=limit)
        )
    )
