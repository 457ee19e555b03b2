"""JSON routes for appointments (staff)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.appointments import service
from revcycle.appointments.schemas import AppointmentCreate, AppointmentRead
from revcycle.auth.principal import Principal
from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["appointments"])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/practices/{practice_id}/appointments", status_code=201, response_model=AppointmentRead
)
def create_appointment(practice_id: uuid.UUID, body: AppointmentCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: AppointmentRead.model_validate(
            service.create_appointment(s, p, practice_id, body)
        ),
        status_code=201,
    )


@router.get("/practices/{practice_id}/appointments", response_model=PageRead[AppointmentRead])
def list_appointments(
    practice_id: uuid.UUID,
    ctx: CtxDep,
    date: dt.date | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_appointments(
            s, p, practice_id, day=date or today(), cursor=cursor, limit=limit
        )
        return PageRead[AppointmentRead](
            items=[AppointmentRead.model_validate(a) for a in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)
