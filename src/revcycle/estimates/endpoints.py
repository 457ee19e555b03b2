"""JSON routes for estimates and the practice's estimate settings (thin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.estimates import service
from revcycle.estimates.models import Estimate, EstimateSettings
from revcycle.estimates.schemas import (
    EstimateCreate,
    EstimateLineRead,
    EstimateRead,
    EstimateSettingsRead,
    EstimateSettingsUpdate,
)
from revcycle.insurance.schemas import percent_of
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["estimates"])
Limit = Annotated[int, Query(ge=1, le=200)]


def estimate_read(e: Estimate) -> EstimateRead:
    cur = e.currency
    return EstimateRead(
        id=e.id,
        practice_id=e.practice_id,
        patient_id=e.patient_id,
        coverage_id=e.coverage_id,
        kind=e.kind,
        service_date=e.service_date,
        currency=cur,
        allowed=amount(e.allowed_minor, cur),
        insurance=amount(e.insurance_minor, cur),
        patient=amount(e.patient_minor, cur),
        expires_on=e.expires_on,
        lines=[
            EstimateLineRead(
                code=ln.code,
                modifier=ln.modifier,
                units=ln.units,
                category=ln.category,
                allowed=amount(ln.allowed_minor, cur),
                copay=amount(ln.copay_minor, cur),
                deductible=amount(ln.deductible_minor, cur),
                coinsurance=amount(ln.coinsurance_minor, cur),
                insurance=amount(ln.insurance_minor, cur),
                patient=amount(ln.patient_minor, cur),
                reasoning=list(ln.reasoning),
            )
            for ln in e.lines
        ],
        created_at=e.created_at,
    )


def settings_read(s: EstimateSettings) -> EstimateSettingsRead:
    return EstimateSettingsRead(
        practice_id=s.practice_id,
        self_pay_discount_percent=percent_of(s.self_pay_discount_bp),
        valid_days=s.valid_days,
    )


@router.post("/estimates", status_code=201, response_model=EstimateRead)
def create_estimate(body: EstimateCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: estimate_read(service.create_estimate(s, p, body)), status_code=201
    )


@router.get("/estimates", response_model=PageRead[EstimateRead])
def list_estimates(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_estimates(
            s, p, practice_id=practice_id, patient_id=patient_id, cursor=cursor, limit=limit
        )
        return PageRead[EstimateRead](
            items=[estimate_read(e) for e in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/estimates/{estimate_id}", response_model=EstimateRead)
def get_estimate(estimate_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: estimate_read(service.get_estimate(s, p, estimate_id)))


@router.get("/practices/{practice_id}/estimate-settings", response_model=EstimateSettingsRead)
def get_settings(practice_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: settings_read(service.get_settings(s, p, practice_id)))


@router.put("/practices/{practice_id}/estimate-settings", response_model=EstimateSettingsRead)
def update_settings(practice_id: uuid.UUID, body: EstimateSettingsUpdate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: settings_read(service.update_settings(s, p, practice_id, body)))
