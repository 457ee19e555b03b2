"""JSON routes for 835 posting (thin: parse, call, render). Posting runs one transaction per
transaction set, so the upload is a keyed external write: the Idempotency-Key is required."""

from __future__ import annotations

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
from revcycle.remittances import errors, queries, service
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceUnmatched,
    Underpayment,
)
from revcycle.remittances.schemas import (
    MatchIn,
    PostResultRead,
    RemittanceClaimRead,
    RemittanceDetailRead,
    RemittanceRead,
    RemittanceUpload,
    SetOutcomeRead,
    UnderpaymentRead,
    UnderpaymentStatus,
    UnmatchedRead,
    UnmatchedStatus,
)

router = APIRouter(tags=["remittances"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _result_read(r: service.PostResult) -> PostResultRead:
    return PostResultRead(
        sets=[
            SetOutcomeRead(
                control_number=s.control_number,
                outcome=s.outcome,
                code=s.code,
                message=s.message,
                remittance_id=s.remittance_id,
                trace_number=s.trace_number,
                payment=amount(s.payment_minor, s.currency),
                claims=s.claims,
                unmatched=s.unmatched,
            )
            for s in r.sets
        ],
        errors=r.errors,
    )


def _fields(r: Remittance) -> dict[str, object]:
    cur = r.currency
    return {
        "id": r.id,
        "practice_id": r.practice_id,
        "payer_identifier": r.payer_identifier,
        "payer_name": r.payer_name,
        "payer_id": r.payer_id,
        "payee_identifier": r.payee_identifier,
        "payee_name": r.payee_name,
        "trace_number": r.trace_number,
        "payment": amount(r.payment_minor, cur),
        "payment_date": r.payment_date,
        "payment_method": r.payment_method,
        "currency": cur,
        "sha256": r.sha256,
        "claim_count": r.claim_count,
        "unmatched_count": r.unmatched_count,
        "provider_adjustments": amount(r.provider_adjustment_minor, cur),
        "created_at": r.created_at,
    }


def _claim_read(c: RemittanceClaim) -> RemittanceClaimRead:
    cur = c.currency
    return RemittanceClaimRead(
        id=c.id,
        position=c.position,
        claim_id=c.claim_id,
        patient_control_number=c.patient_control_number,
        payer_claim_number=c.payer_claim_number,
        status_code=c.status_code,
        outcome=c.outcome,
        charge=amount(c.charge_minor, cur),
        paid=amount(c.paid_minor, cur),
        adjusted=amount(c.adjustment_minor, cur),
        patient_responsibility=amount(c.patient_responsibility_minor, cur),
        deductible=amount(c.deductible_minor, cur),
        coinsurance=amount(c.coinsurance_minor, cur),
        copay=amount(c.copay_minor, cur),
        other_patient=amount(c.other_patient_minor, cur),
        reverses_id=c.reverses_id,
        entry_ids=[uuid.UUID(e) for e in c.entry_ids],
    )


def _unmatched_read(u: RemittanceUnmatched, c: RemittanceClaim) -> UnmatchedRead:
    return UnmatchedRead(
        id=u.id,
        practice_id=u.practice_id,
        remittance_id=c.remittance_id,
        remittance_claim_id=c.id,
        patient_control_number=c.patient_control_number,
        payer_claim_number=c.payer_claim_number,
        status_code=c.status_code,
        charge=amount(c.charge_minor, c.currency),
        held=amount(u.held_minor, u.currency),
        currency=u.currency,
        reason=u.reason,
        status=u.status,
        matched_claim_id=u.matched_claim_id,
        matched_at=u.matched_at,
        created_at=u.created_at,
    )


def _underpayment_read(u: Underpayment) -> UnderpaymentRead:
    cur = u.currency
    return UnderpaymentRead(
        id=u.id,
        practice_id=u.practice_id,
        claim_id=u.claim_id,
        remittance_claim_id=u.remittance_claim_id,
        expected=amount(u.expected_minor, cur),
        actual=amount(u.actual_minor, cur),
        difference=amount(u.difference_minor, cur),
        currency=cur,
        status=u.status,
        created_at=u.created_at,
    )


@router.post(
    "/remittances",
    response_model=PostResultRead,
    responses={428: {"description": "Posting a remittance needs an Idempotency-Key"}},
)
def post_remittance(body: RemittanceUpload, ctx: CtxDep) -> Response:
    """Post an 835 (each transaction set atomically; duplicates are no-ops). The answer lists
    each set's outcome: posted, duplicate, quarantined or refused."""

    def work(factory: sessionmaker[Session], p: Principal) -> tuple[BaseModel, int]:
        result = service.post_upload(factory, p, body.content, practice_id=body.practice_id)
        return _result_read(result), 200

    key_required = errors.IdempotencyKeyRequired(
        "Posting a remittance needs an Idempotency-Key header so a retry is safe"
    )
    if ctx.idempotency_key is None:
        # Who may post for which practice is answered first (403 / 404), then the key.
        def refuse(_s: Session, p: Principal) -> BaseModel:
            service.check_can_post(p, body.practice_id)
            raise key_required

        ctx.read(refuse)
    return ctx.write_external(work, key_required=key_required)


@router.get("/remittances", response_model=PageRead[RemittanceRead])
def list_remittances(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = queries.list_remittances(s, p, practice_id=practice_id, cursor=cursor, limit=limit)
        return PageRead[RemittanceRead](
            items=[RemittanceRead(**_fields(r)) for r in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)


@router.get("/remittances/unmatched", response_model=PageRead[UnmatchedRead])
def list_unmatched(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    status: UnmatchedStatus | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = queries.list_unmatched(
            s, p, practice_id=practice_id, status=status, cursor=cursor, limit=limit
        )
        return PageRead[UnmatchedRead](
            items=[_unmatched_read(u, c) for u, c in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.post("/remittances/unmatched/{unmatched_id}/match", response_model=UnmatchedRead)
def match_unmatched(unmatched_id: uuid.UUID, body: MatchIn, ctx: CtxDep) -> Response:
    """Say which claim a held remittance claim pays: its money moves from 2300 onto the claim."""

    def work(s: Session, p: Principal) -> BaseModel:
        held = service.match_unmatched(s, p, unmatched_id, body.claim_id)
        row = s.get(RemittanceClaim, held.remittance_claim_id)
        assert row is not None
        return _unmatched_read(held, row)

    return ctx.write(work)


@router.get("/remittances/underpayments", response_model=PageRead[UnderpaymentRead])
def list_underpayments(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    status: UnderpaymentStatus | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = queries.list_underpayments(
            s, p, practice_id=practice_id, status=status, cursor=cursor, limit=limit
        )
        return PageRead[UnderpaymentRead](
            items=[_underpayment_read(u) for u in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/remittances/{remittance_id}", response_model=RemittanceDetailRead)
def get_remittance(remittance_id: uuid.UUID, ctx: CtxDep) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        v = queries.get_remittance(s, p, remittance_id)
        return RemittanceDetailRead(
            **_fields(v.remittance),
            claims=[_claim_read(c) for c in v.claims],
        )

    return ctx.read(work)
