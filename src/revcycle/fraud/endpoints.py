"""JSON routes of the fraud review queue and rule settings (docs/fraud.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.fraud import service
from revcycle.fraud.models import FraudReview
from revcycle.fraud.rules import Effective
from revcycle.fraud.schemas import (
    FindingRead,
    RelatedPayment,
    RelatedRefund,
    ReviewDecide,
    ReviewDetail,
    ReviewRead,
    ReviewStatus,
    RuleList,
    RuleRead,
    RuleUpdate,
)
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import FilterText, PageRead

router = APIRouter(tags=["fraud"])
Limit = Annotated[int, Query(ge=1, le=200)]


def review_read(r: FraudReview) -> ReviewRead:
    return ReviewRead(
        id=r.id,
        practice_id=r.practice_id,
        patient_id=r.patient_id,
        rule_code=r.rule_code,
        action=r.action,
        status=r.status,
        subject_type=r.subject_type,
        subject_id=r.subject_id,
        payment_id=r.payment_id,
        amount=None
        if r.amount_minor is None or r.currency is None
        else amount(r.amount_minor, r.currency),
        currency=r.currency,
        explanation=r.explanation,
        findings=[FindingRead.model_validate(f) for f in r.findings],
        payload=r.payload,
        actor_user_id=r.actor_user_id,
        created_at=r.created_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_note=r.decision_note,
        result_id=r.result_id,
    )


def review_detail(s: Session, r: FraudReview) -> ReviewDetail:
    payment, refund = service.related(s, r)
    return ReviewDetail(
        **review_read(r).model_dump(),
        payment=None
        if payment is None
        else RelatedPayment(
            id=payment.id,
            method=payment.method,
            amount=amount(payment.amount_minor, payment.currency),
            currency=payment.currency,
            status=payment.status,
            received_on=payment.received_on,
            created_by=payment.created_by,
        ),
        refund=None
        if refund is None
        else RelatedRefund(
            id=refund.id,
            payment_id=refund.payment_id,
            amount=amount(refund.amount_minor, refund.currency),
            status=refund.status,
            created_by=refund.created_by,
        ),
    )


def rule_read(e: Effective) -> RuleRead:
    return RuleRead(
        code=e.rule.code,
        description=e.rule.description,
        applies_to=e.rule.applies_to,
        enabled=e.enabled,
        action=e.action.value,
        params=dict(e.params),
        default_action=e.rule.action.value,
        default_params=dict(e.rule.params),
    )


@router.get("/fraud/reviews", response_model=PageRead[ReviewRead])
def list_reviews(
    ctx: CtxDep,
    status: ReviewStatus | None = None,
    rule: FilterText | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_reviews(s, p, status=status, rule=rule, cursor=cursor, limit=limit)
        return PageRead[ReviewRead](
            items=[review_read(r) for r in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/fraud/reviews/{review_id}", response_model=ReviewDetail)
def get_review(review_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: review_detail(s, service.get_review(s, p, review_id)))


@router.post("/fraud/reviews/{review_id}/decide", response_model=ReviewDetail)
def decide_review(review_id: uuid.UUID, body: ReviewDecide, ctx: CtxDep) -> Response:
    """approve / reject a held refund (approve executes it once), dismiss / confirm a flag or a
    blocked attempt. Needs an Idempotency-Key."""
    key = ctx.idempotency_key
    return ctx.write(
        lambda s, p: review_detail(s, service.decide(s, p, review_id, body, idempotency_key=key))
    )


@router.get("/practices/{practice_id}/fraud-rules", response_model=RuleList)
def list_rules(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: RuleList(
            practice_id=practice_id,
            items=[rule_read(e) for e in service.list_rules(s, p, practice_id)],
        )
    )


@router.patch("/practices/{practice_id}/fraud-rules/{code}", response_model=RuleRead)
def update_rule(
    practice_id: uuid.UUID, code: FilterText, body: RuleUpdate, ctx: CtxDep
) -> Response:
    """Change the practice's setting of one rule (what is given changes; audited)."""
    return ctx.write(lambda s, p: rule_read(service.update_rule(s, p, practice_id, code, body)))
