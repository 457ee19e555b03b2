"""Reading the audit trail: search (admins), export (auditors, via the CLI), the security summary
and the metrics. Reads are scoped like everything else: an admin assigned to practices sees those
practices' events and the global chain (sign-ins, user management); the operator sees all."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from revcycle.audit.models import AuditEvent
from revcycle.audit.service import READ, SECURITY
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import InvalidInput, NotFound, out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, InvalidCursor, Page, decode_cursor, encode_cursor


@dataclass(frozen=True)
class AuditFilter:
    practice_id: uuid.UUID | None = None
    category: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    actor_user_id: uuid.UUID | None = None
    request_id: str | None = None
    occurred_from: dt.datetime | None = None
    occurred_to: dt.datetime | None = None


def _scoped(actor: Principal, f: AuditFilter) -> list[ColumnElement[bool]]:
    if f.occurred_from and f.occurred_to and f.occurred_from > f.occurred_to:
        raise InvalidInput("occurred_from is after occurred_to", code="audit.period_invalid")
    where: list[ColumnElement[bool]] = []
    if f.practice_id is not None:
        if not actor.sees_practice(f.practice_id):
            raise out_of_scope(
                NotFound("No such practice", code="practice.not_found"), "practice", f.practice_id
            )
        where.append(AuditEvent.practice_id == f.practice_id)
    elif actor.practice_ids is not None:
        where.append(
            or_(AuditEvent.practice_id.in_(actor.practice_ids), AuditEvent.practice_id.is_(None))
        )
    for column, value in [
        (AuditEvent.category, f.category),
        (AuditEvent.action, f.action),
        (AuditEvent.object_type, f.object_type),
        (AuditEvent.object_id, f.object_id),
        (AuditEvent.actor_user_id, f.actor_user_id),
        (AuditEvent.request_id, f.request_id),
    ]:
        if value is not None:
            where.append(column == value)
    if f.occurred_from is not None:
        where.append(AuditEvent.occurred_at >= f.occurred_from)
    if f.occurred_to is not None:
        where.append(AuditEvent.occurred_at < f.occurred_to)
    return where


def search(
    session: Session,
    actor: Principal,
    f: AuditFilter,
    *,
    cursor: str | None,
    limit: int,
    action: Action = Action.AUDIT_READ,
) -> Page[AuditEvent]:
    """Newest first, keyset-paginated on the event id."""
    actor.require(action)
    limit = min(limit, MAX_LIMIT)
    stmt = select(AuditEvent).where(*_scoped(actor, f))
    data = decode_cursor(cursor)
    if data is not None:
        before = data.get("before")
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidCursor("The cursor is not one this service issued")
        stmt = stmt.where(AuditEvent.id < before)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor({"before": rows[-1].id}) if more and rows else None)


def security_events(
    session: Session, actor: Principal, f: AuditFilter, *, cursor: str | None, limit: int
) -> Page[AuditEvent]:
    return search(
        session,
        actor,
        AuditFilter(**{**f.__dict__, "category": SECURITY}),
        cursor=cursor,
        limit=limit,
        action=Action.SECURITY_READ,
    )


def export_rows(
    session: Session, date_from: dt.date, date_to: dt.date, practice_id: uuid.UUID | None
) -> Iterator[AuditEvent]:
    """Every event of [date_from, date_to] (UTC days, inclusive), oldest first, streamed."""
    start = dt.datetime.combine(date_from, dt.time(), dt.UTC)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), dt.UTC)
    stmt = select(AuditEvent).where(AuditEvent.occurred_at >= start, AuditEvent.occurred_at < end)
    if practice_id is not None:
        stmt = stmt.where(AuditEvent.practice_id == practice_id)
    stmt = stmt.order_by(AuditEvent.id).execution_options(yield_per=2000)
    yield from session.scalars(stmt)


@dataclass(frozen=True)
class Reader:
    user_id: uuid.UUID
    role: str | None
    reads: int


@dataclass(frozen=True)
class SecuritySummary:
    since: dt.datetime
    until: dt.datetime
    by_kind: dict[str, int]
    top_readers: list[Reader]


def summary(session: Session, actor: Principal, *, hours: int) -> SecuritySummary:
    """Security events by kind and the heaviest readers of patients' records in the last hours."""
    actor.require(Action.SECURITY_READ)
    until = utcnow()
    since = until - dt.timedelta(hours=hours)
    scope = _scoped(actor, AuditFilter(occurred_from=since))
    by_kind = {
        str(a): int(n)
        for a, n in session.execute(
            select(AuditEvent.action, func.count())
            .where(*scope, AuditEvent.category == SECURITY)
            .group_by(AuditEvent.action)
            .order_by(AuditEvent.action)
        )
    }
    reads = func.count().label("reads")
    top = session.execute(
        select(AuditEvent.actor_user_id, AuditEvent.actor_role, reads)
        .where(*scope, AuditEvent.category == READ, AuditEvent.actor_user_id.is_not(None))
        .group_by(AuditEvent.actor_user_id, AuditEvent.actor_role)
        .order_by(reads.desc(), AuditEvent.actor_user_id)
        .limit(10)
    )
    return SecuritySummary(
        since, until, by_kind, [Reader(r.actor_user_id, r.actor_role, int(r.reads)) for r in top]
    )


def metric_counts(session: Session, actor: Principal) -> tuple[dict[str, int], dict[str, int]]:
    """(security events by kind, audit events by category), all time, from the database: every
    API process reports the same figures."""
    actor.require(Action.SECURITY_READ)
    scope = _scoped(actor, AuditFilter())
    security = {
        str(a): int(n)
        for a, n in session.execute(
            select(AuditEvent.action, func.count())
            .where(*scope, AuditEvent.category == SECURITY)
            .group_by(AuditEvent.action)
        )
    }
    categories = {
        str(c): int(n)
        for c, n in session.execute(
            select(AuditEvent.category, func.count()).where(*scope).group_by(AuditEvent.category)
        )
    }
    return security, categories
