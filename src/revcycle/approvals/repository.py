"""All SQL for approval requests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.approvals.models import ApprovalRequest


class ApprovalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, request_id: uuid.UUID) -> ApprovalRequest | None:
        return self.session.get(ApprovalRequest, request_id)

    def get_for_update(self, request_id: uuid.UUID) -> ApprovalRequest | None:
        return self.session.scalar(
            select(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def pending_for(self, operation: str, object_id: uuid.UUID) -> ApprovalRequest | None:
        return self.session.scalar(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.operation == operation,
                ApprovalRequest.object_id == object_id,
                ApprovalRequest.status == "requested",
            )
            .limit(1)
        )

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        status: str | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> Sequence[ApprovalRequest]:
        q = select(ApprovalRequest).order_by(ApprovalRequest.id.desc()).limit(limit)
        if practice_ids is not None:
            q = q.where(ApprovalRequest.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(ApprovalRequest.practice_id == practice_id)
        if status is not None:
            q = q.where(ApprovalRequest.status == status)
        if before is not None:
            q = q.where(ApprovalRequest.id < before)
        return self.session.scalars(q).all()
