"""JSON and FHIR routes for eligibility checks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, RootModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.eligibility import benefits as bn
from revcycle.eligibility import errors, fhir, service
from revcycle.eligibility.models import EligibilityCheck
from revcycle.eligibility.schemas import (
    AaaRead,
    BenefitsRead,
    CheckErrorRead,
    CoverageEligibilityRead,
    EligibilityCheckCreate,
    EligibilityCheckRead,
    FhirEligibilityRequestIn,
    RawRead,
)
from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["eligibility"])


def _key_required() -> errors.IdempotencyKeyRequired:
    return errors.IdempotencyKeyRequired("Eligibility checks need an Idempotency-Key header")


def _access(s: Session, p: Principal, coverage_id: uuid.UUID) -> None:
    service.access_coverage(s, p, coverage_id, Action.ELIGIBILITY_CHECK)


Limit = Annotated[int, Query(ge=1, le=200)]


def _amt(minor: int | None, cur: str) -> str | None:
    return None if minor is None else amount(minor, cur)


def check_read(c: EligibilityCheck, *, staff: bool, raw: bool = False) -> EligibilityCheckRead:
    summary = service.summary_of(c)
    benefits = None
    aaa: list[AaaRead] = []
    if summary is not None:
        f = bn.facts(summary)
        cur = f.currency
        aaa = [AaaRead(**{k: e[k] for k in AaaRead.model_fields}) for e in summary["errors"]]
        if f.status in (bn.ACTIVE, bn.INACTIVE):
            benefits = BenefitsRead(
                currency=cur,
                plan_name=summary.get("plan_name"),
                group_number=summary.get("group_number"),
                plan_begin=summary.get("plan_begin"),
                plan_end=summary.get("plan_end"),
                deductible=_amt(f.deductible, cur),
                deductible_remaining=_amt(f.deductible_remaining, cur),
                family_deductible=_amt(f.family_deductible, cur),
                family_deductible_remaining=_amt(f.family_deductible_remaining, cur),
                oop_max=_amt(f.oop_max, cur),
                oop_remaining=_amt(f.oop_remaining, cur),
                family_oop_max=_amt(f.family_oop_max, cur),
                family_oop_remaining=_amt(f.family_oop_remaining, cur),
                coinsurance_percent=None
                if f.coinsurance is None
                else f"{(f.coinsurance * 100).normalize():f}",
                copays={k: amount(v, cur) for k, v in sorted(f.copays.items())},
                auth_required_codes=list(f.auth_required_codes),
            )
    error = None
    if c.error_code is not None:
        error = CheckErrorRead(
            code=c.error_code,
            segment=c.error_segment,
            position=c.error_position,
            message=c.error_message if staff else None,
        )
    return EligibilityCheckRead(
        id=c.id,
        practice_id=c.practice_id,
        patient_id=c.patient_id,
        coverage_id=c.coverage_id,
        service_date=c.service_date,
        service_types=list(c.service_types),
        status=c.status,
        interchange_control_number=c.interchange_control_number,
        trace_number=c.trace_number,
        clearinghouse=c.clearinghouse,
        requested_by=c.requested_by,
        requested_by_name=c.requested_by_name,
        requested_at=c.requested_at,
        completed_at=c.completed_at,
        aaa=aaa,
        benefits=benefits,
        error=error,
        raw=RawRead(x270=c.x270, x271=c.x271) if raw else None,
    )


@router.post(
    "/coverages/{coverage_id}/eligibility-checks",
    status_code=201,
    response_model=EligibilityCheckRead,
    responses={
        428: {"description": "An Idempotency-Key is required"},
        503: {"description": "clearinghouse.unavailable (the check is stored as error)"},
        504: {"description": "clearinghouse.timeout (the check is stored as error)"},
    },
)
def create_check(coverage_id: uuid.UUID, body: EligibilityCheckCreate, ctx: CtxDep) -> Response:
    """Send a 270 for this coverage through the clearinghouse and store the 271."""
    client = ctx.request.app.state.clearinghouse
    settings = ctx.settings
    key = ctx.idempotency_key or ""
    req = service.CheckRequest(coverage_id, body.service_date, tuple(body.service_types))

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        check = service.run_check(
            factory,
            client,
            principal,
            req,
            key=service.request_key(principal.user_id, key),
            timeout_seconds=settings.clearinghouse_timeout_seconds,
        )
        return check_read(check, staff=not principal.is_patient), 201

    if ctx.idempotency_key is None:  # who may not act learns 403/404 first, not 428
        ctx.read(lambda s, p: _access(s, p, coverage_id))
    return ctx.write_external(work, key_required=_key_required())


@router.get("/eligibility-checks/{check_id}", response_model=EligibilityCheckRead)
def get_check(
    check_id: uuid.UUID,
    ctx: CtxDep,
    include: Annotated[str | None, Query(pattern="^raw$")] = None,
) -> object:
    """One check with its parsed benefits; ``?include=raw`` adds the raw 270/271 (staff only,
    audited as ``eligibility:read_raw``)."""
    raw = include == "raw"

    def work(s: Session, p: Principal) -> BaseModel:
        check = service.get_check(s, p, check_id, include_raw=raw)
        return check_read(check, staff=not p.is_patient, raw=raw)

    return ctx.read(work)


@router.get(
    "/patients/{patient_id}/eligibility-checks", response_model=PageRead[EligibilityCheckRead]
)
def list_checks(
    patient_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_checks(s, p, patient_id, cursor=cursor, limit=limit)
        return PageRead[EligibilityCheckRead](
            items=[check_read(c, staff=not p.is_patient) for c in page.items],
            next_cursor=page.next_cursor,
        )

    return ctx.read(work)


class StatusList(RootModel[list[CoverageEligibilityRead]]):
    pass


@router.get("/patients/{patient_id}/eligibility-status", response_model=StatusList)
def eligibility_status(patient_id: uuid.UUID, ctx: CtxDep) -> object:
    """Per coverage: the latest check and ``stale`` (older than REVCYCLE_ELIGIBILITY_STALE_DAYS
    days, or never checked)."""
    days = ctx.settings.eligibility_stale_days

    def work(s: Session, p: Principal) -> BaseModel:
        rows = service.patient_status(s, p, patient_id, stale_days=days)
        return StatusList(
            [
                CoverageEligibilityRead(
                    coverage_id=r.coverage.id,
                    latest_check_id=r.latest.id if r.latest else None,
                    status=r.latest.status if r.latest else None,
                    checked_at=r.latest.completed_at if r.latest else None,
                    stale=r.stale,
                )
                for r in rows
            ]
        )

    return ctx.read(work)


class FhirResource(RootModel[dict[str, Any]]):
    pass


@router.post(
    "/fhir/CoverageEligibilityRequest",
    status_code=201,
    response_model=dict[str, Any],
    responses={428: {"description": "An Idempotency-Key is required"}},
)
def fhir_request(payload: FhirEligibilityRequestIn, ctx: CtxDep) -> Response:
    """Run the same check as the JSON route from an R4 CoverageEligibilityRequest naming our
    patient and coverage; answer with a CoverageEligibilityResponse."""
    client = ctx.request.app.state.clearinghouse
    settings = ctx.settings
    key = ctx.idempotency_key or ""
    body = payload.model_dump(mode="json")

    def work(factory: sessionmaker[Session], principal: Principal) -> tuple[BaseModel, int]:
        parsed = fhir.parse_request(body)
        req = service.CheckRequest(
            parsed.coverage_id,
            parsed.service_date or today(),
            parsed.service_types,
            patient_id=parsed.patient_id,
        )
        check = service.run_check(
            factory,
            client,
            principal,
            req,
            key=service.request_key(principal.user_id, "fhir:" + key),
            timeout_seconds=settings.clearinghouse_timeout_seconds,
        )
        resource = fhir.build_response(
            check_id=check.id,
            patient_id=check.patient_id,
            coverage_id=check.coverage_id,
            service_date=check.service_date,
            created=check.completed_at or check.requested_at,
            purpose=parsed.purpose,
            summary=service.summary_of(check),
            error_code=check.error_code,
        )
        return FhirResource(resource), 201

    if ctx.idempotency_key is None:
        ctx.read(lambda s, p: _access(s, p, fhir.parse_request(body).coverage_id))
    return ctx.write_external(work, key_required=_key_required())
