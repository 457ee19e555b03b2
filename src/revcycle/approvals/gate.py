"""Per-role transaction limits and the creation of approval requests.

A refund or write-off above the caller's limit is not executed: the domain service calls
:func:`over_limit` and, when it answers with a limit, :func:`request_approval` stores the exact
operation (validated payload) as a request. ``approvals.service`` approves (executing it, with every
check repeated) or rejects it. This module imports no other domain's service, so ``invoices`` and
``refunds`` can use it without an import cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from revcycle.approvals.errors import AlreadyPending
from revcycle.approvals.models import ApprovalRequest
from revcycle.approvals.repository import ApprovalRepository
from revcycle.audit import service as audit
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.config import Settings
from revcycle.kit.ids import uuid7
from revcycle.money import Money

REFUND = "refund"
WRITE_OFF = "write_off"


@dataclass(frozen=True)
class Limits:
    """operation -> role -> limit as a decimal string (absent or None: no limit)."""

    by_operation: Mapping[str, Mapping[Role, str | None]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            {
                REFUND: {
                    Role.ADMIN: settings.refund_limit_admin,
                    Role.BILLING_STAFF: settings.refund_limit_billing_staff,
                },
                WRITE_OFF: {
                    Role.ADMIN: settings.write_off_limit_admin,
                    Role.BILLING_STAFF: settings.write_off_limit_billing_staff,
                },
            }
        )

    def limit_for(self, operation: str, actor: Principal, currency: str) -> Money | None:
        if actor.user_id is None:  # the CLI operator on the server
            return None
        raw = self.by_operation.get(operation, {}).get(actor.role)
        return None if raw is None else Money.parse(raw, currency)


def over_limit(
    limits: Limits | None, operation: str, actor: Principal, amount: Money
) -> Money | None:
    """The caller's limit when ``amount`` exceeds it (the operation needs approval), else None."""
    if limits is None:
        return None
    limit = limits.limit_for(operation, actor, amount.currency)
    return limit if limit is not None and amount > limit else None


def request_approval(
    session: Session,
    actor: Principal,
    *,
    operation: str,
    object_type: str,
    object_id: uuid.UUID,
    practice_id: uuid.UUID,
    patient_id: uuid.UUID,
    amount: Money,
    limit: Money,
    payload: dict[str, Any],
) -> ApprovalRequest:
    """Store the operation for approval. One pending request per operation and object: the
    callers hold the object's row lock (payment, invoice), so the check cannot race."""
    pending = ApprovalRepository(session).pending_for(operation, object_id)
    if pending is not None:
        raise AlreadyPending(
            "An approval request for this is already pending; wait for its decision",
            approval_request_id=str(pending.id),
        )
    request = ApprovalRequest(
        id=uuid7(),
        practice_id=practice_id,
        patient_id=patient_id,
        operation=operation,
        object_type=object_type,
        object_id=object_id,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        limit_minor=limit.amount_minor,
        payload=payload,
        status="requested",
        requested_by=actor.user_id,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor,
        "approval:request",
        object_type="approval_request",
        object_id=request.id,
        practice_id=practice_id,
        fields=["operation", "amount", "payload"],
        detail={"operation": operation, "object_type": object_type, "object_id": str(object_id)},
    )
    return request
