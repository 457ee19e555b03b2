"""JSON routes for claim submission: send scrubbed claims, read a batch, the rejection work
queue, corrected and void claims (thin: parse, call, render; docs/claim-submission.md).

Mounted before the claims router: ``GET /claims/rejections`` must not be read as
``GET /claims/{claim_id}``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.claims import errors, submission
from revcycle.claims.endpoints import claim_read
from revcycle.claims.models import ClaimBatch
from revcycle.claims.schemas import ClaimRead
from revcycle.claims.submission_schemas import (
    BatchClaimRead,
    ClaimBatchRead,
    ClaimSubmitIn,
    RejectionRead,
    ReturnedRead,
    SubmissionRead,
)
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["claims"])
Limit = Annotated[int, Query(ge=1, le=200)]


def batch_read(b: ClaimBatch, view: submission.BatchView | None = None) -> ClaimBatchRead:
    return ClaimBatchRead(
        id=b.id,
        practice_id=b.practice_id,
        interchange_control_number=b.interchange_control_number,
        batch_reference=b.batch_reference,
        status=b.status,
        claim_count=b.claim_count,
        total_charge=amount(b.total_charge_minor, b.currency),
        currency=b.currency,
        content_sha256=b.content_sha256,
        clearinghouse=b.clearinghouse,
        file_id=b.file_id,
        error=b.error,
        submitted_at=b.submitted_at,
        created_at=b.created_at,
        claims=[
            BatchClaimRead(
                claim_id=c.id,
                control_number=c.control_number,
                status=c.status,
                attempt=s.attempt,
                set_control_number=s.set_control_number,
                first_segment=s.first_segment,
                last_segment=s.last_segment,
            )
            for s, c in (view.submissions if view else [])
        ],
    )


def _access(s: Session, p: Principal, practice_id: uuid.UUID) -> None:
    submission.access_practice(s, p, practice_id)


@router.post(
    "/claims/submit",
    status_code=201,
    response_model=SubmissionRead,
    responses={
        200: {"description": "Nothing to send (no scrubbed claim was free)"},
        428: {"description": "An Idempotency-Key is required"},
    },
)
def submit_claims(body: ClaimSubmitIn, ctx: CtxDep) -> Response:
    """Send the practice's scrubbed claims (or the listed ones) in one 837P batch."""
    client = ctx.request.app.state.clearinghouse
    settings = ctx.settings

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        res = submission.submit_claims(
            factory,
            principal,
            client,
            practice_id=body.practice_id,
            claim_ids=body.claim_ids,
            settings=settings,
        )
        return (
            SubmissionRead(
                batch=batch_read(res.batch) if res.batch is not None else None,
                claim_ids=res.claim_ids,
                returned_to_draft=[
                    ReturnedRead(
                        claim_id=r.claim_id, control_number=r.control_number, reason=r.reason
                    )
                    for r in res.returned
                ],
            ),
            201 if res.batch is not None else 200,
        )

    if ctx.idempotency_key is None:  # who may not act learns 403/404 first, not 428
        ctx.read(lambda s, p: _access(s, p, body.practice_id))
    return ctx.write_external(
        work,
        key_required=errors.IdempotencyKeyRequired(
            "Submitting claims needs an Idempotency-Key header"
        ),
    )


@router.get("/claim-batches/{batch_id}", response_model=ClaimBatchRead)
def get_batch(batch_id: uuid.UUID, ctx: CtxDep) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        view = submission.get_batch(s, p, batch_id)
        return batch_read(view.batch, view)

    return ctx.read(work)


@router.get("/claims/rejections", response_model=PageRead[RejectionRead])
def list_rejections(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    """The rejection work queue: rejected claims with the latest reason and where it was."""

    def work(s: Session, p: Principal) -> BaseModel:
        page = submission.list_rejections(
            s, p, practice_id=practice_id, payer_id=payer_id, cursor=cursor, limit=limit
        )
        items = []
        for r in page.items:
            c, e = r.claim, r.event
            d = dict(e.detail) if e is not None else {}
            position = d.get("position")
            items.append(
                RejectionRead(
                    claim_id=c.id,
                    practice_id=c.practice_id,
                    patient_id=c.patient_id,
                    payer_id=c.payer_id,
                    number=c.number,
                    control_number=c.control_number,
                    charge=amount(c.charge_minor, c.currency),
                    currency=c.currency,
                    service_date_from=c.service_date_from,
                    rejected_at=e.at if e is not None else None,
                    reason=c.status_reason,
                    source=d.get("source"),
                    codes=[str(x) for x in d.get("codes") or []],
                    message=d.get("message"),
                    segment=d.get("segment"),
                    position=position if isinstance(position, int) else None,
                    detail=d,
                )
            )
        return PageRead[RejectionRead](items=items, next_cursor=page.next_cursor)

    return ctx.read(work)


@router.post("/claims/{claim_id}/correct", status_code=201, response_model=ClaimRead)
def correct_claim(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """A frequency-7 replacement draft of a claim the payer has (its lines copied)."""
    return ctx.write(
        lambda s, p: claim_read(submission.correct_claim(s, p, claim_id, frequency="7")),
        status_code=201,
    )


@router.post("/claims/{claim_id}/void", status_code=201, response_model=ClaimRead)
def void_claim(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """A frequency-8 void claim of a claim the payer has."""
    return ctx.write(
        lambda s, p: claim_read(submission.correct_claim(s, p, claim_id, frequency="8")),
        status_code=201,
    )
