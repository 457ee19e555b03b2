"""JSON routes for refunds. The refund POST requires an Idempotency-Key; above the caller's
limit it answers 202 with an approval request instead of refunding."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.approvals.endpoints import accepted_when_requested, approval_read
from revcycle.approvals.gate import Limits
from revcycle.approvals.schemas import ApprovalRequestRead
from revcycle.auth.principal import Principal
from revcycle.kit.render import amount
from revcycle.refunds import card, errors, service
from revcycle.refunds.schemas import RefundCreate, RefundList, RefundPartRead, RefundRead

router = APIRouter(tags=["refunds"])


def refund_read(v: service.RefundView) -> RefundRead:
    r = v.refund
    return RefundRead(
        id=r.id,
        practice_id=r.practice_id,
        patient_id=r.patient_id,
        payment_id=r.payment_id,
        method=r.method,
        amount=amount(r.amount_minor, r.currency),
        currency=r.currency,
        status=r.status,
        reason=r.reason,
        parts=[
            RefundPartRead(invoice_id=p.invoice_id, amount=amount(p.amount_minor, p.currency))
            for p in v.parts
        ],
        entry_id=r.entry_id,
        payout_entry_id=r.payout_entry_id,
        approval_request_id=r.approval_request_id,
        gateway_refund_id=r.gateway_refund_id,
        failure_code=r.failure_code,
        created_at=r.created_at,
    )


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundRead | ApprovalRequestRead,
    responses={
        202: {
            "model": ApprovalRequestRead,
            "description": "Approval requested; or a card refund pending at the gateway",
        }
    },
)
def refund_payment(payment_id: uuid.UUID, body: RefundCreate, ctx: CtxDep) -> Response:
    """Refund (part of) a payment to its method. Card payments are refunded through the payment
    gateway (202 while the gateway has not answered; 409 ``refund.gateway_refused``)."""
    limits = Limits.from_settings(ctx.settings)
    key = ctx.idempotency_key
    if card.is_card_payment(ctx.factory, payment_id):
        gateway = ctx.request.app.state.gateway

        def external(factory: sessionmaker[Session], p: Principal) -> tuple[BaseModel, int]:
            out = card.refund_card(
                factory, gateway, p, payment_id, body, idempotency_key=key, limits=limits
            )
            if not isinstance(out, service.RefundView):
                return approval_read(out), 202  # above the caller's limit: approval requested
            return refund_read(out), 202 if out.refund.status == "pending" else 201

        return ctx.write_external(
            external,
            key_required=errors.IdempotencyKeyRequired(
                "Refunds need an Idempotency-Key header so a retry cannot refund twice"
            ),
        )

    def work(s: Session, p: Principal) -> BaseModel:
        out = service.refund_payment(s, p, payment_id, body, idempotency_key=key, limits=limits)
        return refund_read(out) if isinstance(out, service.RefundView) else approval_read(out)

    return accepted_when_requested(ctx.write(work, status_code=201))


@router.get("/payments/{payment_id}/refunds", response_model=RefundList)
def list_payment_refunds(payment_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: RefundList(
            items=[refund_read(v) for v in service.payment_refunds(s, p, payment_id)]
        )
    )


@router.get("/refunds/{refund_id}", response_model=RefundRead)
def get_refund(refund_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: refund_read(service.get_refund(s, p, refund_id)))
