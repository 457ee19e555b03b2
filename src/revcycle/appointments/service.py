"""Appointments: created by staff (or an EHR integration acting as staff), listed by day.

Staff only: the permission matrix has no appointment action, so both use ``patient:write``
(the front-desk permission); patients see their visits elsewhere (their statements)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from revcycle.appointments import errors
from revcycle.appointments.models import CANCELLED, SCHEDULED, Appointment
from revcycle.appointments.repository import AppointmentRepository
from revcycle.appointments.schemas import AppointmentCreate
from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.insurance.models import Coverage
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.patients import service as patients_service
from revcycle.patients.errors import PatientNotFound
from revcycle.practices import service as practices_service
from revcycle.practices.models import Provider


def create_appointment(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: AppointmentCreate
) -> Appointment:
    actor.require(Action.PATIENT_WRITE)
    practice = practices_service.get_practice(session, actor, practice_id)
    if data.status not in (SCHEDULED, CANCELLED):
        raise errors.InvalidAppointment("status is scheduled or cancelled")
    # A patient the caller cannot see, or of another practice: 404, as for a missing one.
    patient = patients_service.access_patient(session, actor, data.patient_id, Action.PATIENT_WRITE)
    if patient.practice_id != practice.id:
        raise out_of_scope(PatientNotFound("No such patient"), "patient", patient.id)
    provider = session.get(Provider, data.provider_id)
    if provider is None or provider.practice_id != practice.id:
        raise errors.InvalidAppointment("The provider is not one of this practice's")
    if data.coverage_id is not None:
        cov = session.get(Coverage, data.coverage_id)
        if cov is None or cov.patient_id != patient.id:
            raise errors.InvalidAppointment("The coverage is not this patient's")
    repo = AppointmentRepository(session)
    if data.external_ref is not None and repo.by_external_ref(practice.id, data.external_ref):
        raise errors.DuplicateAppointment("An appointment with this external_ref exists")
    appt = Appointment(
        practice_id=practice.id,
        patient_id=patient.id,
        provider_id=provider.id,
        coverage_id=data.coverage_id,
        starts_at=data.starts_at.astimezone(dt.UTC),
        status=data.status,
        external_ref=data.external_ref,
        created_by=actor.user_id,
    )
    session.add(appt)
    session.flush()
    audit.record(
        session,
        actor,
        "appointment:create",
        object_type="appointment",
        object_id=appt.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
        detail={"patient_id": str(patient.id)},
    )
    return appt


def list_appointments(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    *,
    day: dt.date,
    cursor: str | None,
    limit: int,
) -> Page[Appointment]:
    """A practice's appointments starting on ``day`` (UTC)."""
    actor.require(Action.PATIENT_WRITE)
    practice = practices_service.get_practice(session, actor, practice_id)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    limit = min(limit, MAX_LIMIT)
    rows = AppointmentRepository(session).in_window(
        practice.id,
        start,
        start + dt.timedelta(days=1),
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "appointment:list", ((a.practice_id, a.patient_id) for a in page.items)
    )
    return page
