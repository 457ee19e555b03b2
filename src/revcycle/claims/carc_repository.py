"""All SQL of the CARC -> action table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.claims.carc_models import CarcAction


class CarcActionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def rows_for(self, practice_id: uuid.UUID) -> Sequence[CarcAction]:
        """The defaults and the practice's own rows (defaults first, then by key)."""
        return self.session.scalars(
            select(CarcAction)
            .where((CarcAction.practice_id.is_(None)) | (CarcAction.practice_id == practice_id))
            .order_by(
                CarcAction.practice_id.is_not(None),
                CarcAction.group_code,
                CarcAction.reason_code,
                CarcAction.remark_code,
            )
        ).all()

    def get(self, row_id: uuid.UUID, *, for_update: bool = False) -> CarcAction | None:
        q = select(CarcAction).where(CarcAction.id == row_id)
        if for_update:
            q = q.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(q)

    def find(
        self, practice_id: uuid.UUID, group: str, reason: str, remark: str, *, for_update: bool
    ) -> CarcAction | None:
        q = select(CarcAction).where(
            CarcAction.practice_id == practice_id,
            CarcAction.group_code == group,
            CarcAction.reason_code == reason,
            CarcAction.remark_code == remark,
        )
        if for_update:
            q = q.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(q)
