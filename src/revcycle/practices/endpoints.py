"""JSON routes for practices, providers and the charge master (thin: parse, call, render)."""

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
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import FilterText, PageRead
from revcycle.practices import service
from revcycle.practices.models import ServiceItem
from revcycle.practices.schemas import (
    PracticeCreate,
    PracticeRead,
    PracticeUpdate,
    ProviderCreate,
    ProviderRead,
    ProviderUpdate,
    ServiceItemCreate,
    ServiceItemRead,
    ServiceItemUpdate,
)

router = APIRouter(tags=["practices"])
Limit = Annotated[int, Query(ge=1, le=200)]


def item_read(item: ServiceItem) -> ServiceItemRead:
    return ServiceItemRead(
        id=item.id,
        practice_id=item.practice_id,
        code=item.code,
        modifiers=item.modifiers,
        description=item.description,
        price=amount(item.price_minor, item.currency),
        currency=item.currency,
        effective_from=item.effective_from,
        effective_to=item.effective_to,
    )


@router.post("/practices", status_code=201, response_model=PracticeRead)
def create_practice(body: PracticeCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: PracticeRead.model_validate(service.create_practice(s, p, body)),
        status_code=201,
    )


@router.get("/practices", response_model=PageRead[PracticeRead])
def list_practices(ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_practices(s, p, cursor=cursor, limit=limit)
        return PageRead[PracticeRead](
            items=[PracticeRead.model_validate(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/practices/{practice_id}", response_model=PracticeRead)
def get_practice(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: PracticeRead.model_validate(service.get_practice(s, p, practice_id))
    )


@router.patch("/practices/{practice_id}", response_model=PracticeRead)
def update_practice(practice_id: uuid.UUID, body: PracticeUpdate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: PracticeRead.model_validate(service.update_practice(s, p, practice_id, body))
    )


@router.post("/practices/{practice_id}/providers", status_code=201, response_model=ProviderRead)
def create_provider(practice_id: uuid.UUID, body: ProviderCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: ProviderRead.model_validate(service.create_provider(s, p, practice_id, body)),
        status_code=201,
    )


@router.get("/practices/{practice_id}/providers", response_model=PageRead[ProviderRead])
def list_providers(
    practice_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_providers(s, p, practice_id, cursor=cursor, limit=limit)
        return PageRead[ProviderRead](
            items=[ProviderRead.model_validate(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/providers/{provider_id}", response_model=ProviderRead)
def get_provider(provider_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: ProviderRead.model_validate(service.get_provider(s, p, provider_id))
    )


@router.patch("/providers/{provider_id}", response_model=ProviderRead)
def update_provider(provider_id: uuid.UUID, body: ProviderUpdate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: ProviderRead.model_validate(service.update_provider(s, p, provider_id, body))
    )


@router.post(
    "/practices/{practice_id}/service-items", status_code=201, response_model=ServiceItemRead
)
def create_service_item(practice_id: uuid.UUID, body: ServiceItemCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: item_read(service.create_service_item(s, p, practice_id, body)),
        status_code=201,
    )


@router.get("/practices/{practice_id}/service-items", response_model=PageRead[ServiceItemRead])
def list_service_items(
    practice_id: uuid.UUID,
    ctx: CtxDep,
    code: Annotated[FilterText | None, Query()] = None,
    active_on: dt.date | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_service_items(
            s, p, practice_id, code=code, active_on=active_on, cursor=cursor, limit=limit
        )
        return PageRead[ServiceItemRead](
            items=[item_read(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/service-items/{item_id}", response_model=ServiceItemRead)
def get_service_item(item_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: item_read(service.get_service_item(s, p, item_id)))


@router.patch("/service-items/{item_id}", response_model=ServiceItemRead)
def update_service_item(item_id: uuid.UUID, body: ServiceItemUpdate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: item_read(service.update_service_item(s, p, item_id, body)))
