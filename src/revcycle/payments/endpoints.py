"""JSON routes for recording and reading payments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.payments import bank, card, errors, service
from revcycle.payments.schemas import (
    AllocationRead,
    BankAccountRead,
    CardRead,
    PaymentCreate,
    PaymentMethod,
    PaymentRead,
)

router = APIRouter(tags=["payments"])
Limit = Annotated[int, Query(ge=1, le=200)]


def payment_read(v: service.PaymentView) -> PaymentRead:
    p = v.payment
    return PaymentRead(
        id=p.id,
        practice_id=p.practice_id,
        patient_id=p.patient_id,
        method=p.method,
        amount=amount(p.amount_minor, p.currency),
        currency=p.currency,
        received_on=p.received_on,
        reference=p.reference,
        unapplied=amount(p.unapplied_minor, p.currency),
        allocations=[
            AllocationRead(invoice_id=a.invoice_id, amount=amount(a.amount_minor, a.currency))
            for a in v.allocations
        ],
        created_at=p.created_at,
        status=p.status,
        card=None
        if p.card_last4 is None
        else CardRead(
            brand=p.card_brand or "unknown",
            last4=p.card_last4,
            exp_month=p.card_exp_month or 0,
            exp_year=p.card_exp_year or 0,
        ),
        gateway_charge_id=p.gateway_charge_id,
        decline_code=p.decline_code,
        bank_account=None
        if p.bank_last4 is None
        else BankAccountRead(
            last4=p.bank_last4,
            routing_number=p.bank_routing_number or "",
            account_type=p.bank_account_type or "",
            bank_name=p.bank_name,
        ),
        return_code=p.return_code,
        settled_at=p.settled_at,
        returned_at=p.returned_at,
        next_action_url=p.next_action_url,
    )


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentRead,
    responses={
        202: {
            "description": "Card payment pending (gateway timeout); bank transfer submitted, "
            "pending until it settles"
        },
        402: {"description": "Card declined (problem with decline_code)"},
        428: {"description": "Card payments and bank debits need an Idempotency-Key"},
    },
)
def record_payment(body: PaymentCreate, ctx: CtxDep) -> Response:
    """Record a payment. With ``method: card`` and a gateway ``token`` (from the gateway's
    tokenisation page, never a card number) the card is charged through the gateway; with
    ``method: bank_transfer`` and a ``bank_token`` the account is debited (202, pending until the
    debit settles: docs/bank-transfers.md)."""
    if body.method is PaymentMethod.BANK_TRANSFER and body.bank_token is not None:
        return _bank_payment(body, ctx)
    if body.method is PaymentMethod.CARD and body.token is not None:
        gateway = ctx.request.app.state.gateway
        key = ctx.idempotency_key or ""

        def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
            out = card.take_card_payment(factory, gateway, principal, body, idempotency_key=key)
            p = out.view.payment
            if out.declined:
                raise errors.CardDeclined(
                    "The card was declined", payment_id=str(p.id), decline_code=p.decline_code
                )
            return payment_read(out.view), 202 if p.status in card.UNRESOLVED else 201

        return ctx.write_external(
            work,
            key_required=errors.IdempotencyKeyRequired(
                "Card payments need an Idempotency-Key header"
            ),
        )
    return ctx.write(lambda s, p: payment_read(service.record_payment(s, p, body)), status_code=201)


def _bank_payment(body: PaymentCreate, ctx: CtxDep) -> Response:
    gateway = ctx.request.app.state.gateway
    key = ctx.idempotency_key or ""

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        view = bank.take_bank_payment(factory, gateway, principal, body, idempotency_key=key)
        return payment_read(view), 202 if view.payment.status == bank.PENDING else 201

    return ctx.write_external(
        work,
        key_required=errors.IdempotencyKeyRequired("Bank debits need an Idempotency-Key header"),
    )


@router.get("/payments", response_model=PageRead[PaymentRead])
def list_payments(
    ctx: CtxDep,
    patient_id: uuid.UUID | None = None,
    practice_id: uuid.UUID | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_payments(
            s,
            p,
            patient_id=patient_id,
            practice_id=practice_id,
            received_from=received_from,
            received_to=received_to,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[PaymentRead](
            items=[payment_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/payments/{payment_id}", response_model=PaymentRead)
def get_payment(payment_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: payment_read(service.get_payment(s, p, payment_id)))
