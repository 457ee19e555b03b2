"""JSON routes for claims (thin: parse, call, render)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

import revcycle.claims.scrubber as scrubber
from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.claims import errors, service, submission
from revcycle.claims import status as claim_status
from revcycle.claims.models import ClaimBatch
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
        payer_claim_numbers=list(c.payer_claim_numbers or []),
        predetermination=c.predetermination,
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


@router.post(
    "/claims/{claim_id}/status-inquiries",
    status_code=201,
    response_model=ClaimEventRead,
    responses={502: {"description": "clearinghouse.* (the attempt is recorded on the claim)"}},
)
def inquire_status(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Ask the payer where the claim is (276/277) and record the answer as a claim event."""
    client = ctx.request.app.state.clearinghouse
    timeout = ctx.settings.clearinghouse_timeout_seconds

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        view = claim_status.inquire_status(
            factory, client, principal, claim_id, timeout_seconds=timeout
        )
        return ClaimEventRead.model_validate(view.event), 201

    return ctx.write_phased(work)


# -- submission (docs/claim-submission.md) -------------------------------------------------------
# Its own router, mounted before ``router``: ``GET /claims/rejections`` must not be read as
# ``GET /claims/{claim_id}``.
submission_router = APIRouter(tags=["claims"])


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


@submission_router.post(
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


@submission_router.get("/claim-batches/{batch_id}", response_model=ClaimBatchRead)
def get_batch(batch_id: uuid.UUID, ctx: CtxDep) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        view = submission.get_batch(s, p, batch_id)
        return batch_read(view.batch, view)

    return ctx.read(work)


@submission_router.get("/claims/rejections", response_model=PageRead[RejectionRead])
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


@submission_router.post("/claims/{claim_id}/correct", status_code=201, response_model=ClaimRead)
def correct_claim(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """A frequency-7 replacement draft of a claim the payer has (its lines copied)."""
    return ctx.write(
        lambda s, p: claim_read(submission.correct_claim(s, p, claim_id, frequency="7")),
        status_code=201,
    )


@submission_router.post("/claims/{claim_id}/void", status_code=201, response_model=ClaimRead)
def void_claim(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """A frequency-8 void claim of a claim the payer has."""
    return ctx.write(
        lambda s, p: claim_read(submission.correct_claim(s, p, claim_id, frequency="8")),
        status_code=201,
    )
