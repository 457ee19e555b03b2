"""JSON routes for the denial work queue, appeals (letters, attachments) and secondary claims
(thin: parse, call, render)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, cast
from urllib.parse import quote

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.appeals import letter, service
from revcycle.appeals.models import AppealAttachment
from revcycle.appeals.schemas import (
    AppealCreate,
    AppealEventRead,
    AppealOutcomeIn,
    AppealRead,
    AppealStatus,
    AttachmentCreate,
    AttachmentRead,
    CodeRead,
    DenialGroupRead,
    DenialQueueRead,
    DenialRead,
    DeniedLineRead,
    RemarkRead,
    SecondaryRead,
)
from revcycle.auth.principal import Principal
from revcycle.claims import carc_actions, denials, reason_codes, secondary
from revcycle.claims.carc_schemas import (
    CarcActionList,
    CarcActionName,
    CarcActionPut,
    CarcActionPutRead,
    CarcActionRead,
)
from revcycle.claims.endpoints import claim_read
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["denials and appeals"])
Limit = Annotated[int, Query(ge=1, le=200)]
CodeFilter = Annotated[str, Query(pattern=r"^[A-Za-z0-9]{1,6}$")]
AgeBucket = Literal["0-30", "31-60", "61-90", "90+"]
# The letter page styles itself inline and loads nothing.
LETTER_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def _code(c: denials.Code, currency: str) -> CodeRead:
    return CodeRead(
        group=c.group,
        reason=c.reason,
        amount=amount(c.amount_minor, currency),
        description=c.description,
        group_description=reason_codes.describe_group(c.group),
        action=c.action,
    )


def denial_read(d: denials.Denial) -> DenialRead:
    cur = d.claim.currency
    return DenialRead(
        claim_id=d.claim.id,
        practice_id=d.claim.practice_id,
        patient_id=d.claim.patient_id,
        control_number=d.claim.control_number,
        claim_status=d.claim.status,
        payer_id=d.claim.payer_id,
        payer_name=d.payer_name,
        payer_claim_number=d.payer_claim_number,
        adjudicated_on=d.adjudicated_on,
        status_code=d.status_code,
        currency=cur,
        charge=amount(d.claim.charge_minor, cur),
        paid=amount(d.paid_minor, cur),
        patient_responsibility=amount(d.patient_responsibility_minor, cur),
        at_stake=amount(d.at_stake_minor, cur),
        age_days=d.age_days,
        age_bucket=d.age_bucket,
        deadline=d.deadline,
        days_left=d.days_left,
        primary_reason=d.primary_reason,
        action=d.action,
        adjustments=[_code(c, cur) for c in d.adjustments],
        remarks=[RemarkRead(code=r.code, description=r.description) for r in d.remarks],
        lines=[
            DeniedLineRead(
                line_control_number=ln.line_control_number,
                procedure=ln.procedure,
                modifiers=ln.modifiers,
                units=ln.units,
                at_stake=amount(ln.at_stake_minor, cur),
                adjustments=[_code(c, cur) for c in ln.adjustments],
                action=ln.action,
            )
            for ln in d.lines
        ],
    )


@router.get("/denials", response_model=DenialQueueRead)
def denial_queue(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    reason: CodeFilter | None = None,
    remark: CodeFilter | None = None,
    age: AgeBucket | None = None,
    action: CarcActionName | None = None,
    group_by: denials.GroupBy | None = None,
) -> object:
    """The denial work queue (denied claims, adjudicated claims with denied lines), soonest
    appeal deadline first, optionally grouped by primary reason, payer, age or action."""

    def work(s: Session, p: Principal) -> BaseModel:
        q = denials.queue(
            s,
            p,
            practice_id=practice_id,
            payer_id=payer_id,
            reason=reason,
            remark=remark,
            age=age,
            action=action,
            group_by=group_by,
        )
        cur = q.currency

        def total(minor: int) -> str | None:
            return None if cur is None else amount(minor, cur)

        return DenialQueueRead(
            as_of=q.as_of,
            group_by=group_by,
            count=len(q.items),
            currency=cur,
            at_stake=total(q.at_stake_minor),
            truncated=q.truncated,
            groups=[
                DenialGroupRead(
                    key=g.key, label=g.label, count=g.count, at_stake=total(g.at_stake_minor)
                )
                for g in q.groups
            ],
            items=[denial_read(d) for d in q.items],
        )

    return ctx.read(work)


def attachment_read(a: AppealAttachment) -> AttachmentRead:
    return AttachmentRead(
        id=a.id,
        filename=a.filename,
        content_type=a.content_type,
        size_bytes=a.size_bytes,
        sha256=a.sha256,
        created_at=a.created_at,
    )


def appeal_read(v: service.AppealView) -> AppealRead:
    a = v.appeal
    cur = a.currency
    return AppealRead(
        id=a.id,
        practice_id=a.practice_id,
        patient_id=a.patient_id,
        claim_id=a.claim_id,
        payer_id=a.payer_id,
        level=a.level,
        status=a.status,
        claim_status_before=a.claim_status_before,
        adjudicated_on=a.adjudicated_on,
        deadline=a.deadline,
        late_reason=a.late_reason,
        argument=a.argument,
        currency=cur,
        at_stake=amount(a.at_stake_minor, cur),
        expected=None if a.expected_minor is None else amount(a.expected_minor, cur),
        lost_action=a.lost_action,
        outcome_entry_id=a.outcome_entry_id,
        remittance_claim_id=a.remittance_claim_id,
        recovered=None if a.recovered_minor is None else amount(a.recovered_minor, cur),
        sent_on=a.sent_on,
        decided_on=a.decided_on,
        created_at=a.created_at,
        attachments=[attachment_read(x) for x in v.attachments],
        events=[
            AppealEventRead(
                id=e.id,
                kind=e.kind,
                from_status=e.from_status,
                to_status=e.to_status,
                actor_user_id=e.actor_user_id,
                actor_kind=e.actor_kind,
                note=e.note,
                detail=dict(e.detail),
                at=e.at,
            )
            for e in v.events
        ],
    )


@router.post("/appeals", status_code=201, response_model=AppealRead)
def create_appeal(body: AppealCreate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: appeal_read(service.create_appeal(s, p, body)), status_code=201)


@router.get("/appeals", response_model=PageRead[AppealRead])
def list_appeals(
    ctx: CtxDep,
    claim_id: uuid.UUID | None = None,
    status: AppealStatus | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_appeals(
            s, p, claim_id=claim_id, status=status, cursor=cursor, limit=limit
        )
        return PageRead[AppealRead](
            items=[appeal_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/appeals/{appeal_id}", response_model=AppealRead)
def get_appeal(appeal_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: appeal_read(service.get_appeal(s, p, appeal_id)))


@router.post("/appeals/{appeal_id}/send", response_model=AppealRead)
def send_appeal(appeal_id: uuid.UUID, ctx: CtxDep) -> Response:
    """The letter and attachments went to the payer: draft -> sent."""
    return ctx.write(lambda s, p: appeal_read(service.send_appeal(s, p, appeal_id)))


@router.post("/appeals/{appeal_id}/outcome", response_model=AppealRead)
def record_outcome(appeal_id: uuid.UUID, body: AppealOutcomeIn, ctx: CtxDep) -> Response:
    """The payer's decision: won, partially won (the claim awaits a new 835) or lost."""
    return ctx.write(lambda s, p: appeal_read(service.record_outcome(s, p, appeal_id, body)))


@router.post("/appeals/{appeal_id}/attachments", status_code=201, response_model=AttachmentRead)
def add_attachment(appeal_id: uuid.UUID, body: AttachmentCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: attachment_read(service.add_attachment(s, p, appeal_id, body)),
        status_code=201,
    )


class _File(BaseModel):
    filename: str
    content_type: str
    content: bytes


def _disposition(kind: str, filename: str) -> str:
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get(
    "/appeals/{appeal_id}/attachments/{attachment_id}",
    responses={200: {"description": "The file", "content": {"application/octet-stream": {}}}},
)
def get_attachment(appeal_id: uuid.UUID, attachment_id: uuid.UUID, ctx: CtxDep) -> Response:
    def work(s: Session, p: Principal) -> BaseModel:
        row, content = service.get_attachment(s, p, appeal_id, attachment_id)
        return _File(filename=row.filename, content_type=row.content_type, content=content)

    out = cast(_File, ctx.read(work))
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": _disposition("attachment", out.filename),
        "X-Content-Type-Options": "nosniff",
    }
    return Response(out.content, media_type=out.content_type, headers=headers)


class _Letter(BaseModel):
    name: str
    page: str


def _letter(ctx: CtxDep, appeal_id: uuid.UUID) -> _Letter:
    def work(s: Session, p: Principal) -> BaseModel:
        view = letter.letter_view(s, p, appeal_id)
        return _Letter(name=f"appeal-{view.claim.control_number}", page=letter.html(view))

    return cast(_Letter, ctx.read(work))


@router.get(
    "/appeals/{appeal_id}/letter",
    responses={200: {"description": "The letter as HTML", "content": {"text/html": {}}}},
)
def letter_preview(appeal_id: uuid.UUID, ctx: CtxDep) -> Response:
    out = _letter(ctx, appeal_id)
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": LETTER_CSP}
    return Response(out.page, media_type="text/html; charset=utf-8", headers=headers)


@router.get(
    "/appeals/{appeal_id}/letter.pdf",
    responses={200: {"description": "The letter as PDF", "content": {"application/pdf": {}}}},
)
def letter_pdf(appeal_id: uuid.UUID, ctx: CtxDep) -> Response:
    out = _letter(ctx, appeal_id)
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="{out.name}.pdf"',
    }
    return Response(letter.pdf(out.page), media_type="application/pdf", headers=headers)


@router.post("/claims/{claim_id}/secondary", response_model=SecondaryRead)
def build_secondary(claim_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Build the secondary claim of an adjudicated primary claim (or record the crossover);
    repeating it answers the first decision."""

    def work(s: Session, p: Principal) -> BaseModel:
        r = secondary.build_secondary(s, p, claim_id)
        return SecondaryRead(
            primary_claim_id=claim_id,
            outcome=r.outcome,
            created=r.created,
            secondary_claim=None if r.secondary is None else claim_read(r.secondary),
        )

    return ctx.write(work)


# -- the CARC -> action table (docs/denials-appeals.md, "What to do about an adjustment") -------
def carc_action_read(t: carc_actions.TableRow) -> CarcActionRead:
    r = t.row
    return CarcActionRead(
        id=r.id,
        practice_id=r.practice_id,
        source="default" if r.practice_id is None else "practice",
        key=carc_actions.key_text(r.group_code, r.reason_code, r.remark_code),
        group=r.group_code or None,
        reason=r.reason_code or None,
        remark=r.remark_code or None,
        action=r.action,
        note=r.note,
        overridden=t.overridden,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


@router.get("/practices/{practice_id}/carc-actions", response_model=CarcActionList)
def list_carc_actions(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    """The defaults and the practice's own rows; the most specific key wins."""
    return ctx.read(
        lambda s, p: CarcActionList(
            items=[carc_action_read(t) for t in carc_actions.list_table(s, p, practice_id)]
        )
    )


@router.put("/practices/{practice_id}/carc-actions", response_model=CarcActionPutRead)
def put_carc_action(practice_id: uuid.UUID, body: CarcActionPut, ctx: CtxDep) -> Response:
    """Set the practice's action for a key (group, reason, remark)."""

    def work(s: Session, p: Principal) -> BaseModel:
        row, created = carc_actions.put_row(s, p, practice_id, body)
        read = carc_action_read(carc_actions.TableRow(row, overridden=False))
        return CarcActionPutRead(**read.model_dump(), created=created)

    return ctx.write(work)


@router.delete("/carc-actions/{carc_action_id}", status_code=204)
def delete_carc_action(carc_action_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Remove a practice's row: the default for its key applies again."""
    return ctx.write(lambda s, p: carc_actions.delete_row(s, p, carc_action_id), status_code=204)
