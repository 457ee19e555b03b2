"""Use-cases for patients' coverages: create, read, terminate, order (coordination of benefits)
and benefit-year accumulators (docs/insurance.md).

Every change runs under a row lock on the patient (lock order: patient -> coverage), so the
coordination-of-benefits check (no two coverages with the same priority on the same day) sees
every committed coverage: of two concurrent requests adding a primary, one wins and the other
gets 409 coverage.priority_conflict. Reads and changes are audited (patient data).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.insurance import cob, errors
from revcycle.insurance.models import Coverage, CoverageAccumulator, CoveragePriority
from revcycle.insurance.repository import InsuranceRepository
from revcycle.insurance.schemas import (
    AccumulatorCreate,
    CoverageCreate,
    CoverageOrder,
    CoverageTerminate,
    Relationship,
)
from revcycle.insurance.service import access_plan
from revcycle.kit.clock import today, utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.money import Money
from revcycle.patients import service as patients_service
from revcycle.patients.models import Patient
from revcycle.patients.repository import PatientRepository


@dataclass(frozen=True)
class CoverageView:
    coverage: Coverage
    priorities: list[CoveragePriority]

    @property
    def dates(self) -> cob.CoverageDates:
        return _dates(self.coverage, self.priorities)

    def priority_on(self, day: dt.date) -> int | None:
        return cob.priority_on(self.dates, day)


def _dates(c: Coverage, priorities: list[CoveragePriority]) -> cob.CoverageDates:
    return cob.CoverageDates(
        c.id, c.effective_from, c.effective_to, [(p.effective_from, p.priority) for p in priorities]
    )


def _views(session: Session, coverages: list[Coverage]) -> list[CoverageView]:
    prios = InsuranceRepository(session).priorities_of([c.id for c in coverages])
    return [CoverageView(c, prios[c.id]) for c in coverages]


def access_coverage(
    session: Session,
    actor: Principal,
    coverage_id: uuid.UUID,
    action: Action = Action.COVERAGE_READ,
) -> Coverage:
    actor.require(action)
    coverage = InsuranceRepository(session).get_coverage(coverage_id)
    if coverage is None:
        raise errors.CoverageNotFound("No such coverage")
    if not actor.sees_patient(coverage.practice_id, coverage.patient_id):
        raise out_of_scope(errors.CoverageNotFound("No such coverage"), "coverage", coverage.id)
    return coverage


def _check_cob(coverages: list[cob.CoverageDates]) -> None:
    clash = cob.conflicts(coverages)
    if clash:
        a, b = clash[0]
        start = max(a.start, b.start)
        raise errors.PriorityConflict(
            f"Two coverages would both be {cob.PRIORITY_NAMES[a.priority]} from "
            f"{start.isoformat()}",
            priority=a.priority,
            on=start.isoformat(),
        )


def _lock_patient(session: Session, patient: Patient) -> None:
    PatientRepository(session).get_for_update(patient.id)
    session.flush()


def create_coverage(
    session: Session, actor: Principal, patient_id: uuid.UUID, data: CoverageCreate
) -> CoverageView:
    patient = patients_service.access_patient(session, actor, patient_id, Action.COVERAGE_WRITE)
    plan = access_plan(session, actor, data.plan_id, Action.COVERAGE_READ)
    if plan.practice_id != patient.practice_id:
        raise out_of_scope(errors.PlanNotFound("No such plan"), "plan", plan.id)
    if not plan.active:
        raise errors.PlanInactive("This plan is no longer active", plan_id=str(plan.id))
    _check_subscriber(session, patient, data)
    _lock_patient(session, patient)
    existing = _views(session, list(InsuranceRepository(session).coverages_of(patient.id)))
    coverage_id = uuid.uuid4()
    candidate = cob.CoverageDates(
        coverage_id, data.effective_from, data.effective_to, [(data.effective_from, data.priority)]
    )
    _check_cob([*(v.dates for v in existing), candidate])
    sub = data.subscriber
    coverage = Coverage(
        id=coverage_id,
        practice_id=patient.practice_id,
        patient_id=patient.id,
        payer_id=plan.payer_id,
        plan_id=plan.id,
        member_id=data.member_id,
        group_number=data.group_number,
        relationship=data.relationship.value,
        subscriber_first_name=sub.first_name if sub else None,
        subscriber_last_name=sub.last_name if sub else None,
        subscriber_date_of_birth=sub.date_of_birth if sub else None,
        subscriber_patient_id=sub.patient_id if sub else None,
        effective_from=data.effective_from,
        effective_to=data.effective_to,
        card_image_ref=data.card_image_ref,
        created_by=actor.user_id,
    )
    session.add(coverage)
    session.flush()
    first = CoveragePriority(
        coverage_id=coverage.id,
        priority=data.priority,
        effective_from=data.effective_from,
        created_by=actor.user_id,
    )
    session.add(first)
    session.flush()
    audit.record(
        session,
        actor,
        "coverage:create",
        object_type="coverage",
        object_id=coverage.id,
        practice_id=coverage.practice_id,
        fields=data.model_fields_set,
        detail={"patient_id": str(patient.id), "priority": data.priority},
    )
    return CoverageView(coverage, [first])


def _check_subscriber(session: Session, patient: Patient, data: CoverageCreate) -> None:
    if data.relationship is Relationship.SELF:
        if data.subscriber is not None:
            raise errors.InvalidSubscriber(
                "With relationship 18 (self) the patient is the subscriber: leave subscriber empty"
            )
        return
    if data.subscriber is None:
        raise errors.InvalidSubscriber(
            "A coverage held through another person needs the subscriber's name and birth date"
        )
    if data.subscriber.patient_id is not None:
        other = PatientRepository(session).get(data.subscriber.patient_id)
        if other is None or other.practice_id != patient.practice_id or other.id == patient.id:
            raise errors.InvalidSubscriber(
                "The subscriber must be another patient of the same practice"
            )


def get_coverage(session: Session, actor: Principal, coverage_id: uuid.UUID) -> CoverageView:
    coverage = access_coverage(session, actor, coverage_id)
    audit.record_read(
        session,
        actor,
        "coverage:read",
        object_type="coverage",
        object_id=coverage.id,
        practice_id=coverage.practice_id,
    )
    return _views(session, [coverage])[0]


def list_coverages(
    session: Session, actor: Principal, patient_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[CoverageView]:
    patient = patients_service.access_patient(session, actor, patient_id, Action.COVERAGE_READ)
    limit = min(limit, MAX_LIMIT)
    rows = InsuranceRepository(session).coverages_of(
        patient.id, after=parse_cursor_uuid(after_id(cursor)), limit=limit + 1
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "coverage:list", ((c.practice_id, c.patient_id) for c in page.items)
    )
    return Page(_views(session, page.items), page.next_cursor)


def terminate_coverage(
    session: Session, actor: Principal, coverage_id: uuid.UUID, data: CoverageTerminate
) -> CoverageView:
    """End a coverage on ``effective_to`` (inclusive). Only ever shortens it, so it can never
    create a priority conflict."""
    coverage = access_coverage(session, actor, coverage_id, Action.COVERAGE_WRITE)
    PatientRepository(session).get_for_update(coverage.patient_id)
    locked = InsuranceRepository(session).get_coverage(coverage.id, for_update=True)
    assert locked is not None
    if locked.terminated_at is not None:
        raise errors.AlreadyTerminated(
            "This coverage is already terminated",
            effective_to=locked.effective_to.isoformat() if locked.effective_to else None,
        )
    if data.effective_to < locked.effective_from:
        raise errors.InvalidTermination("The termination date is before the coverage starts")
    if locked.effective_to is not None and data.effective_to > locked.effective_to:
        raise errors.InvalidTermination(
            "A termination cannot extend the coverage past its end date",
            effective_to=locked.effective_to.isoformat(),
        )
    locked.effective_to = data.effective_to
    locked.terminated_at = utcnow()
    locked.termination_reason = data.reason
    audit.record(
        session,
        actor,
        "coverage:terminate",
        object_type="coverage",
        object_id=locked.id,
        practice_id=locked.practice_id,
        fields=["effective_to", "terminated_at", "termination_reason"],
    )
    return _views(session, [locked])[0]


def set_order(
    session: Session, actor: Principal, patient_id: uuid.UUID, data: CoverageOrder
) -> list[CoverageView]:
    """From ``effective_from`` on, the listed coverages hold priorities 1, 2, 3 in list order.
    Appends one dated priority row per coverage (the history is never rewritten); refused when a
    listed coverage is not in force that day, when a change on or after that day is already
    recorded for it, or when the result would give two coverages one priority on one day."""
    patient = patients_service.access_patient(session, actor, patient_id, Action.COVERAGE_WRITE)
    if len(set(data.coverage_ids)) != len(data.coverage_ids):
        raise errors.InvalidOrder("A coverage is listed twice")
    _lock_patient(session, patient)
    views = {
        v.coverage.id: v
        for v in _views(session, list(InsuranceRepository(session).coverages_of(patient.id)))
    }
    day = data.effective_from
    new_rows: list[CoveragePriority] = []
    for position, coverage_id in enumerate(data.coverage_ids, start=1):
        view = views.get(coverage_id)
        if view is None:
            raise errors.InvalidOrder(
                "A listed coverage is not one of this patient's", coverage_id=str(coverage_id)
            )
        c = view.coverage
        if day < c.effective_from or (c.effective_to is not None and day > c.effective_to):
            raise errors.InvalidOrder(
                f"Coverage {coverage_id} is not in force on {day.isoformat()}",
                coverage_id=str(coverage_id),
            )
        if any(p.effective_from >= day for p in view.priorities):
            raise errors.InvalidOrder(
                "A priority change on or after this date is already recorded; the history is "
                "append-only",
                coverage_id=str(coverage_id),
            )
        new_rows.append(
            CoveragePriority(
                coverage_id=c.id,
                priority=position,
                effective_from=day,
                reason=data.reason,
                created_by=actor.user_id,
            )
        )
    planned = []
    for cid, view in views.items():
        extra = [(r.effective_from, r.priority) for r in new_rows if r.coverage_id == cid]
        d = view.dates
        planned.append(
            cob.CoverageDates(cid, d.effective_from, d.effective_to, [*d.changes, *extra])
        )
    _check_cob(planned)
    session.add_all(new_rows)
    session.flush()
    for r in new_rows:
        audit.record(
            session,
            actor,
            "coverage:priority",
            object_type="coverage",
            object_id=r.coverage_id,
            practice_id=patient.practice_id,
            fields=["priority"],
            detail={"priority": r.priority, "effective_from": day.isoformat()},
        )
    listed = set(data.coverage_ids)
    return [
        CoverageView(v.coverage, [*v.priorities, *[r for r in new_rows if r.coverage_id == cid]])
        for cid, v in views.items()
        if cid in listed
    ]


def coverage_on(
    session: Session, patient_id: uuid.UUID, day: dt.date, priority: int = 1
) -> CoverageView | None:
    """The patient's coverage holding ``priority`` on ``day`` (no access check: callers have
    done theirs)."""
    for view in _views(session, list(InsuranceRepository(session).coverages_of(patient_id))):
        if view.priority_on(day) == priority:
            return view
    return None


def active_coverages(session: Session, patient_id: uuid.UUID, day: dt.date) -> list[CoverageView]:
    return [
        v
        for v in _views(session, list(InsuranceRepository(session).coverages_of(patient_id)))
        if v.priority_on(day) is not None
    ]


# accumulators -------------------------------------------------------------------------------------


def add_accumulator(
    session: Session, actor: Principal, coverage_id: uuid.UUID, data: AccumulatorCreate
) -> CoverageAccumulator:
    coverage = access_coverage(session, actor, coverage_id, Action.COVERAGE_WRITE)
    if data.as_of > today():
        raise InvalidInput("The as-of date is in the future", code="coverage.accumulator_invalid")
    repo = InsuranceRepository(session)
    plan = repo.get_plan(coverage.plan_id)
    assert plan is not None
    return record_accumulator(
        session,
        actor,
        coverage,
        as_of=data.as_of,
        start_month=plan.benefit_year_start_month,
        deductible_met=Money.parse(data.deductible_met, plan.currency),
        oop_met=Money.parse(data.oop_met, plan.currency),
        family_deductible_met=None
        if data.family_deductible_met is None
        else Money.parse(data.family_deductible_met, plan.currency),
        family_oop_met=None
        if data.family_oop_met is None
        else Money.parse(data.family_oop_met, plan.currency),
        source="manual",
    )


def record_accumulator(
    session: Session,
    actor: Principal,
    coverage: Coverage,
    *,
    as_of: dt.date,
    start_month: int,
    deductible_met: Money,
    oop_met: Money,
    family_deductible_met: Money | None = None,
    family_oop_met: Money | None = None,
    source: str,
) -> CoverageAccumulator:
    """Append what is met in the benefit year containing ``as_of`` (also the entry point for
    271 eligibility responses, ``source="eligibility"``)."""
    row = CoverageAccumulator(
        coverage_id=coverage.id,
        benefit_year_start=cob.benefit_year_start(as_of, start_month),
        as_of=as_of,
        currency=deductible_met.currency,
        deductible_met_minor=deductible_met.amount_minor,
        oop_met_minor=oop_met.amount_minor,
        family_deductible_met_minor=None
        if family_deductible_met is None
        else family_deductible_met.amount_minor,
        family_oop_met_minor=None if family_oop_met is None else family_oop_met.amount_minor,
        source=source,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "coverage:accumulator",
        object_type="coverage",
        object_id=coverage.id,
        practice_id=coverage.practice_id,
        fields=["deductible_met", "oop_met"],
        detail={"as_of": as_of.isoformat(), "source": source},
    )
    return row


def list_accumulators(
    session: Session, actor: Principal, coverage_id: uuid.UUID
) -> list[CoverageAccumulator]:
    coverage = access_coverage(session, actor, coverage_id)
    audit.record_read(
        session,
        actor,
        "coverage:accumulators",
        object_type="coverage",
        object_id=coverage.id,
        practice_id=coverage.practice_id,
    )
    return list(InsuranceRepository(session).accumulators(coverage.id))


def all_coverages(session: Session, patient_id: uuid.UUID) -> list[CoverageView]:
    """Every coverage of the patient, in force or not (no access check)."""
    return _views(session, list(InsuranceRepository(session).coverages_of(patient_id)))
