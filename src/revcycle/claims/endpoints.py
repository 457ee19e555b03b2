"""JSON routes for claims (thin: parse, call, render)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

import revcycle.claims.scrubber as scrubber
from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.claims import service
from revcycle.claims.schemas import (
    ClaimCreate,
    ClaimEventList,
    ClaimEventRead,
    ClaimLineRead,
    ClaimRead,
    ClaimStatus,
    ClaimTransitionIn,
)
from revcycle.claims.scrub_schemas import (
    EditPairCreate,
    EditPairList,
    EditPairRead,
    FindingRead,
    ScrubRead,
    UnitLimitCreate,
    UnitLimitList,
    UnitLimitRead,
)
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["claims"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _opt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else amount(minor, currency)


def claim_read(v: service.ClaimView) -> ClaimRead:
    c = v.claim
    cur = c.currency
    return ClaimRead(
        id=c.id,
        practice_id=c.practice_id,
        patient_id=c.patient_id,
        invoice_id=c.invoice_id,
        coverage_id=c.coverage_id,
        payer_id=c.payer_id,
        plan_id=c.plan_id,
        number=c.number,
        control_number=c.control_number,
        sequence=c.sequence,
        frequency_code=c.frequency_code,
        primary_claim_id=c.primary_claim_id,
        replaces_claim_id=c.replaces_claim_id,
        status=c.status,
        status_reason=c.status_reason,
        place_of_service=c.place_of_service,
        rendering_provider_id=c.rendering_provider_id,
        referring_provider_id=c.referring_provider_id,
        prior_authorization=c.prior_authorization,
        diagnosis_codes=list(c.diagnosis_codes),
        service_date_from=c.service_date_from,
        service_date_to=c.service_date_to,
        currency=cur,
        charge=amount(c.charge_minor, cur),
        expected_allowed=_opt(c.expected_allowed_minor, cur),
        payer_claim_number=c.payer_claim_number,
        billed=c.billed_entry_id is not None,
        submitted_at=c.submitted_at,
        created_at=c.created_at,
        lines=[
            ClaimLineRead(
                id=ln.id,
                position=ln.position,
                invoice_line_id=ln.invoice_line_id,
                procedure=ln.procedure,
                modifiers=list(ln.modifiers),
                units=ln.units,
                charge=amount(ln.charge_minor, cur),
                diagnosis_pointers=list(ln.diagnosis_pointers),
                service_date=ln.service_date,
                expected_allowed=_opt(ln.expected_allowed_minor, cur),
                line_control_number=ln.line_control_number,
            )
            for ln in v.lines
        ],
    )


# -- the scrubber (docs/claims-scrubber.md) ----------------------------------------------------


def scrub_read(result: scrubber.ScrubResult) -> ScrubRead:
    return ScrubRead(
        claim_id=result.claim.id,
        previous_status=result.previous_status,
        status=result.status,
        errors=result.count("error"),
        warnings=result.count("warning"),
        holds=result.count("hold"),
        findings=[FindingRead(**f.as_dict()) for f in result.findings],
    )


@router.post("/claims/{claim_id}/scrub", response_model=ScrubRead)
def scrub_claim(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Run every scrubber rule; the claim becomes draft (errors), held (holds) or scrubbed."""
    return ctx.write(lambda s, p: scrub_read(scrubber.scrub_claim(s, p, claim_id)))


@router.get("/practices/{practice_id}/claim-edit-pairs", response_model=EditPairList)
def list_edit_pairs(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: EditPairList(
            items=[
                EditPairRead.model_validate(r) for r in scrubber.list_edit_pairs(s, p, practice_id)
            ]
        )
    )


@router.post(
    "/practices/{practice_id}/claim-edit-pairs", status_code=201, response_model=EditPairRead
)
def add_edit_pair(practice_id: uuid.UUID, body: EditPairCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: EditPairRead.model_validate(scrubber.add_edit_pair(s, p, practice_id, body)),
        status_code=201,
    )


@router.delete("/claim-edit-pairs/{pair_id}", status_code=204)
def delete_edit_pair(pair_id: uuid.UUID, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: scrubber.delete_edit_pair(s, p, pair_id), status_code=204)


@router.get("/practices/{practice_id}/claim-unit-limits", response_model=UnitLimitList)
def list_unit_limits(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: UnitLimitList(
            items=[
                UnitLimitRead.model_validate(r)
                for r in scrubber.list_unit_limits(s, p, practice_id)
            ]
        )
    )


@router.post(
    "/practices/{practice_id}/claim-unit-limits", status_code=201, response_model=UnitLimitRead
)
def add_unit_limit(practice_id: uuid.UUID, body: UnitLimitCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: UnitLimitRead.model_validate(scrubber.add_unit_limit(s, p, practice_id, body)),
        status_code=201,
    )


@router.delete("/claim-unit-limits/{limit_id}", status_code=204)
def delete_unit_limit(limit_id: uuid.UUID, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: scrubber.delete_unit_limit(s, p, limit_id), status_code=204)


@router.post("/claims", status_code=201, response_model=ClaimRead)
def create_claim(body: ClaimCreate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: claim_read(service.create_claim(s, p, body)), status_code=201)


@router.get("/claims", response_model=PageRead[ClaimRead])
def list_claims(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    status: ClaimStatus | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_claims(
            s,
            p,
            practice_id=practice_id,
            patient_id=patient_id,
            status=status,
            payer_id=payer_id,
            invoice_id=invoice_id,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[ClaimRead](
            items=[claim_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/claims/{claim_id}", response_model=ClaimRead)
def get_claim(claim_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: claim_read(service.get_claim(s, p, claim_id)))


@router.get("/claims/{claim_id}/events", response_model=ClaimEventList)
def claim_events(claim_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: ClaimEventList(
            items=[ClaimEventRead.model_validate(e) for e in service.claim_events(s, p, claim_id)]
        )
    )


@router.post("/claims/{claim_id}/transition", response_model=ClaimRead)
def transition_claim(claim_id: uuid.UUID, body: ClaimTransitionIn, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: claim_read(
            service.transition_claim(s, p, claim_id, body.status, reason=body.reason)
        )
    )
