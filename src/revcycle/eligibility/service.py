"""Eligibility checks: build the 270, send it through the clearinghouse, store the 271.

Flow (docs/eligibility.md), like card payments a short saga around the external call:

1. :func:`start_check` (one transaction): access and input checks, a fresh interchange control
   number from the practice's counter, the 270 built from the coverage, patient, subscriber and
   practice, and the check recorded ``pending`` with the 270 (sealed). It commits before the
   clearinghouse is called: no database lock is held across the network.
2. The clearinghouse call (no transaction).
3. :func:`finish_check` (one transaction, the check's row lock): the 271 parsed and stored with
   its summary, status ``active`` / ``inactive`` / ``rejected`` (AAA) or ``error`` (a malformed
   or truncated 271: the parser's code, segment and position; a timeout or an unavailable
   clearinghouse: its code). Everything is computed before anything is assigned: never a
   partial benefits write.

A check left ``pending`` by a crash between 1 and 3 is finished by a retry with the same
Idempotency-Key (an eligibility query is safe to send twice).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.clearinghouse.base import ClearinghouseClient, ClearinghouseError
from revcycle.db import unit_of_work
from revcycle.eligibility import benefits, errors
from revcycle.eligibility.models import ERROR, PENDING, EligibilityCheck
from revcycle.eligibility.repository import EligibilityRepository
from revcycle.errors import out_of_scope
from revcycle.insurance.models import Coverage, Payer
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.patients import service as patients_service
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice
from revcycle.x12 import codes
from revcycle.x12.core import X12Error
from revcycle.x12.eligibility import (
    EligibilityInquiry,
    Person,
    Provider,
    build_270,
    parse_271,
)
from revcycle.x12.eligibility import Payer as X12Payer
from revcycle.x12.writer import Envelope

DEFAULT_STALE_DAYS = 30
MAX_SERVICE_TYPES = 10
_SERVICE_TYPE = re.compile(r"^[A-Z0-9]{1,2}$")


def request_key(user_id: uuid.UUID | None, idempotency_key: str) -> str:
    return hashlib.sha256(f"{user_id}:{idempotency_key}".encode()).hexdigest()


# access ----------------------------------------------------------------------------------------
def access_coverage(
    session: Session, actor: Principal, coverage_id: uuid.UUID, action: Action
) -> Coverage:
    actor.require(action)
    coverage = session.get(Coverage, coverage_id)
    if coverage is None:
        raise errors.CoverageNotFound("No such coverage")
    if not actor.sees_patient(coverage.practice_id, coverage.patient_id):
        raise out_of_scope(errors.CoverageNotFound("No such coverage"), "coverage", coverage_id)
    return coverage


def access_check(session: Session, actor: Principal, check_id: uuid.UUID) -> EligibilityCheck:
    actor.require(Action.COVERAGE_READ)
    check = EligibilityRepository(session).get(check_id)
    if check is None:
        raise errors.CheckNotFound("No such eligibility check")
    if not actor.sees_patient(check.practice_id, check.patient_id):
        raise out_of_scope(
            errors.CheckNotFound("No such eligibility check"), "eligibility_check", check_id
        )
    return check


# phase 1 ---------------------------------------------------------------------------------------
def _service_types(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if not _SERVICE_TYPE.match(v) or v not in codes.SERVICE_TYPES:
            raise errors.InvalidCheck(
                "Service types are X12 service type codes (EQ01), e.g. 30, 98, UC",
                code="eligibility.bad_service_type",
            )
        if v not in out:
            out.append(v)
    if not out or len(out) > MAX_SERVICE_TYPES:
        raise errors.InvalidCheck(
            f"Ask for 1 to {MAX_SERVICE_TYPES} service types", code="eligibility.bad_service_type"
        )
    return out


def _originator(practice: Practice) -> str:
    digits = "".join(c for c in practice.tin if c.isdigit())
    return ("1" + digits)[:10].ljust(10, "0")


def _inquiry(
    practice: Practice,
    patient: Patient,
    coverage: Coverage,
    payer: Payer,
    trace: str,
    service_date: dt.date,
    service_types: list[str],
) -> EligibilityInquiry:
    gender = patient.sex if patient.sex in ("M", "F") else "U"
    me = Person(
        last_name=patient.last_name,
        first_name=patient.first_name,
        birth_date=patient.date_of_birth,
        gender=gender,
    )
    if coverage.relationship == "18":
        subscriber = Person(
            me.last_name, me.first_name, "", coverage.member_id, me.birth_date, gender
        )
        dependent = None
    else:
        subscriber = Person(
            last_name=coverage.subscriber_last_name or "",
            first_name=coverage.subscriber_first_name or "",
            member_id=coverage.member_id,
            birth_date=coverage.subscriber_date_of_birth,
        )
        dependent = me
    return EligibilityInquiry(
        trace_number=trace,
        trace_originator_id=_originator(practice),
        payer=X12Payer(payer.name.upper()[:60], payer.edi_payer_id),
        provider=Provider(practice.name.upper()[:60], practice.npi),
        subscriber=subscriber,
        dependent=dependent,
        service_date=service_date,
        service_types=tuple(service_types),
    )


def start_check(
    session: Session,
    actor: Principal,
    *,
    coverage_id: uuid.UUID,
    service_date: dt.date,
    service_types: Sequence[str],
    clearinghouse: str,
    key: str | None = None,
    patient_id: uuid.UUID | None = None,
) -> EligibilityCheck:
    """Phase 1: record the check ``pending`` with its 270. A retry (same ``key``) returns the
    check it started."""
    coverage = access_coverage(session, actor, coverage_id, Action.ELIGIBILITY_CHECK)
    if patient_id is not None and coverage.patient_id != patient_id:
        raise errors.InvalidCheck(
            "The coverage is not this patient's", code="eligibility.patient_mismatch"
        )
    repo = EligibilityRepository(session)
    if key is not None:
        existing = repo.by_request_key(key)
        if existing is not None:
            return existing
    types = _service_types(service_types)
    patient = session.get(Patient, coverage.patient_id)
    practice = session.get(Practice, coverage.practice_id)
    payer = session.get(Payer, coverage.payer_id)
    assert patient is not None and practice is not None and payer is not None
    if coverage.relationship != "18" and not coverage.subscriber_last_name:
        raise errors.InvalidCheck(
            "The coverage names no subscriber (the patient is not the subscriber)",
            code="eligibility.no_subscriber",
        )
    now = utcnow()
    icn = repo.next_control_number(practice.id)
    if icn > 999_999_999:
        raise errors.InvalidCheck(
            "The practice's interchange numbers are used up", code="eligibility.numbers_exhausted"
        )
    trace = f"{icn:09d}"
    envelope = Envelope(
        sender_id=practice.npi,
        receiver_id=payer.edi_payer_id[:15],
        interchange_control_number=icn,
        group_control_number=icn,
        created_at=now,
    )
    try:
        x270 = build_270(
            [_inquiry(practice, patient, coverage, payer, trace, service_date, types)], envelope
        )
    except X12Error as exc:
        raise errors.InvalidCheck(
            f"The 270 cannot be built: {exc.detail}", code="eligibility.cannot_build"
        ) from None
    check = EligibilityCheck(
        practice_id=practice.id,
        patient_id=patient.id,
        coverage_id=coverage.id,
        service_date=service_date,
        service_types=types,
        status=PENDING,
        interchange_control_number=icn,
        trace_number=trace,
        clearinghouse=clearinghouse,
        request_key=key,
        requested_by=actor.user_id,
        requested_by_name=actor.username,
        requested_at=now,
        x270=x270,
        aaa_reasons=[],
    )
    session.add(check)
    session.flush()
    audit.record(
        session,
        actor,
        "eligibility:request",
        object_type="eligibility_check",
        object_id=check.id,
        practice_id=practice.id,
        fields=["service_date", "service_types"],
        detail={"patient_id": str(patient.id), "coverage_id": str(coverage.id)},
    )
    return check


# phase 3 ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Outcome:
    status: str
    summary: str | None = None
    aaa: tuple[str, ...] = ()
    error_code: str | None = None
    error_segment: str | None = None
    error_position: int | None = None
    error_message: str | None = None


def interpret(x271: str, trace_number: str) -> _Outcome:
    """Pure: what a 271 says about our inquiry; never raises for bad input."""
    try:
        result = parse_271(x271)
        if result.errors:
            raise result.errors[0]
        if not result.responses:
            raise X12Error("x12.empty", "the 271 holds no response")
        resp = next(
            (r for r in result.responses if benefits.patient_of(r, trace_number) is not None),
            result.responses[0],
        )
        summary = benefits.summarise(resp, trace_number)
    except X12Error as exc:
        return _Outcome(
            ERROR,
            error_code=exc.code,
            error_segment=(exc.segment_id or None) and exc.segment_id[:3],
            error_position=exc.position,
            error_message=str(exc)[:2000],
        )
    aaa = tuple(dict.fromkeys(e["reason_code"] for e in summary["errors"] if e["reason_code"]))
    status = summary["status"]
    return _Outcome(
        status,
        summary=json.dumps(summary, separators=(",", ":"), sort_keys=True),
        aaa=aaa,
        error_code="eligibility.no_coverage_info" if status == ERROR else None,
    )


def finish_check(
    session: Session,
    actor: Principal,
    check_id: uuid.UUID,
    *,
    x271: str | None,
    failure: ClearinghouseError | None = None,
) -> EligibilityCheck:
    """Phase 3: store the outcome under the check's row lock (a finished check is left as is)."""
    repo = EligibilityRepository(session)
    check = repo.lock(check_id)
    assert check is not None
    if check.status != PENDING:
        return check
    if failure is not None or x271 is None:
        code = failure.code if failure is not None else "clearinghouse.error"
        outcome = _Outcome(
            ERROR, error_code=code, error_message=failure.message if failure else None
        )
    else:
        outcome = interpret(x271, check.trace_number)
    check.x271 = x271
    check.status = outcome.status
    check.summary = outcome.summary
    check.aaa_reasons = list(outcome.aaa)
    check.error_code = outcome.error_code
    check.error_segment = outcome.error_segment
    check.error_position = outcome.error_position
    check.error_message = outcome.error_message
    check.completed_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "eligibility:result",
        object_type="eligibility_check",
        object_id=check.id,
        practice_id=check.practice_id,
        fields=["status", "x271", "summary"],
        detail={"status": check.status, "error_code": check.error_code},
    )
    return check


# the whole saga --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckRequest:
    coverage_id: uuid.UUID
    service_date: dt.date
    service_types: tuple[str, ...] = ("30",)
    patient_id: uuid.UUID | None = None  # when given, the coverage must be this patient's


def run_check(
    factory: sessionmaker[Session],
    client: ClearinghouseClient,
    actor: Principal,
    req: CheckRequest,
    *,
    key: str | None = None,
    timeout_seconds: float = 20.0,
) -> EligibilityCheck:
    """Phases 1-3 in transactions of their own. Raises :class:`errors.ClearinghouseFailed`
    after storing the check as ``error`` when the clearinghouse failed."""
    with unit_of_work(factory) as s:
        check = start_check(
            s,
            actor,
            coverage_id=req.coverage_id,
            service_date=req.service_date,
            service_types=req.service_types,
            clearinghouse=client.name,
            key=key,
            patient_id=req.patient_id,
        )
        check_id, x270, status = check.id, check.x270, check.status
    if status != PENDING:
        with unit_of_work(factory) as s:
            return _done(s, check_id)
    x271, failure = _call(client, x270, timeout_seconds)
    with unit_of_work(factory) as s:
        check = finish_check(s, actor, check_id, x271=x271, failure=failure)
    return _done_or_raise(check)


def run_check_in(
    session: Session,
    client: ClearinghouseClient,
    actor: Principal,
    req: CheckRequest,
    *,
    timeout_seconds: float = 20.0,
) -> EligibilityCheck:
    """The same in the caller's transaction (demo seeding, tests): the clearinghouse must not
    need a transaction of its own (the simulator reading through this session)."""
    check = start_check(
        session,
        actor,
        coverage_id=req.coverage_id,
        service_date=req.service_date,
        service_types=req.service_types,
        clearinghouse=client.name,
        patient_id=req.patient_id,
    )
    x271, failure = _call(client, check.x270, timeout_seconds)
    return finish_check(session, actor, check.id, x271=x271, failure=failure)


def _call(
    client: ClearinghouseClient, x270: str, timeout_seconds: float
) -> tuple[str | None, ClearinghouseError | None]:
    try:
        return client.eligibility(x270, timeout_seconds=timeout_seconds), None
    except ClearinghouseError as exc:
        return None, exc


def _done(session: Session, check_id: uuid.UUID) -> EligibilityCheck:
    check = EligibilityRepository(session).get(check_id)
    assert check is not None
    return _done_or_raise(check)


def _done_or_raise(check: EligibilityCheck) -> EligibilityCheck:
    if check.status == ERROR and (check.error_code or "").startswith("clearinghouse."):
        raise errors.ClearinghouseFailed(
            "The clearinghouse did not answer; the check is stored as an error",
            code=check.error_code or "clearinghouse.error",
            check_id=str(check.id),
        )
    return check


# reads -----------------------------------------------------------------------------------------
def summary_of(check: EligibilityCheck) -> dict[str, Any] | None:
    return None if check.summary is None else dict(json.loads(check.summary))


def get_check(
    session: Session, actor: Principal, check_id: uuid.UUID, *, include_raw: bool = False
) -> EligibilityCheck:
    check = access_check(session, actor, check_id)
    if include_raw and actor.is_patient:
        raise errors.RawForbidden(
            "The raw X12 of a check is for staff", code="eligibility.raw_forbidden"
        )
    audit.record_read(
        session,
        actor,
        "eligibility:read_raw" if include_raw else "eligibility:read",
        object_type="eligibility_check",
        object_id=check.id,
        practice_id=check.practice_id,
        detail={"patient_id": str(check.patient_id)},
    )
    return check


def list_checks(
    session: Session, actor: Principal, patient_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[EligibilityCheck]:
    patients_service.access_patient(session, actor, patient_id, Action.COVERAGE_READ)
    limit = min(limit, MAX_LIMIT)
    rows = EligibilityRepository(session).for_patient(
        patient_id, after=parse_cursor_uuid(after_id(cursor)), limit=limit + 1
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "eligibility:list", ((c.practice_id, c.patient_id) for c in page.items)
    )
    return page


@dataclass(frozen=True)
class CoverageStatus:
    coverage: Coverage
    latest: EligibilityCheck | None
    stale: bool


def is_stale(check: EligibilityCheck | None, now: dt.datetime, stale_days: int) -> bool:
    if check is None or check.completed_at is None:
        return True
    return check.completed_at < now - dt.timedelta(days=stale_days)


def patient_status(
    session: Session, actor: Principal, patient_id: uuid.UUID, *, stale_days: int
) -> list[CoverageStatus]:
    """Per coverage of the patient: the latest finished check and whether it is stale (older
    than ``stale_days``, or none)."""
    patient = patients_service.access_patient(session, actor, patient_id, Action.COVERAGE_READ)
    repo = EligibilityRepository(session)
    now = utcnow()
    out = []
    for cov in repo.coverages_of(patient.id):
        latest = repo.latest_completed(cov.id)
        out.append(CoverageStatus(cov, latest, is_stale(latest, now, stale_days)))
    audit.record_read(
        session,
        actor,
        "eligibility:status",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
    )
    return out
