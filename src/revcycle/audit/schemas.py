from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from revcycle.kit.schemas import ReadSchema


class AuditEventRead(ReadSchema):
    id: int
    occurred_at: dt.datetime
    category: str
    action: str
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    practice_id: uuid.UUID | None
    object_type: str
    object_id: str | None
    fields: list[str]
    detail: dict[str, Any] | None
    request_id: str | None
    client_addr: str | None
    chain_key: str | None
    chain_seq: int | None
    prev_hash: str | None
    hash: str | None


class ReaderRead(ReadSchema):
    user_id: uuid.UUID
    role: str | None
    reads: int


class SecuritySummaryRead(ReadSchema):
    since: dt.datetime
    until: dt.datetime
    by_kind: dict[str, int]
    top_readers: list[ReaderRead]
