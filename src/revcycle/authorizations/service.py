"""Use-cases for prior authorisations (docs/insurance.md, "Prior authorisations").

Status: requested -> approved | denied; requested | approved -> cancelled; an approved
authorisation past ``valid_to`` is expired. Expiry is derived from the date (reads show
``expired`` from the day after ``valid_to``), not written by a job: a charge billed late for a
service inside the window still draws on it.

Charges draw units through :func:`consume_for_charge` under row locks on the matching
authorisation rows (lock order: ... invoice -> authorisation services (by id) -> invoice
sequence), so concurrent charges never use more units than authorised. A charge whose code the
patient's plan lists as needing an authorisation, with none usable, is recorded ``held``; the
claims issue refuses to submit held charges (:func:`is_held`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.authorizations import calc, errors
from revcycle.authorizations.models import Authorization, AuthorizationService, AuthorizationUsage
from revcycle.authorizations.repository import AuthorizationRepository
from revcycle.authorizations.schemas import (
    AuthorizationApprove,
    AuthorizationCreate,
    AuthorizationDecision,
)
from revcycle.errors import out_of_scope
from revcycle.insurance import coverages as coverages_service
from revcycle.insurance import service as insurance_service
from revcycle.insurance.repository import InsuranceRepository
from revcycle.kit.clock import today, utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.patients import service as patients_service


@dataclass(frozen=True)
class AuthorizationView:
    authorization: Authorization
    services: list[AuthorizationService]
    usages: list[AuthorizationUsage]

    def status_on(self, day: dt.date) -> str:
        a = self.authorization
        return calc.effective_status(a.status, a.valid_to, day)

    def warnings_on(self, day: dt.date) -> list[calc.Warning]:
        a = self.authorization
        return calc.warnings(
            a.status,
            a.valid_to,
            [(s.code, s.units_authorized, s.units_used) for s in self.services],
            day,
        )


def _view(session: Session, auth: Authorization, *, usages: bool = True) -> AuthorizationView:
    repo = AuthorizationRepository(session)
    services = repo.services_of([auth.id])[auth.id]
    return AuthorizationView(auth, services, list(repo.usages_of(auth.id)) if usages else [])


def access_authorization(
    session: Session,
    actor: Principal,
    auth_id: uuid.UUID,
    action: Action = Action.AUTHORIZATION_READ,
    *,
    for_update: bool = False,
) -> Authorization:
    actor.require(action)
    auth = AuthorizationRepository(session).get(auth_id, for_update=for_update)
    if auth is None:
        raise errors.AuthorizationNotFound("No such authorisation")
    if not actor.sees_patient(auth.practice_id, auth.patient_id):
        raise out_of_scope(
            errors.AuthorizationNotFound("No such authorisation"), "authorization", auth.id
        )
    return auth


def create_authorization(
    session: Session, actor: Principal, data: AuthorizationCreate
) -> AuthorizationView:
    patient = patients_service.access_patient(
        session, actor, data.patient_id, Action.AUTHORIZATION_WRITE
    )
    payer = insurance_service.access_payer(
        session, actor, data.payer_id, Action.AUTHORIZATION_WRITE
    )
    if payer.practice_id != patient.practice_id:
        raise out_of_scope(
            errors.AuthorizationNotFound("No such payer", code="payer.not_found"), "payer", payer.id
        )
    if data.coverage_id is not None:
        coverage = InsuranceRepository(session).get_coverage(data.coverage_id)
        if coverage is None or coverage.patient_id != patient.id:
            raise errors.InvalidAuthorization(
                "The coverage is not one of this patient's", code="coverage.not_found"
            )
        if coverage.payer_id != payer.id:
            raise errors.InvalidAuthorization("The coverage is with another payer")
    auth = Authorization(
        practice_id=patient.practice_id,
        patient_id=patient.id,
        payer_id=payer.id,
        coverage_id=data.coverage_id,
        number=data.number,
        status="requested",
        unit_kind=data.unit_kind.value,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        notes=data.notes,
        created_by=actor.user_id,
    )
    session.add(auth)
    session.flush()
    services = [
        AuthorizationService(
            authorization_id=auth.id, code=s.code, units_authorized=s.units, units_used=0
        )
        for s in data.services
    ]
    session.add_all(services)
    session.flush()
    audit.record(
        session,
        actor,
        "authorization:create",
        object_type="authorization",
        object_id=auth.id,
        practice_id=auth.practice_id,
        fields=data.model_fields_set,
        detail={"patient_id": str(patient.id)},
    )
    return AuthorizationView(auth, sorted(services, key=lambda s: s.code), [])


def _transition(
    session: Session,
    actor: Principal,
    auth_id: uuid.UUID,
    allowed_from: set[str],
    to: str,
    *,
    reason: str | None = None,
) -> Authorization:
    auth = access_authorization(
        session, actor, auth_id, Action.AUTHORIZATION_WRITE, for_update=True
    )
    now_status = calc.effective_status(auth.status, auth.valid_to, today())
    if now_status not in allowed_from:
        raise errors.IllegalTransition(
            f"An authorisation that is {now_status} cannot become {to}", status_now=now_status
        )
    auth.status = to
    auth.decision_reason = reason
    auth.decided_at = utcnow()
    auth.decided_by = actor.user_id
    auth.updated_at = utcnow()
    return auth


def approve(
    session: Session, actor: Principal, auth_id: uuid.UUID, data: AuthorizationApprove
) -> AuthorizationView:
    auth = _transition(session, actor, auth_id, {"requested"}, "approved")
    auth.number = data.number
    valid_from = data.valid_from or auth.valid_from
    valid_to = data.valid_to or auth.valid_to
    if valid_to < valid_from:
        raise errors.InvalidAuthorization("valid_to is before valid_from")
    auth.valid_from, auth.valid_to = valid_from, valid_to
    _audit_decision(session, actor, auth, "authorization:approve")
    return _view(session, auth)


def deny(
    session: Session, actor: Principal, auth_id: uuid.UUID, data: AuthorizationDecision
) -> AuthorizationView:
    auth = _transition(session, actor, auth_id, {"requested"}, "denied", reason=data.reason)
    _audit_decision(session, actor, auth, "authorization:deny")
    return _view(session, auth)


def cancel(
    session: Session, actor: Principal, auth_id: uuid.UUID, data: AuthorizationDecision
) -> AuthorizationView:
    auth = _transition(
        session, actor, auth_id, {"requested", "approved"}, "cancelled", reason=data.reason
    )
    _audit_decision(session, actor, auth, "authorization:cancel")
    return _view(session, auth)


def _audit_decision(session: Session, actor: Principal, auth: Authorization, action: str) -> None:
    audit.record(
        session,
        actor,
        action,
        object_type="authorization",
        object_id=auth.id,
        practice_id=auth.practice_id,
        fields=["status", "number", "valid_from", "valid_to", "decision_reason"],
    )


def get_authorization(session: Session, actor: Principal, auth_id: uuid.UUID) -> AuthorizationView:
    auth = access_authorization(session, actor, auth_id)
    audit.record_read(
        session,
        actor,
        "authorization:read",
        object_type="authorization",
        object_id=auth.id,
        practice_id=auth.practice_id,
    )
    return _view(session, auth)


def list_authorizations(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[AuthorizationView]:
    actor.require(Action.AUTHORIZATION_READ)
    limit = min(limit, MAX_LIMIT)
    rows = AuthorizationRepository(session).search(
        practice_ids=actor.practice_ids,
        practice_id=practice_id,
        patient_id=patient_id,
        statuses=None if status is None else [status],
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "authorization:list", ((a.practice_id, a.patient_id) for a in page.items)
    )
    services = AuthorizationRepository(session).services_of([a.id for a in page.items])
    return Page([AuthorizationView(a, services[a.id], []) for a in page.items], page.next_cursor)


@dataclass(frozen=True)
class AuthWarning:
    authorization: Authorization
    warning: calc.Warning


def list_warnings(
    session: Session, actor: Principal, *, practice_id: uuid.UUID | None, on: dt.date | None
) -> list[AuthWarning]:
    """Approved authorisations near exhaustion (<= 20% of units left) or expiry (<= 14 days),
    exhausted, or expired (approved, window over)."""
    actor.require(Action.AUTHORIZATION_READ)
    session.flush()
    day = on or today()
    repo = AuthorizationRepository(session)
    auths = list(
        repo.search(
            practice_ids=actor.practice_ids,
            practice_id=practice_id,
            patient_id=None,
            statuses=["approved"],
            after=None,
            limit=None,
        )
    )
    services = repo.services_of([a.id for a in auths])
    out = [
        AuthWarning(a, w)
        for a in auths
        for w in AuthorizationView(a, services[a.id], []).warnings_on(day)
    ]
    audit.record_list_read(
        session,
        actor,
        "authorization:warnings",
        ((w.authorization.practice_id, w.authorization.patient_id) for w in out),
    )
    return out


# consumption by charges ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeCheck:
    """``consumed`` (units taken from ``authorization_id``), ``held`` (``hold_reason``: missing,
    expired or exhausted) or ``not_required`` (no authorisation needed nor used)."""

    status: str
    authorization_id: uuid.UUID | None = None
    hold_reason: str | None = None
    usage_id: uuid.UUID | None = None


def _requires_auth(session: Session, patient_id: uuid.UUID, code: str, day: dt.date) -> bool:
    views = coverages_service.active_coverages(session, patient_id, day)
    plans = InsuranceRepository(session).plans_by_id([v.coverage.plan_id for v in views])
    return any(code in plans[v.coverage.plan_id].auth_required_codes for v in views)


def consume_for_charge(
    session: Session,
    practice_id: uuid.UUID,
    patient_id: uuid.UUID,
    code: str,
    service_date: dt.date,
    units: int,
    *,
    charge_ref: str,
) -> ChargeCheck:
    """Check one charge against the patient's authorisations and record the outcome (idempotent
    per ``charge_ref``). No access check: callers (invoice issuing, the claims issue) have done
    theirs. Row locks on the matching approved authorisations serialise concurrent charges."""
    repo = AuthorizationRepository(session)
    session.flush()
    locked = repo.candidates(patient_id, code, lock=True)
    existing = repo.usage_by_ref(charge_ref)
    if existing is not None:
        return ChargeCheck(
            existing.status, existing.authorization_id, existing.hold_reason, existing.id
        )
    by_key = {s.id: (s, a) for s, a in locked}
    chosen = calc.pick(
        [
            calc.Candidate(
                s.id, a.status, a.valid_from, a.valid_to, s.units_authorized, s.units_used
            )
            for s, a in locked
        ],
        service_date,
        units,
    )
    if chosen is not None:
        service, auth = by_key[chosen.service_key]  # type: ignore[index]
        service.units_used += units
        usage = _usage(practice_id, patient_id, code, service_date, units, charge_ref, "consumed")
        usage.authorization_id, usage.service_id = auth.id, service.id
        session.add(usage)
        session.flush()
        return ChargeCheck("consumed", auth.id, None, usage.id)
    if not _requires_auth(session, patient_id, code, service_date):
        return ChargeCheck("not_required")
    everything = repo.candidates(patient_id, code, lock=False)
    reason = calc.hold_reason(
        [
            calc.Candidate(
                s.id, a.status, a.valid_from, a.valid_to, s.units_authorized, s.units_used
            )
            for s, a in everything
        ],
        service_date,
    )
    usage = _usage(practice_id, patient_id, code, service_date, units, charge_ref, "held")
    usage.hold_reason = reason
    session.add(usage)
    session.flush()
    return ChargeCheck("held", None, reason, usage.id)


def _usage(
    practice_id: uuid.UUID,
    patient_id: uuid.UUID,
    code: str,
    day: dt.date,
    units: int,
    charge_ref: str,
    status: str,
) -> AuthorizationUsage:
    return AuthorizationUsage(
        practice_id=practice_id,
        patient_id=patient_id,
        charge_ref=charge_ref,
        code=code,
        service_date=day,
        units=units,
        status=status,
    )


def release_for_charge(session: Session, charge_ref: str) -> bool:
    """A charge was voided: give its units back (the usage row says ``released``). Returns
    whether anything was released."""
    repo = AuthorizationRepository(session)
    usage = repo.usage_by_ref(charge_ref, for_update=True)
    if usage is None or usage.status == "released":
        return False
    if usage.status == "consumed" and usage.service_id is not None:
        service = repo.get_service(usage.service_id, for_update=True)
        assert service is not None
        service.units_used -= usage.units
    usage.status = "released"
    usage.released_at = utcnow()
    return True


def is_held(session: Session, charge_ref: str) -> bool:
    """Whether a charge is held for a missing, expired or exhausted authorisation (the claims
    issue refuses to submit it)."""
    usage = AuthorizationRepository(session).usage_by_ref(charge_ref)
    return usage is not None and usage.status == "held"
