"""JSON routes for prior authorisations (thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.authorizations import service
from revcycle.authorizations.schemas import (
    AuthorizationApprove,
    AuthorizationCreate,
    AuthorizationDecision,
    AuthorizationRead,
    AuthorizationWarningRead,
    ServiceRead,
    UsageRead,
    WarningRead,
)
from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["authorizations"])
Limit = Annotated[int, Query(ge=1, le=200)]
Status = Annotated[str | None, Query(pattern="^(requested|approved|denied|expired|cancelled)$")]


class WarningList(BaseModel):
    items: list[AuthorizationWarningRead]


def auth_read(v: service.AuthorizationView) -> AuthorizationRead:
    a = v.authorization
    day = today()
    return AuthorizationRead(
        id=a.id,
        practice_id=a.practice_id,
        patient_id=a.patient_id,
        payer_id=a.payer_id,
        coverage_id=a.coverage_id,
        number=a.number,
        status=v.status_on(day),
        unit_kind=a.unit_kind,
        valid_from=a.valid_from,
        valid_to=a.valid_to,
        notes=a.notes,
        decision_reason=a.decision_reason,
        decided_at=a.decided_at,
        services=[
            ServiceRead(
                code=s.code,
                units_authorized=s.units_authorized,
                units_used=s.units_used,
                units_remaining=s.units_authorized - s.units_used,
            )
            for s in v.services
        ],
        warnings=[WarningRead(kind=w.kind, message=w.message) for w in v.warnings_on(day)],
        usages=[
            UsageRead(
                id=u.id,
                charge_ref=u.charge_ref,
                code=u.code,
                service_date=u.service_date,
                units=u.units,
                status=u.status,
                created_at=u.created_at,
            )
            for u in v.usages
        ],
        created_at=a.created_at,
    )


@router.post("/authorizations", status_code=201, response_model=AuthorizationRead)
def create_authorization(body: AuthorizationCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: auth_read(service.create_authorization(s, p, body)), status_code=201
    )


@router.get("/authorizations", response_model=PageRead[AuthorizationRead])
def list_authorizations(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    status: Status = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_authorizations(
            s,
            p,
            practice_id=practice_id,
            patient_id=patient_id,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[AuthorizationRead](
            items=[auth_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/authorizations/warnings", response_model=WarningList)
def list_warnings(
    ctx: CtxDep, practice_id: uuid.UUID | None = None, on: dt.date | None = None
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        return WarningList(
            items=[
                AuthorizationWarningRead(
                    authorization_id=w.authorization.id,
                    patient_id=w.authorization.patient_id,
                    number=w.authorization.number,
                    kind=w.warning.kind,
                    message=w.warning.message,
                )
                for w in service.list_warnings(s, p, practice_id=practice_id, on=on)
            ]
        )

    return ctx.read(work)


@router.get("/authorizations/{authorization_id}", response_model=AuthorizationRead)
def get_authorization(authorization_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: auth_read(service.get_authorization(s, p, authorization_id)))


@router.post("/authorizations/{authorization_id}/approve", response_model=AuthorizationRead)
def approve(authorization_id: uuid.UUID, body: AuthorizationApprove, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: auth_read(service.approve(s, p, authorization_id, body)))


@router.post("/authorizations/{authorization_id}/deny", response_model=AuthorizationRead)
def deny(authorization_id: uuid.UUID, body: AuthorizationDecision, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: auth_read(service.deny(s, p, authorization_id, body)))


@router.post("/authorizations/{authorization_id}/cancel", response_model=AuthorizationRead)
def cancel(authorization_id: uuid.UUID, body: AuthorizationDecision, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: auth_read(service.cancel(s, p, authorization_id, body)))
