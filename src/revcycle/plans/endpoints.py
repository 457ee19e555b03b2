"""JSON routes for payment plans, stored payment methods and the notification outbox.

Every state-changing POST requires an ``Idempotency-Key``. Without one the caller's access is
checked first (403/404 as for any request), then ``428 plan.idempotency_key_required``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import Ctx, CtxDep
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.gateway.base import BankDebitGateway, GatewayRefused
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.notifications import service as notifications
from revcycle.patients import service as patients_service
from revcycle.paymethods import service as methods
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.paymethods.schemas import PaymentMethodCreate, PaymentMethodList, PaymentMethodRead
from revcycle.plans import autopay, errors, service
from revcycle.plans.schemas import (
    ChargeAttemptRead,
    InstallmentRead,
    NotificationRead,
    PayoffCreate,
    PlanAccept,
    PlanCancel,
    PlanChange,
    PlanCreate,
    PlanEventRead,
    PlanInvoiceRead,
    PlanPaymentCreate,
    PlanRead,
)

router = APIRouter(tags=["payment plans"])
Limit = Annotated[int, Query(ge=1, le=200)]
KEY_REQUIRED = "Payment-plan and payment-method changes need an Idempotency-Key header"


def plan_read(v: service.PlanView) -> PlanRead:
    p = v.plan
    return PlanRead(
        id=p.id,
        practice_id=p.practice_id,
        patient_id=p.patient_id,
        status=p.status,
        frequency=p.frequency,
        first_due_date=p.first_due_date,
        installment_count=p.installment_count,
        total=amount(p.total_minor, p.currency),
        remaining=amount(v.remaining_minor, p.currency),
        currency=p.currency,
        memo=p.memo,
        payment_method_id=p.method_id,
        missed_count=p.missed_count,
        version=p.version,
        created_at=p.created_at,
        accepted_at=p.accepted_at,
        ended_at=p.ended_at,
        invoices=[
            PlanInvoiceRead(
                invoice_id=i.invoice_id,
                balance_at_proposal=amount(i.balance_minor, p.currency),
                in_plan=i.in_plan,
            )
            for i in v.invoices
        ],
        schedule=[
            InstallmentRead(
                id=i.id,
                version=i.version,
                seq=i.seq,
                due_date=i.due_date,
                amount=amount(i.amount_minor, i.currency),
                paid=amount(i.paid_minor, i.currency),
                status=i.status,
                next_attempt_on=i.next_attempt_on,
                attempts=i.attempts,
                last_decline_code=i.last_decline_code,
            )
            for i in v.schedule
        ],
        history=[
            PlanEventRead(
                kind=e.kind,
                at=e.at,
                actor_user_id=e.actor_user_id,
                actor_role=e.actor_role,
                reason=e.reason,
                detail=e.detail,
            )
            for e in v.events
        ],
        charges=[
            ChargeAttemptRead(
                installment_id=a.installment_id,
                attempt=a.attempt,
                purpose=a.purpose,
                payment_id=a.payment_id,
                status=a.status,
                decline_code=a.decline_code,
            )
            for a in v.attempts
        ],
    )


def method_read(m: StoredPaymentMethod) -> PaymentMethodRead:
    return PaymentMethodRead.model_validate(m)


def _keyed(
    ctx: Ctx,
    check: Callable[[Session, Principal], object],
    work: Callable[[Session, Principal], BaseModel],
    status_code: int = 200,
) -> Response:
    """A write that needs an Idempotency-Key."""
    _key_or_refuse(ctx, check)
    return ctx.write(work, status_code=status_code)


def _key_or_refuse(ctx: Ctx, check: Callable[[Session, Principal], object]) -> None:
    """Without an Idempotency-Key, access is checked first (a hidden object still answers 404, a
    missing permission 403), then the request is refused with 428."""
    if ctx.idempotency_key is None:

        def refuse(s: Session, p: Principal) -> None:
            check(s, p)
            raise errors.IdempotencyKeyRequired(KEY_REQUIRED)

        ctx.read(refuse)


def _plan_check(action: Action, plan_id: uuid.UUID) -> Callable[[Session, Principal], object]:
    return lambda s, p: service.access_plan(s, p, plan_id, action)


# --- stored payment methods --------------------------------------------------------------------


@router.post(
    "/patients/{patient_id}/payment-methods", status_code=201, response_model=PaymentMethodRead
)
def store_payment_method(patient_id: uuid.UUID, body: PaymentMethodCreate, ctx: CtxDep) -> Response:
    """Store a gateway token (from the gateway's card page, never a card number) with the
    patient's consent, for autopay."""
    gateway = ctx.request.app.state.gateway

    def check(s: Session, p: Principal) -> object:
        return patients_service.access_patient(s, p, patient_id, Action.PAYMENT_METHOD_WRITE)

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        with unit_of_work(factory) as s:
            check(s, principal)  # before asking the gateway anything
        card, bank = None, None
        if not body.token.startswith("btok_"):
            card = gateway.describe_token(body.token)
        elif isinstance(gateway, BankDebitGateway):
            try:
                bank = gateway.retrieve_bank_token(body.token)
            except GatewayRefused:
                bank = None  # unknown token: refused below
        with unit_of_work(factory) as s:
            m = methods.store_method(
                s, principal, patient_id, body, card=card, bank=bank, provider=gateway.provider
            )
            return method_read(m), 201

    _key_or_refuse(ctx, check)
    return ctx.write_external(work, key_required=errors.IdempotencyKeyRequired(KEY_REQUIRED))


@router.get("/patients/{patient_id}/payment-methods", response_model=PaymentMethodList)
def list_payment_methods(patient_id: uuid.UUID, ctx: CtxDep) -> object:
    """The patient's stored methods, removed ones included (status ``removed``)."""

    def work(s: Session, p: Principal) -> BaseModel:
        return PaymentMethodList(
            items=[method_read(m) for m in methods.list_methods(s, p, patient_id)]
        )

    return ctx.read(work)


@router.post(
    "/patients/{patient_id}/payment-methods/{method_id}/remove", response_model=PaymentMethodRead
)
def remove_payment_method(patient_id: uuid.UUID, method_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Remove a stored method (a status change; kept for history). Plans paying with it stop
    autopay."""
    return _keyed(
        ctx,
        lambda s, p: methods.access_method(
            s, p, patient_id, method_id, Action.PAYMENT_METHOD_WRITE
        ),
        lambda s, p: method_read(service.remove_method(s, p, patient_id, method_id)),
    )


# --- plans ---------------------------------------------------------------------------------------


@router.post("/payment-plans", status_code=201, response_model=PlanRead)
def propose_plan(body: PlanCreate, ctx: CtxDep) -> Response:
    """Propose a plan: the response shows the exact schedule before anyone accepts it."""

    def check(s: Session, p: Principal) -> object:
        p.require(Action.PLAN_WRITE)
        return patients_service.access_patient(s, p, body.patient_id)

    return _keyed(
        ctx,
        check,
        lambda s, p: plan_read(service.propose_plan(s, p, body)),
        status_code=201,
    )


@router.get("/payment-plans", response_model=PageRead[PlanRead])
def list_plans(
    ctx: CtxDep,
    patient_id: uuid.UUID | None = None,
    practice_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_plans(
            s,
            p,
            patient_id=patient_id,
            practice_id=practice_id,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[PlanRead](
            items=[plan_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/payment-plans/{plan_id}", response_model=PlanRead)
def get_plan(plan_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: plan_read(service.get_plan(s, p, plan_id)))


@router.post("/payment-plans/{plan_id}/accept", response_model=PlanRead)
def accept_plan(plan_id: uuid.UUID, body: PlanAccept, ctx: CtxDep) -> Response:
    return _keyed(
        ctx,
        _plan_check(Action.PLAN_ACCEPT, plan_id),
        lambda s, p: plan_read(service.accept_plan(s, p, plan_id, body)),
    )


@router.post("/payment-plans/{plan_id}/cancel", response_model=PlanRead)
def cancel_plan(plan_id: uuid.UUID, body: PlanCancel, ctx: CtxDep) -> Response:
    return _keyed(
        ctx,
        _plan_check(Action.PLAN_WRITE, plan_id),
        lambda s, p: plan_read(service.cancel_plan(s, p, plan_id, body.reason)),
    )


@router.post("/payment-plans/{plan_id}/changes", response_model=PlanRead)
def change_plan(plan_id: uuid.UUID, body: PlanChange, ctx: CtxDep) -> Response:
    """Reschedule what is left and/or change autopay; the history keeps before and after."""
    return _keyed(
        ctx,
        _plan_check(Action.PLAN_WRITE, plan_id),
        lambda s, p: plan_read(service.change_plan(s, p, plan_id, body)),
    )


@router.post("/payment-plans/{plan_id}/payments", status_code=201, response_model=PlanRead)
def record_plan_payment(plan_id: uuid.UUID, body: PlanPaymentCreate, ctx: CtxDep) -> Response:
    """Money received at the desk for the plan, applied to its installments in order."""

    def check(s: Session, p: Principal) -> object:
        p.require(Action.PAYMENT_RECORD)
        return service.access_plan(s, p, plan_id, Action.PLAN_READ)

    return _keyed(
        ctx,
        check,
        lambda s, p: plan_read(service.record_plan_payment(s, p, plan_id, body)),
        status_code=201,
    )


@router.post(
    "/payment-plans/{plan_id}/payoff",
    response_model=PlanRead,
    responses={402: {"description": "The stored card was declined (problem with decline_code)"}},
)
def payoff_plan(plan_id: uuid.UUID, body: PayoffCreate, ctx: CtxDep) -> Response:
    """Pay everything left now, at the desk or from a stored card; the plan ends paid_off."""

    def check(s: Session, p: Principal) -> object:
        p.require(Action.PAYMENT_RECORD)
        return service.access_plan(s, p, plan_id, Action.PLAN_WRITE)

    if body.payment_method_id is None:
        return _keyed(
            ctx, check, lambda s, p: plan_read(service.payoff_at_desk(s, p, plan_id, body))
        )
    _key_or_refuse(ctx, check)
    gateway = ctx.request.app.state.gateway
    method_id, key = body.payment_method_id, ctx.idempotency_key or ""

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        view, outcome = autopay.payoff_with_method(
            factory, gateway, ctx.settings, principal, plan_id, method_id, idempotency_key=key
        )
        if outcome.status in ("declined", "failed"):
            raise errors.PayoffDeclined(
                "The stored card was declined", decline_code=outcome.decline_code
            )
        return plan_read(view), 202 if outcome.status == "pending" else 200

    return ctx.write_external(work, key_required=errors.IdempotencyKeyRequired(KEY_REQUIRED))


# --- notification outbox ------------------------------------------------------------------------


@router.get("/notifications", response_model=PageRead[NotificationRead])
def list_notifications(
    ctx: CtxDep,
    patient_id: uuid.UUID | None = None,
    practice_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern=r"^(pending|sent|failed)$")] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    """The patient-notification outbox (declines, cards to update, missed installments,
    defaults): staff see their practices', patients their own."""

    def work(s: Session, p: Principal) -> BaseModel:
        page = notifications.list_notifications(
            s,
            p,
            patient_id=patient_id,
            practice_id=practice_id,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[NotificationRead](
            items=[NotificationRead.model_validate(n) for n in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)
