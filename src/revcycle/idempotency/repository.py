"""All SQL for stored Idempotency-Key requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from revcycle.idempotency.models import IdempotencyKey


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_if_absent(self, values: dict[str, Any]) -> uuid.UUID | None:
        """INSERT ... ON CONFLICT DO NOTHING: returns the new id, or None if the key exists."""
        dialect = self.session.get_bind().dialect.name
        ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            ins(IdempotencyKey)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(IdempotencyKey.id)
        )
        return self.session.scalar(stmt)

    def get_for_update(self, user_id: uuid.UUID, key: str) -> IdempotencyKey | None:
        return self.session.scalar(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .with_for_update()
        )

    def complete(
        self, row_id: uuid.UUID, *, status: int, body: str, content_type: str, now: dt.datetime
    ) -> int:
        result = self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row_id, IdempotencyKey.state == "in_progress")
            .values(
                state="completed",
                response_status=status,
                response_body=body,
                response_content_type=content_type,
                completed_at=now,
                locked_at=None,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def release(self, row_id: uuid.UUID) -> None:
        self.session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.id == row_id, IdempotencyKey.state == "in_progress"
            )
        )

    def purge_older_than(self, cutoff: dt.datetime) -> int:
        result = self.session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
