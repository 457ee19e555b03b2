"""JSON routes for the audit trail (admins) and security monitoring (admins, Prometheus)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.audit import queries
from revcycle.audit.schemas import AuditEventRead, ReaderRead, SecuritySummaryRead
from revcycle.auth.principal import Principal
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.schemas import FilterText, PageRead

router = APIRouter(tags=["audit"])
Limit = Annotated[int, Query(ge=1, le=200)]
Category = Annotated[str | None, Query(pattern="^(change|read|security)$")]
Short = Annotated[FilterText | None, Query()]


def _filter(
    practice_id: uuid.UUID | None = None,
    category: Category = None,
    action: Short = None,
    object_type: Short = None,
    object_id: Short = None,
    actor_user_id: uuid.UUID | None = None,
    request_id: Short = None,
    occurred_from: dt.datetime | None = None,
    occurred_to: dt.datetime | None = None,
) -> queries.AuditFilter:
    return queries.AuditFilter(
        practice_id=practice_id,
        category=category,
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor_user_id=actor_user_id,
        request_id=request_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )


@router.get("/audit-events", response_model=PageRead[AuditEventRead])
def search_audit_events(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    category: Category = None,
    action: Short = None,
    object_type: Short = None,
    object_id: Short = None,
    actor_user_id: uuid.UUID | None = None,
    request_id: Short = None,
    occurred_from: dt.datetime | None = None,
    occurred_to: dt.datetime | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    """The audit trail, newest first (admins). Field names only: events never carry PHI."""
    f = _filter(
        practice_id,
        category,
        action,
        object_type,
        object_id,
        actor_user_id,
        request_id,
        occurred_from,
        occurred_to,
    )

    def work(s: Session, p: Principal) -> BaseModel:
        page = queries.search(s, p, f, cursor=cursor, limit=limit)
        return PageRead[AuditEventRead](
            items=[AuditEventRead.model_validate(e) for e in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)


@router.get("/security/events", response_model=PageRead[AuditEventRead])
def list_security_events(
    ctx: CtxDep,
    action: Short = None,
    actor_user_id: uuid.UUID | None = None,
    occurred_from: dt.datetime | None = None,
    occurred_to: dt.datetime | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    """Failed sign-ins, lockouts, denied requests, bad tokens, unusual read volume (admins)."""
    f = queries.AuditFilter(
        action=action,
        actor_user_id=actor_user_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )

    def work(s: Session, p: Principal) -> BaseModel:
        page = queries.security_events(s, p, f, cursor=cursor, limit=limit)
        return PageRead[AuditEventRead](
            items=[AuditEventRead.model_validate(e) for e in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)


@router.get("/security/summary", response_model=SecuritySummaryRead)
def security_summary(ctx: CtxDep, hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24) -> object:
    """Security events by kind and the heaviest readers of patient records, last ``hours``."""

    def work(s: Session, p: Principal) -> BaseModel:
        result = queries.summary(s, p, hours=hours)
        return SecuritySummaryRead(
            since=result.since,
            until=result.until,
            by_kind=result.by_kind,
            top_readers=[ReaderRead.model_validate(r) for r in result.top_readers],
        )

    return ctx.read(work)


class _Exposition(BaseModel):
    text: str


class _Counts(Collector):
    def __init__(self, security: dict[str, int], categories: dict[str, int]) -> None:
        self.security, self.categories = security, categories

    def collect(self) -> Iterator[CounterMetricFamily]:
        sec = CounterMetricFamily(
            "revcycle_security_events", "Security events recorded, by kind", labels=["kind"]
        )
        for kind, n in sorted(self.security.items()):
            sec.add_metric([kind.removeprefix("security:")], n)
        yield sec
        cat = CounterMetricFamily(
            "revcycle_audit_events", "Audit events recorded, by category", labels=["category"]
        )
        for category, n in sorted(self.categories.items()):
            cat.add_metric([category], n)
        yield cat


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(ctx: CtxDep) -> Response:
    """Prometheus text exposition (admins; scrape with a bearer token). Counted in the database,
    so every API process reports the same figures."""

    def work(s: Session, p: Principal) -> BaseModel:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Counts(*queries.metric_counts(s, p)))
        return _Exposition(text=generate_latest(registry).decode())

    result = ctx.read(work)
    assert isinstance(result, _Exposition)
    return Response(result.text, media_type=CONTENT_TYPE_LATEST)
