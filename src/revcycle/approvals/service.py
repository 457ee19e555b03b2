"""Approving or rejecting requests made when a refund or write-off exceeded the requester's limit.

Approving needs ``money:approve`` (admin) with a second factor, by a user other than the
requester (``auth.policies``); it executes the stored operation in the same transaction with every
check repeated, so a refundable amount or balance that changed since the request is caught.
Status: requested -> approved -> executed (one transaction), or requested -> rejected.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from revcycle.approvals import errors, gate
from revcycle.approvals.models import ApprovalRequest
from revcycle.approvals.repository import ApprovalRepository
from revcycle.approvals.schemas import ApprovalReject, ApprovalStatus
from revcycle.audit import service as audit
from revcycle.auth import policies
from revcycle.auth.permissions import Action, allowed
from revcycle.auth.principal import Principal
from revcycle.errors import Forbidden, out_of_scope
from revcycle.invoices import service as invoices_service
from revcycle.invoices.schemas import WriteOffCreate
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.refunds import service as refunds_service


def _not_found() -> errors.ApprovalNotFound:
    return errors.ApprovalNotFound("No such approval request")


def _access(
    session: Session, actor: Principal, request_id: uuid.UUID, *, for_update: bool
) -> ApprovalRequest:
    repo = ApprovalRepository(session)
    request = repo.get_for_update(request_id) if for_update else repo.get(request_id)
    if request is None:
        raise _not_found()
    if not actor.sees_practice(request.practice_id):
        raise out_of_scope(_not_found(), "approval_request", request.id)
    return request


def _decide(
    session: Session, actor: Principal, request_id: uuid.UUID, *, resumable: bool = False
) -> ApprovalRequest:
    """The checks shared by approve and reject: role (403), scope (404, existence not disclosed),
    second factor (403 auth.mfa_required), not the requester (403 auth.same_approver), pending.
    ``resumable``: an ``approved`` request whose operation is still running at the payment gateway
    (a card refund) may be approved again, which resumes it (same gateway key: one refund)."""
    if not allowed(actor.role, Action.MONEY_APPROVE):
        raise Forbidden(
            f"Your role ({actor.role.value}) may not perform {Action.MONEY_APPROVE.value}",
            code="auth.forbidden",
            action=Action.MONEY_APPROVE.value,
        )
    request = _access(session, actor, request_id, for_update=True)
    policies.require_mfa(actor, Action.MONEY_APPROVE)
    policies.require_distinct_approver(request.requested_by, actor)
    if request.status != ApprovalStatus.REQUESTED and not (
        resumable and request.status == ApprovalStatus.APPROVED
    ):
        raise errors.NotPending(
            f"This request is {request.status}; only a pending request can be decided",
            status_now=request.status,
        )
    return request


def _mark_approved(session: Session, actor: Principal, request: ApprovalRequest) -> None:
    request.status = ApprovalStatus.APPROVED
    request.decided_by, request.decided_at = actor.user_id, utcnow()
    audit.record(
        session,
        actor,
        "approval:approve",
        object_type="approval_request",
        object_id=request.id,
        practice_id=request.practice_id,
        fields=["status", "decided_by"],
    )


def mark_executed(
    session: Session, actor: Principal, request: ApprovalRequest, result_id: uuid.UUID
) -> None:
    """The approved operation ran (in the caller's transaction)."""
    request.result_id = result_id
    request.status = ApprovalStatus.EXECUTED
    request.executed_at = utcnow()
    audit.record(
        session,
        actor,
        "approval:execute",
        object_type="approval_request",
        object_id=request.id,
        practice_id=request.practice_id,
        fields=["status", "result_id"],
        detail={"operation": request.operation},
    )
    session.flush()


def mark_failed(
    session: Session, actor: Principal, request: ApprovalRequest, result_id: uuid.UUID, code: str
) -> None:
    """The approved operation was tried and the payment gateway refused it (nothing moved)."""
    request.result_id = result_id
    request.status = ApprovalStatus.FAILED
    request.failure_code = code[:40]
    request.executed_at = utcnow()
    audit.record(
        session,
        actor,
        "approval:fail",
        object_type="approval_request",
        object_id=request.id,
        practice_id=request.practice_id,
        fields=["status", "result_id", "failure_code"],
        detail={"operation": request.operation, "code": code},
    )
    session.flush()


def begin_external(session: Session, actor: Principal, request_id: uuid.UUID) -> ApprovalRequest:
    """Approve a request whose operation calls the payment gateway (a card refund): every check of
    :func:`approve`, then ``approved`` (committed before the gateway call). An ``approved``
    request is returned as it is, so a retried or concurrent approve resumes the same operation."""
    request = _decide(session, actor, request_id, resumable=True)
    if request.status == ApprovalStatus.REQUESTED:
        _mark_approved(session, actor, request)
    session.flush()
    return request


def approve(session: Session, actor: Principal, request_id: uuid.UUID) -> ApprovalRequest:
    request = _decide(session, actor, request_id)
    _mark_approved(session, actor, request)
    if request.operation == gate.REFUND:
        result_id = refunds_service.execute_approved(session, actor, request).id
    elif request.operation == gate.WRITE_OFF:
        invoices_service.write_off_invoice(
            session,
            actor,
            request.object_id,
            WriteOffCreate.model_validate(request.payload),
            approved_minor=request.amount_minor,
        )
        result_id = request.object_id
    else:  # pragma: no cover - the CHECK-free operation column only ever gets the two above
        raise errors.NotPending("Unknown operation", status_now=request.status)
    mark_executed(session, actor, request, result_id)
    return request


def reject(
    session: Session, actor: Principal, request_id: uuid.UUID, data: ApprovalReject
) -> ApprovalRequest:
    request = _decide(session, actor, request_id)
    request.status = ApprovalStatus.REJECTED
    request.decided_by, request.decided_at = actor.user_id, utcnow()
    request.decision_reason = data.reason
    audit.record(
        session,
        actor,
        "approval:reject",
        object_type="approval_request",
        object_id=request.id,
        practice_id=request.practice_id,
        fields=["status", "decided_by", "decision_reason"],
    )
    session.flush()
    return request


def get_request(session: Session, actor: Principal, request_id: uuid.UUID) -> ApprovalRequest:
    actor.require(Action.APPROVAL_READ)
    request = _access(session, actor, request_id, for_update=False)
    audit.record_read(
        session,
        actor,
        "approval:read",
        object_type="approval_request",
        object_id=request.id,
        practice_id=request.practice_id,
    )
    return request


def list_requests(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    status: ApprovalStatus | None,
    cursor: str | None,
    limit: int,
) -> Page[ApprovalRequest]:
    actor.require(Action.APPROVAL_READ)
    limit = min(limit, MAX_LIMIT)
    rows = list(
        ApprovalRepository(session).search(
            practice_ids=actor.practice_ids,
            practice_id=practice_id,
            status=status.value if status else None,
            before=parse_cursor_uuid(after_id(cursor)),
            limit=limit + 1,
        )
    )
    page = page_by_id(rows, limit)
    audit.record_list_read(
        session, actor, "approval:list", ((r.practice_id, r.patient_id) for r in page.items)
    )
    return page
