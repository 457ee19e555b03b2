"""JSON routes for payers, plans, fee schedules and coverages (thin: parse, call, render)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.insurance import coverages, service
from revcycle.insurance.models import CoverageAccumulator, FeeScheduleRow, InsurancePlan, Payer
from revcycle.insurance.schemas import (
    AccumulatorCreate,
    AccumulatorRead,
    AddressRead,
    AllowedLookup,
    CoverageCreate,
    CoverageOrder,
    CoverageRead,
    CoverageTerminate,
    FeeScheduleCreate,
    FeeScheduleRowRead,
    FeeScheduleRows,
    PayerCreate,
    PayerRead,
    PayerUpdate,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    PriorityRead,
    SubscriberRead,
    percent_of,
)
from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import Modifier, PageRead, ProcedureCode

router = APIRouter(tags=["insurance"])
Limit = Annotated[int, Query(ge=1, le=200)]


class CoverageList(BaseModel):
    items: list[CoverageRead]


class AccumulatorList(BaseModel):
    items: list[AccumulatorRead]


def _opt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else amount(minor, currency)


def payer_read(p: Payer) -> PayerRead:
    claims = service.address_of(p, "claims")
    elig = service.address_of(p, "eligibility")
    return PayerRead(
        id=p.id,
        practice_id=p.practice_id,
        name=p.name,
        edi_payer_id=p.edi_payer_id,
        claims_address=AddressRead.model_validate(claims) if claims else None,
        eligibility_address=AddressRead.model_validate(elig) if elig else None,
        timely_filing_days=p.timely_filing_days,
        appeal_deadline_days=p.appeal_deadline_days,
        secondary_crossover=p.secondary_crossover,
        active=p.active,
        created_at=p.created_at,
    )


def plan_read(p: InsurancePlan) -> PlanRead:
    cur = p.currency
    return PlanRead(
        id=p.id,
        practice_id=p.practice_id,
        payer_id=p.payer_id,
        name=p.name,
        product_type=p.product_type,
        network=p.network,
        in_network=p.in_network,
        currency=cur,
        deductible=amount(p.deductible_minor, cur),
        family_deductible=_opt(p.family_deductible_minor, cur),
        oop_max=_opt(p.oop_max_minor, cur),
        family_oop_max=_opt(p.family_oop_max_minor, cur),
        coinsurance_percent=percent_of(p.coinsurance_bp),
        copays={k: amount(v, cur) for k, v in sorted(p.copays.items())},
        cost_share_order=p.cost_share_order,
        benefit_year_start_month=p.benefit_year_start_month,
        auth_required_codes=list(p.auth_required_codes),
        active=p.active,
        created_at=p.created_at,
    )


def fee_read(r: FeeScheduleRow) -> FeeScheduleRowRead:
    return FeeScheduleRowRead(
        id=r.id,
        plan_id=r.plan_id,
        code=r.code,
        modifier=r.modifier or None,
        allowed=amount(r.allowed_minor, r.currency),
        currency=r.currency,
        effective_from=r.effective_from,
        effective_to=r.effective_to,
    )


def coverage_read(v: coverages.CoverageView) -> CoverageRead:
    c = v.coverage
    subscriber = None
    if c.subscriber_last_name is not None:
        assert c.subscriber_first_name is not None and c.subscriber_date_of_birth is not None
        subscriber = SubscriberRead(
            first_name=c.subscriber_first_name,
            last_name=c.subscriber_last_name,
            date_of_birth=c.subscriber_date_of_birth,
            patient_id=c.subscriber_patient_id,
        )
    return CoverageRead(
        id=c.id,
        practice_id=c.practice_id,
        patient_id=c.patient_id,
        payer_id=c.payer_id,
        plan_id=c.plan_id,
        member_id=c.member_id,
        group_number=c.group_number,
        relationship=c.relationship,
        subscriber=subscriber,
        effective_from=c.effective_from,
        effective_to=c.effective_to,
        terminated_at=c.terminated_at,
        termination_reason=c.termination_reason,
        card_image_ref=c.card_image_ref,
        priority=v.priority_on(today()),
        priorities=[
            PriorityRead(
                priority=p.priority,
                effective_from=p.effective_from,
                reason=p.reason,
                created_at=p.created_at,
            )
            for p in v.priorities
        ],
        created_at=c.created_at,
    )


def accumulator_read(a: CoverageAccumulator) -> AccumulatorRead:
    cur = a.currency
    return AccumulatorRead(
        id=a.id,
        coverage_id=a.coverage_id,
        benefit_year_start=a.benefit_year_start,
        as_of=a.as_of,
        currency=cur,
        deductible_met=amount(a.deductible_met_minor, cur),
        oop_met=amount(a.oop_met_minor, cur),
        family_deductible_met=_opt(a.family_deductible_met_minor, cur),
        family_oop_met=_opt(a.family_oop_met_minor, cur),
        source=a.source,
        created_at=a.created_at,
    )


# payers -------------------------------------------------------------------------------------------


@router.post("/payers", status_code=201, response_model=PayerRead)
def create_payer(body: PayerCreate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: payer_read(service.create_payer(s, p, body)), status_code=201)


@router.get("/payers", response_model=PageRead[PayerRead])
def list_payers(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_payers(s, p, practice_id=practice_id, cursor=cursor, limit=limit)
        return PageRead[PayerRead](
            items=[payer_read(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/payers/{payer_id}", response_model=PayerRead)
def get_payer(payer_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: payer_read(service.get_payer(s, p, payer_id)))


@router.patch("/payers/{payer_id}", response_model=PayerRead)
def update_payer(payer_id: uuid.UUID, body: PayerUpdate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: payer_read(service.update_payer(s, p, payer_id, body)))


# plans and fee schedules --------------------------------------------------------------------------


@router.post("/payers/{payer_id}/plans", status_code=201, response_model=PlanRead)
def create_plan(payer_id: uuid.UUID, body: PlanCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: plan_read(service.create_plan(s, p, payer_id, body)), status_code=201
    )


@router.get("/payers/{payer_id}/plans", response_model=PageRead[PlanRead])
def list_plans(
    payer_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_plans(s, p, payer_id, cursor=cursor, limit=limit)
        return PageRead[PlanRead](
            items=[plan_read(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/plans/{plan_id}", response_model=PlanRead)
def get_plan(plan_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: plan_read(service.get_plan(s, p, plan_id)))


@router.patch("/plans/{plan_id}", response_model=PlanRead)
def update_plan(plan_id: uuid.UUID, body: PlanUpdate, ctx: CtxDep) -> Response:
    return ctx.write(lambda s, p: plan_read(service.update_plan(s, p, plan_id, body)))


@router.post("/plans/{plan_id}/fee-schedule", status_code=201, response_model=FeeScheduleRows)
def add_fee_rows(plan_id: uuid.UUID, body: FeeScheduleCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: FeeScheduleRows(
            items=[fee_read(r) for r in service.add_fee_rows(s, p, plan_id, body)]
        ),
        status_code=201,
    )


@router.get("/plans/{plan_id}/fee-schedule", response_model=PageRead[FeeScheduleRowRead])
def list_fee_rows(
    plan_id: uuid.UUID,
    ctx: CtxDep,
    code: Annotated[ProcedureCode | None, Query()] = None,
    on: dt.date | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_fee_rows(s, p, plan_id, code=code, on=on, cursor=cursor, limit=limit)
        return PageRead[FeeScheduleRowRead](
            items=[fee_read(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/plans/{plan_id}/allowed/{code}", response_model=AllowedLookup)
def lookup_allowed(
    plan_id: uuid.UUID,
    code: Annotated[ProcedureCode, Path()],
    ctx: CtxDep,
    on: dt.date | None = None,
    modifier: Annotated[Modifier | None, Query()] = None,
) -> object:
    """The contracted rate for a code on a date (default today): the modifier's row if there is
    one, else the row without a modifier (``matched_modifier`` false)."""

    def work(s: Session, p: Principal) -> BaseModel:
        found = service.lookup_allowed(
            s, p, plan_id, code=code, modifier=modifier, on=on or today()
        )
        return AllowedLookup(row=fee_read(found.row), matched_modifier=found.matched_modifier)

    return ctx.read(work)


# coverages ----------------------------------------------------------------------------------------


@router.post("/patients/{patient_id}/coverages", status_code=201, response_model=CoverageRead)
def create_coverage(patient_id: uuid.UUID, body: CoverageCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: coverage_read(coverages.create_coverage(s, p, patient_id, body)),
        status_code=201,
    )


@router.get("/patients/{patient_id}/coverages", response_model=PageRead[CoverageRead])
def list_coverages(
    patient_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = coverages.list_coverages(s, p, patient_id, cursor=cursor, limit=limit)
        return PageRead[CoverageRead](
            items=[coverage_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.post("/patients/{patient_id}/coverage-order", response_model=CoverageList)
def set_coverage_order(patient_id: uuid.UUID, body: CoverageOrder, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: CoverageList(
            items=[coverage_read(v) for v in coverages.set_order(s, p, patient_id, body)]
        )
    )


@router.get("/coverages/{coverage_id}", response_model=CoverageRead)
def get_coverage(coverage_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: coverage_read(coverages.get_coverage(s, p, coverage_id)))


@router.post("/coverages/{coverage_id}/terminate", response_model=CoverageRead)
def terminate_coverage(coverage_id: uuid.UUID, body: CoverageTerminate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: coverage_read(coverages.terminate_coverage(s, p, coverage_id, body))
    )


@router.post(
    "/coverages/{coverage_id}/accumulators", status_code=201, response_model=AccumulatorRead
)
def add_accumulator(coverage_id: uuid.UUID, body: AccumulatorCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: accumulator_read(coverages.add_accumulator(s, p, coverage_id, body)),
        status_code=201,
    )


@router.get("/coverages/{coverage_id}/accumulators", response_model=AccumulatorList)
def list_accumulators(coverage_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(
        lambda s, p: AccumulatorList(
            items=[accumulator_read(a) for a in coverages.list_accumulators(s, p, coverage_id)]
        )
    )
