"""JSON routes for approval requests: list, read, approve, reject. Requests are created by the
refund and write-off routes when an amount exceeds the caller's limit (answered 202)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.approvals import service
from revcycle.approvals.models import ApprovalRequest
from revcycle.approvals.schemas import ApprovalReject, ApprovalRequestRead, ApprovalStatus
from revcycle.auth.principal import Principal
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.refunds import card as refunds_card

router = APIRouter(tags=["approvals"])
Limit = Annotated[int, Query(ge=1, le=200)]


def approval_read(r: ApprovalRequest) -> ApprovalRequestRead:
    return ApprovalRequestRead(
        id=r.id,
        practice_id=r.practice_id,
        patient_id=r.patient_id,
        operation=r.operation,
        object_type=r.object_type,
        object_id=r.object_id,
        amount=amount(r.amount_minor, r.currency),
        currency=r.currency,
        limit=amount(r.limit_minor, r.currency),
        payload=r.payload,
        status=r.status,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_reason=r.decision_reason,
        executed_at=r.executed_at,
        result_id=r.result_id,
        failure_code=r.failure_code,
    )


def accepted_when_requested(response: Response) -> Response:
    """A money route answered with an approval request instead of doing the operation: 202.
    Decided from the body, so an idempotent replay of the same answer gets the same status."""
    if response.status_code in {200, 201} and response.body:
        body = json.loads(bytes(response.body))
        if isinstance(body, dict) and body.get("status") == "requested" and "operation" in body:
            response.status_code = 202
    return response


@router.get("/approval-requests", response_model=PageRead[ApprovalRequestRead])
def list_approval_requests(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    status: ApprovalStatus | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_requests(
            s, p, practice_id=practice_id, status=status, cursor=cursor, limit=limit
        )
        return PageRead[ApprovalRequestRead](
            items=[approval_read(r) for r in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/approval-requests/{request_id}", response_model=ApprovalRequestRead)
def get_approval_request(request_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: approval_read(service.get_request(s, p, request_id)))


@router.post(
    "/approval-requests/{request_id}/approve",
    response_model=ApprovalRequestRead,
    responses={202: {"description": "Approved card refund pending at the payment gateway"}},
)
def approve_request(request_id: uuid.UUID, ctx: CtxDep) -> Response:
    """Approve and execute. A card refund runs through the payment gateway (docs/refunds-
    approvals.md): 200 executed, 202 still approved while the gateway has not answered, 409
    ``refund.gateway_refused`` when it refused (the request is then ``failed``)."""
    if refunds_card.approval_needs_gateway(ctx.factory, request_id):
        gateway = ctx.request.app.state.gateway

        def external(factory: sessionmaker[Session], p: Principal) -> tuple[BaseModel, int]:
            done = refunds_card.approve_card_refund(factory, gateway, p, request_id)
            return approval_read(done), 202 if done.status == ApprovalStatus.APPROVED else 200

        return ctx.write_phased(external)
    return ctx.write(lambda s, p: approval_read(service.approve(s, p, request_id)))


@router.post("/approval-requests/{request_id}/reject", response_model=ApprovalRequestRead)
def reject_request(request_id: uuid.UUID, body: ApprovalReject, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: approval_read(service.reject(s, p, request_id, body)))
