"""Use-cases for payers, their plans and fee schedules (docs/insurance.md).

Payers and plans are practice data (staff read them; patients do not); every change is audited.
Fee schedule rows are added under a lock on their plan, so overlapping windows for one code and
modifier are refused even when two requests race.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.insurance import errors
from revcycle.insurance.models import FeeScheduleRow, InsurancePlan, Payer
from revcycle.insurance.repository import InsuranceRepository
from revcycle.insurance.schemas import (
    Address,
    FeeScheduleCreate,
    PayerCreate,
    PayerUpdate,
    PlanCreate,
    PlanUpdate,
    bp_of,
)
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.money import Money
from revcycle.practices import service as practices_service
from revcycle.practices.repository import PracticeRepository

ADDRESS_FIELDS = ("line1", "line2", "city", "state", "postal_code")


def _address_columns(prefix: str, address: Address | None) -> dict[str, Any]:
    names = {"line1": "address_line1", "line2": "address_line2"}
    values = address.model_dump() if address is not None else dict.fromkeys(ADDRESS_FIELDS)
    return {f"{prefix}_{names.get(k, k)}": values[k] for k in ADDRESS_FIELDS}


def address_of(payer: Payer, prefix: str) -> dict[str, str | None] | None:
    names = {"line1": "address_line1", "line2": "address_line2"}
    values = {k: getattr(payer, f"{prefix}_{names.get(k, k)}") for k in ADDRESS_FIELDS}
    return None if values["line1"] is None else values


# payers -------------------------------------------------------------------------------------------


def access_payer(
    session: Session, actor: Principal, payer_id: uuid.UUID, action: Action = Action.PAYER_READ
) -> Payer:
    actor.require(action)
    payer = InsuranceRepository(session).get_payer(payer_id)
    if payer is None:
        raise errors.PayerNotFound("No such payer")
    if not actor.sees_practice(payer.practice_id):
        raise out_of_scope(errors.PayerNotFound("No such payer"), "payer", payer.id)
    return payer


def create_payer(session: Session, actor: Principal, data: PayerCreate) -> Payer:
    actor.require(Action.PAYER_WRITE)
    practice = practices_service.get_practice(session, actor, data.practice_id)
    repo = InsuranceRepository(session)
    if repo.payer_by_edi_id(practice.id, data.edi_payer_id) is not None:
        raise errors.PayerIdTaken(
            "This practice already has a payer with this payer id", edi_payer_id=data.edi_payer_id
        )
    payer = Payer(
        practice_id=practice.id,
        name=data.name,
        edi_payer_id=data.edi_payer_id,
        timely_filing_days=data.timely_filing_days,
        appeal_deadline_days=data.appeal_deadline_days,
        secondary_crossover=data.secondary_crossover,
        active=True,
        **_address_columns("claims", data.claims_address),
        **_address_columns("eligibility", data.eligibility_address),
    )
    session.add(payer)
    session.flush()
    audit.record(
        session,
        actor,
        "payer:create",
        object_type="payer",
        object_id=payer.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
    )
    return payer


def get_payer(session: Session, actor: Principal, payer_id: uuid.UUID) -> Payer:
    return access_payer(session, actor, payer_id)


def update_payer(
    session: Session, actor: Principal, payer_id: uuid.UUID, data: PayerUpdate
) -> Payer:
    payer = access_payer(session, actor, payer_id, Action.PAYER_WRITE)
    changes = data.model_dump(exclude_unset=True)
    for field in ("claims_address", "eligibility_address"):
        if field in changes:
            prefix = field.removesuffix("_address")
            for column, value in _address_columns(prefix, getattr(data, field)).items():
                setattr(payer, column, value)
    for field in ("name", "timely_filing_days", "appeal_deadline_days"):
        if changes.get(field) is not None:
            setattr(payer, field, changes[field])
    for field in ("secondary_crossover", "active"):
        if changes.get(field) is not None:
            setattr(payer, field, changes[field])
    payer.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "payer:update",
        object_type="payer",
        object_id=payer.id,
        practice_id=payer.practice_id,
        fields=changes,
    )
    return payer


def list_payers(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[Payer]:
    actor.require(Action.PAYER_READ)
    limit = min(limit, MAX_LIMIT)
    rows = InsuranceRepository(session).list_payers(
        actor.practice_ids, practice_id, parse_cursor_uuid(after_id(cursor)), limit + 1
    )
    return page_by_id(list(rows), limit)


# plans --------------------------------------------------------------------------------------------


def access_plan(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    action: Action = Action.PAYER_READ,
    *,
    for_update: bool = False,
) -> InsurancePlan:
    actor.require(action)
    plan = InsuranceRepository(session).get_plan(plan_id, for_update=for_update)
    if plan is None:
        raise errors.PlanNotFound("No such plan")
    if not actor.sees_practice(plan.practice_id):
        raise out_of_scope(errors.PlanNotFound("No such plan"), "plan", plan.id)
    return plan


def _minor(value: Decimal | None, currency: str) -> int | None:
    return None if value is None else Money.parse(value, currency).amount_minor


def _plan_values(data: PlanCreate | PlanUpdate, currency: str, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("name", "network", "in_network", "benefit_year_start_month", "active"):
        if field in fields and hasattr(data, field):
            out[field] = getattr(data, field)
    if "product_type" in fields and isinstance(data, PlanCreate):
        out["product_type"] = data.product_type.value
    money = {
        "deductible": "deductible_minor",
        "family_deductible": "family_deductible_minor",
        "oop_max": "oop_max_minor",
        "family_oop_max": "family_oop_max_minor",
    }
    for field, column in money.items():
        if field in fields:
            out[column] = _minor(getattr(data, field), currency)
    if "coinsurance_percent" in fields and data.coinsurance_percent is not None:
        out["coinsurance_bp"] = bp_of(data.coinsurance_percent)
    if "copays" in fields and data.copays is not None:
        out["copays"] = {
            str(k.value): Money.parse(v, currency).amount_minor
            for k, v in sorted(data.copays.items())
        }
    if "cost_share_order" in fields and data.cost_share_order is not None:
        out["cost_share_order"] = data.cost_share_order.value
    if "auth_required_codes" in fields and data.auth_required_codes is not None:
        out["auth_required_codes"] = sorted(set(data.auth_required_codes))
    return out


def create_plan(
    session: Session, actor: Principal, payer_id: uuid.UUID, data: PlanCreate
) -> InsurancePlan:
    payer = access_payer(session, actor, payer_id, Action.PAYER_WRITE)
    practice = PracticeRepository(session).get(payer.practice_id)
    assert practice is not None
    fields = set(PlanCreate.model_fields)
    plan = InsurancePlan(
        practice_id=payer.practice_id,
        payer_id=payer.id,
        currency=practice.currency,
        active=True,
        **_plan_values(data, practice.currency, fields - {"active"}),
    )
    if plan.deductible_minor is None:
        plan.deductible_minor = 0
    session.add(plan)
    session.flush()
    audit.record(
        session,
        actor,
        "plan:create",
        object_type="insurance_plan",
        object_id=plan.id,
        practice_id=plan.practice_id,
        fields=data.model_fields_set,
    )
    return plan


def update_plan(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: PlanUpdate
) -> InsurancePlan:
    plan = access_plan(session, actor, plan_id, Action.PAYER_WRITE, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    nullable = {"network", "family_deductible", "oop_max", "family_oop_max"}
    fields = {f for f, v in changes.items() if v is not None or f in nullable}
    for column, value in _plan_values(data, plan.currency, fields).items():
        setattr(plan, column, value)
    plan.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "plan:update",
        object_type="insurance_plan",
        object_id=plan.id,
        practice_id=plan.practice_id,
        fields=changes,
    )
    return plan


def get_plan(session: Session, actor: Principal, plan_id: uuid.UUID) -> InsurancePlan:
    return access_plan(session, actor, plan_id)


def list_plans(
    session: Session, actor: Principal, payer_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[InsurancePlan]:
    payer = access_payer(session, actor, payer_id)
    limit = min(limit, MAX_LIMIT)
    rows = InsuranceRepository(session).list_plans(
        payer.id, parse_cursor_uuid(after_id(cursor)), limit + 1
    )
    return page_by_id(list(rows), limit)


# fee schedules ------------------------------------------------------------------------------------


def _overlaps(a_from: dt.date, a_to: dt.date | None, b_from: dt.date, b_to: dt.date | None) -> bool:
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


def add_fee_rows(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: FeeScheduleCreate
) -> list[FeeScheduleRow]:
    """Add contracted rates. Under the plan's row lock: a row whose window overlaps another row
    for the same code and modifier (stored, or earlier in the same request) refuses the whole
    request (409 fee_schedule.overlapping_window)."""
    plan = access_plan(session, actor, plan_id, Action.PAYER_WRITE, for_update=True)
    repo = InsuranceRepository(session)
    pending: list[FeeScheduleRow] = []
    # Stored open-ended rates a new row supersedes -> their new end (applied once all rows pass).
    ends: dict[uuid.UUID, tuple[FeeScheduleRow, dt.date]] = {}
    for i, r in enumerate(data.rows):
        modifier = r.modifier or ""
        stored = list(repo.fee_rows(plan.id, code=r.code, modifier=modifier))
        existing = [
            *stored,
            *[p for p in pending if (p.code, p.modifier) == (r.code, modifier)],
        ]
        for other in existing:
            other_to = ends[other.id][1] if other.id in ends else other.effective_to
            if (
                data.supersede_open_rates
                and other in stored
                and other_to is None
                and other.effective_from < r.effective_from
            ):
                ends[other.id] = (other, r.effective_from - dt.timedelta(days=1))
                continue
            if _overlaps(r.effective_from, r.effective_to, other.effective_from, other_to):
                raise errors.FeeScheduleOverlap(
                    f"row {i + 1}: {r.code}{'-' + modifier if modifier else ''} already has a rate "
                    f"from {other.effective_from.isoformat()}"
                    + (f" to {other.effective_to.isoformat()}" if other.effective_to else ""),
                    row=i + 1,
                    service_code=r.code,
                )
        pending.append(
            FeeScheduleRow(
                plan_id=plan.id,
                code=r.code,
                modifier=modifier,
                allowed_minor=Money.parse(r.allowed, plan.currency).amount_minor,
                currency=plan.currency,
                effective_from=r.effective_from,
                effective_to=r.effective_to,
                created_by=actor.user_id,
            )
        )
    ended = []
    for other, end in ends.values():
        other.effective_to = end
        ended.append(other)
    session.add_all(pending)
    session.flush()
    audit.record(
        session,
        actor,
        "fee_schedule:add",
        object_type="insurance_plan",
        object_id=plan.id,
        practice_id=plan.practice_id,
        fields=["rows"],
        detail={
            "rows": len(pending),
            "ended": ", ".join(
                f"{o.code}{'-' + o.modifier if o.modifier else ''} to {o.effective_to}"
                for o in ended
            )
            or None,
        },
    )
    return pending


def list_fee_rows(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    *,
    code: str | None,
    on: dt.date | None,
    cursor: str | None,
    limit: int,
) -> Page[FeeScheduleRow]:
    plan = access_plan(session, actor, plan_id)
    limit = min(limit, MAX_LIMIT)
    rows = InsuranceRepository(session).fee_rows(
        plan.id, code=code, on=on, after=parse_cursor_uuid(after_id(cursor)), limit=limit + 1
    )
    return page_by_id(list(rows), limit)


@dataclass(frozen=True)
class Allowed:
    row: FeeScheduleRow
    matched_modifier: bool


def allowed_on(
    session: Session, plan_id: uuid.UUID, code: str, modifier: str | None, on: dt.date
) -> Allowed | None:
    """The contracted rate for ``code`` on ``on``: the row for the modifier if there is one,
    else the row without a modifier."""
    repo = InsuranceRepository(session)
    if modifier:
        rows: Sequence[FeeScheduleRow] = repo.fee_rows(plan_id, code=code, modifier=modifier, on=on)
        if rows:
            return Allowed(rows[0], True)
    rows = repo.fee_rows(plan_id, code=code, modifier="", on=on)
    return Allowed(rows[0], not modifier) if rows else None


def lookup_allowed(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    *,
    code: str,
    modifier: str | None,
    on: dt.date,
) -> Allowed:
    plan = access_plan(session, actor, plan_id)
    found = allowed_on(session, plan.id, code, modifier, on)
    if found is None:
        raise errors.FeeScheduleRateMissing(
            f"The plan has no rate for {code} on {on.isoformat()}", service_code=code
        )
    return found
