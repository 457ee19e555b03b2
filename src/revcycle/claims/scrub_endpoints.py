"""JSON routes of the scrubber: scrub a claim, and the admin tables it reads (thin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.claims import scrubber
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

router = APIRouter(tags=["claims"])


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
