"""audit.record(): one event per change (and per read of a patient's financial record), written in
the caller's transaction. Field names only, never PHI values.

Events are buffered on the session and appended to their hash chain when the transaction commits
(``before_commit``), so the chain head is locked only for the last moment of the transaction;
a rolled-back transaction leaves no event. ``flush_pending`` appends them earlier (tests, or a
caller that wants to read its own events back before committing).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from revcycle.audit import chain
from revcycle.audit.models import AuditEvent
from revcycle.auth.principal import Principal
from revcycle.kit.clock import utcnow

PENDING = "revcycle.audit.pending"

CHANGE = "change"
READ = "read"
SECURITY = "security"

# Reads of patients' financial records by one user above which a security event is raised, per
# fixed window. The app overrides them from settings through the session factory's ``info``.
READ_VOLUME_THRESHOLD = "revcycle.audit.read_volume_threshold"
READ_VOLUME_WINDOW = "revcycle.audit.read_volume_window_minutes"
DEFAULT_READ_VOLUME_THRESHOLD = 1000
DEFAULT_READ_VOLUME_WINDOW_MINUTES = 10

DetailValue = str | int | bool | None


def _buffer(
    session: Session,
    *,
    category: str,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str | None,
    practice_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None,
    actor_role: str | None,
    request_id: str | None,
    client_addr: str | None,
    fields: Iterable[str] = (),
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    session.info.setdefault(PENDING, []).append(
        {
            "occurred_at": utcnow(),
            "actor_user_id": actor_user_id,
            "actor_role": actor_role,
            "practice_id": practice_id,
            "category": category,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id) if object_id is not None else None,
            "fields": sorted(set(fields)),
            "detail": dict(detail) if detail else None,
            "request_id": request_id,
            "client_addr": client_addr,
            "chain_key": chain.chain_key_for(practice_id),
        }
    )


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str | None,
    practice_id: uuid.UUID | None,
    fields: Iterable[str] = (),
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    """A change to financial or patient data (create, update, void, adjust...)."""
    _buffer(
        session,
        category=CHANGE,
        action=action,
        object_type=object_type,
        object_id=object_id,
        practice_id=practice_id,
        actor_user_id=actor.user_id,
        actor_role=actor.role.value,
        request_id=actor.request_id,
        client_addr=actor.client_addr,
        fields=fields,
        detail=detail,
    )


def record_read(
    session: Session,
    actor: Principal,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str | None,
    practice_id: uuid.UUID | None,
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    """A read of a patient's financial record (invoice, payment, statement, patient account)."""
    _buffer(
        session,
        category=READ,
        action=action,
        object_type=object_type,
        object_id=object_id,
        practice_id=practice_id,
        actor_user_id=actor.user_id,
        actor_role=actor.role.value,
        request_id=actor.request_id,
        client_addr=actor.client_addr,
        detail=detail,
    )


def record_list_read(
    session: Session,
    actor: Principal,
    action: str,
    rows: Iterable[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """A list response showed these patients' records: one read event per patient (object type
    ``patient``), with how many of their rows it showed, so "who saw patient X's records" is
    answerable from the trail."""
    counts: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for practice_id, patient_id in rows:
        counts[(practice_id, patient_id)] = counts.get((practice_id, patient_id), 0) + 1
    for (practice_id, patient_id), n in counts.items():
        record_read(
            session,
            actor,
            action,
            object_type="patient",
            object_id=patient_id,
            practice_id=practice_id,
            detail={"rows": n},
        )


def record_security(
    session: Session,
    action: str,
    *,
    user_id: uuid.UUID | None,
    role: str | None,
    client_addr: str | None,
    request_id: str | None,
    practice_id: uuid.UUID | None = None,
    object_type: str = "security",
    object_id: uuid.UUID | str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    _buffer(
        session,
        category=SECURITY,
        action=action,
        object_type=object_type,
        object_id=object_id,
        practice_id=practice_id,
        actor_user_id=user_id,
        actor_role=role,
        request_id=request_id,
        client_addr=client_addr,
        detail=detail,
    )


def pending(session: Session) -> list[dict[str, Any]]:
    return list(session.info.get(PENDING, ()))


def flush_pending(session: Session) -> None:
    """Append the buffered events to their chains now (they are otherwise appended at COMMIT)."""
    events = session.info.pop(PENDING, None)
    if not events:
        return
    _check_read_volume(session, events)
    chain.seal(session, events)


def _window_start(now: dt.datetime, minutes: int) -> dt.datetime:
    into_window = int(now.timestamp()) % (minutes * 60)
    return now.replace(microsecond=0) - dt.timedelta(seconds=into_window)


def _check_read_volume(session: Session, events: list[dict[str, Any]]) -> None:
    """Raise one UNUSUAL_READ_VOLUME event when a user's reads in the current fixed window reach
    the threshold (counted in the database, so every API process sees the same count)."""
    readers: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for ev in events:
        if ev["category"] == READ and ev["actor_user_id"] is not None:
            readers.setdefault(ev["actor_user_id"], []).append(ev)
    if not readers:
        return
    threshold = int(session.info.get(READ_VOLUME_THRESHOLD, DEFAULT_READ_VOLUME_THRESHOLD))
    minutes = int(session.info.get(READ_VOLUME_WINDOW, DEFAULT_READ_VOLUME_WINDOW_MINUTES))
    since = _window_start(utcnow(), minutes)
    for user_id, reads in readers.items():
        before = int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.actor_user_id == user_id,
                    AuditEvent.occurred_at >= since,
                    AuditEvent.category == READ,
                )
            )
            or 0
        )
        if before < threshold <= before + len(reads):
            last = reads[-1]
            events.append(
                {
                    **last,
                    "occurred_at": utcnow(),
                    "category": SECURITY,
                    "action": "security:unusual_read_volume",
                    "object_type": "user",
                    "object_id": str(user_id),
                    "practice_id": None,
                    "chain_key": chain.GLOBAL_CHAIN,
                    "fields": [],
                    "detail": {
                        "reads_in_window": before + len(reads),
                        "threshold": threshold,
                        "window_minutes": minutes,
                        "window_start": since.isoformat(),
                    },
                }
            )


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    # Releasing a SAVEPOINT fires before_commit too: the events wait for the real COMMIT, so an
    # enclosing savepoint rolled back later drops only its own events (see _discard_on_rollback).
    if session.in_nested_transaction():
        return
    flush_pending(session)


_MARKS = "audit_savepoint_marks"


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """Remember how many rows were buffered when a SAVEPOINT began, so rolling it back drops
    the rows of the work it undid (and nothing buffered before it)."""
    if transaction.nested:
        marks = session.info.setdefault(_MARKS, {})
        marks[id(transaction)] = len(session.info.get(PENDING, ()))


@event.listens_for(Session, "after_soft_rollback")
def _discard_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(_MARKS, None)
        return
    mark = session.info.get(_MARKS, {}).pop(id(previous_transaction), None)
    pending = session.info.get(PENDING)
    if mark is not None and pending is not None:
        del pending[mark:]


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoints(session: Session, transaction: SessionTransaction) -> None:
    # Marks live until the outermost transaction ends (a savepoint's own end comes before its
    # soft-rollback event, which still needs the mark).
    if transaction.parent is None:
        session.info.pop(_MARKS, None)
