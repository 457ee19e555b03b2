"""Client Idempotency-Key handling (IETF draft-ietf-httpapi-idempotency-key-header).

* same key + same request  -> the stored response, replayed byte for byte
* same key + other request -> 422 ``idempotency.key_reused``
* same key, first request still running -> 409 ``idempotency.in_progress``

Keys are unique per (user, key) by a database constraint, so concurrent duplicates across any
number of API processes produce one effect. A reservation abandoned by a crashed process is taken
over once its lock is older than ``lock_seconds``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.idempotency import errors
from revcycle.idempotency.repository import IdempotencyRepository
from revcycle.kit.clock import utcnow

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        h.update(part)
        h.update(b"\0")
    h.update(body)
    return h.hexdigest()


def parse_key(raw: str) -> str:
    value = raw.strip()
    # The draft sends the key as a structured-field string: accept it quoted or bare.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.fullmatch(value):
        raise errors.InvalidKey("Idempotency-Key must be 1-255 visible ASCII characters")
    return value


@dataclass(frozen=True)
class Reservation:
    row_id: uuid.UUID


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    content_type: str


def reserve(
    session: Session,
    *,
    user_id: uuid.UUID,
    key: str,
    method: str,
    path: str,
    fp: str,
    lock_seconds: int,
) -> Reservation | StoredResponse:
    repo = IdempotencyRepository(session)
    now = utcnow()
    new_id = repo.insert_if_absent(
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "key": key,
            "method": method,
            "path": path,
            "fingerprint": fp,
            "state": "in_progress",
            "locked_at": now,
            "created_at": now,
        }
    )
    if new_id is not None:
        return Reservation(new_id)
    row = repo.get_for_update(user_id, key)
    if row is None:  # released between our insert and select: the caller may simply retry
        raise errors.RequestInProgress("A request with this Idempotency-Key is being handled")
    if row.fingerprint != fp:
        raise errors.KeyReused(
            "This Idempotency-Key was used for a different request; use a new key"
        )
    if row.state == "completed":
        assert row.response_status is not None
        assert row.response_body is not None
        return StoredResponse(
            row.response_status, row.response_body, row.response_content_type or "application/json"
        )
    if row.locked_at is not None and now - row.locked_at < dt.timedelta(seconds=lock_seconds):
        raise errors.RequestInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly"
        )
    row.locked_at = now  # abandoned by a crashed worker: take it over
    return Reservation(row.id)


def complete(
    session: Session, reservation: Reservation, *, status: int, body: str, content_type: str
) -> None:
    IdempotencyRepository(session).complete(
        reservation.row_id, status=status, body=body, content_type=content_type, now=utcnow()
    )


def release(session: Session, reservation: Reservation) -> None:
    IdempotencyRepository(session).release(reservation.row_id)


def purge(session: Session, *, retention_hours: int) -> int:
    return IdempotencyRepository(session).purge_older_than(
        utcnow() - dt.timedelta(hours=retention_hours)
    )
