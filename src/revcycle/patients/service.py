"""Use-cases for patients."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.crypto import blind_index as bidx
from revcycle.crypto import keyring as phi_keyring
from revcycle.errors import out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.patients import errors
from revcycle.patients.models import DOB_INDEX, LAST_NAME_INDEX, NAME_DOB_INDEX, Patient
from revcycle.patients.repository import PatientRepository
from revcycle.patients.schemas import PatientCreate, PatientSearch, PatientUpdate
from revcycle.practices import service as practices_service


def access_patient(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    action: Action = Action.PATIENT_READ,
    *,
    for_update: bool = False,
) -> Patient:
    """The patient ``actor`` may see; with ``for_update`` read under its row lock."""
    actor.require(action)
    repo = PatientRepository(session)
    patient = repo.get_for_update(patient_id) if for_update else repo.get(patient_id)
    if patient is None:
        raise errors.PatientNotFound("No such patient")
    if not actor.sees_patient(patient.practice_id, patient.id):
        raise out_of_scope(errors.PatientNotFound("No such patient"), "patient", patient.id)
    return patient


def _check_guarantor(
    session: Session,
    practice_id: uuid.UUID,
    patient_id: uuid.UUID | None,
    guarantor_id: uuid.UUID | None,
) -> None:
    if guarantor_id is None:
        return
    guarantor = PatientRepository(session).get(guarantor_id)
    if guarantor is None or guarantor.practice_id != practice_id:
        raise errors.InvalidGuarantor("The guarantor must be a patient of the same practice")
    if guarantor.id == patient_id:
        raise errors.InvalidGuarantor("A patient is their own guarantor by default; leave it empty")
    if guarantor.guarantor_id is not None:
        raise errors.InvalidGuarantor("The guarantor must be responsible for themself")


def create_patient(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: PatientCreate
) -> Patient:
    actor.require(Action.PATIENT_WRITE)
    practice = practices_service.get_practice(session, actor, practice_id)
    repo = PatientRepository(session)
    values = data.model_dump()
    number: str | None = data.account_number
    if number is None:
        number = f"P{repo.count_in_practice(practice.id) + 1:07d}"
        while repo.by_account_number(practice.id, number) is not None:
            number = "P" + uuid.uuid4().hex[:10].upper()
    elif repo.by_account_number(practice.id, number) is not None:
        raise errors.AccountNumberTaken("Another patient already has this account number")
    values["account_number"] = number
    _check_guarantor(session, practice.id, None, data.guarantor_id)
    if data.guarantor_id is None:
        values["guarantor_relationship"] = "self"
    patient = Patient(practice_id=practice.id, **values)
    session.add(patient)
    session.flush()
    audit.record(
        session,
        actor,
        "patient:create",
        object_type="patient",
        object_id=patient.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
    )
    return patient


def get_patient(session: Session, actor: Principal, patient_id: uuid.UUID) -> Patient:
    patient = access_patient(session, actor, patient_id)
    audit.record_read(
        session,
        actor,
        "patient:read",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
    )
    return patient


def update_patient(
    session: Session, actor: Principal, patient_id: uuid.UUID, data: PatientUpdate
) -> Patient:
    patient = access_patient(session, actor, patient_id, Action.PATIENT_WRITE)
    changes = data.model_dump(exclude_unset=True)
    if "guarantor_id" in changes:
        _check_guarantor(session, patient.practice_id, patient.id, changes["guarantor_id"])
        if changes["guarantor_id"] is not None and PatientRepository(session).dependant_ids(
            patient.id
        ):
            raise errors.InvalidGuarantor("This patient is a guarantor for others")
        if changes["guarantor_id"] is None:
            changes["guarantor_relationship"] = "self"
    for field, value in changes.items():
        if value is None and field in {
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "guarantor_relationship",
        }:
            continue
        setattr(patient, field, value)
    patient.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "patient:update",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
        fields=changes,
    )
    return patient


def list_patients(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[Patient]:
    actor.require(Action.PATIENT_READ)
    limit = min(limit, MAX_LIMIT)
    rows = PatientRepository(session).search(
        practice_ids=None if actor.is_patient else actor.practice_ids,
        patient_ids=actor.patient_ids if actor.is_patient else None,
        practice_id=practice_id,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "patient:list", ((p.practice_id, p.id) for p in page.items)
    )
    return page


def search_patients(session: Session, actor: Principal, query: PatientSearch) -> Page[Patient]:
    """Exact, normalised lookup through the blind indexes, with the list's scoping and cursor.

    The index narrows the rows in SQL; each candidate is then compared on its decrypted,
    normalised values, so a digest collision or a first name given without a date of birth
    (no index of its own) never yields a wrong match."""
    actor.require(Action.PATIENT_READ)
    keys = phi_keyring.installed()
    last, first, dob = query.last_name, query.first_name, query.date_of_birth
    blind: dict[str, list[str]]
    if first is not None and dob is not None:
        blind = {NAME_DOB_INDEX.column: bidx.candidates(keys, NAME_DOB_INDEX, last, first, dob)}
    else:
        blind = {LAST_NAME_INDEX.column: bidx.candidates(keys, LAST_NAME_INDEX, last)}
        if dob is not None:
            blind[DOB_INDEX.column] = bidx.candidates(keys, DOB_INDEX, dob)

    def matches(p: Patient) -> bool:
        return (
            bidx.normalise(p.last_name) == bidx.normalise(last)
            and (first is None or bidx.normalise(p.first_name) == bidx.normalise(first))
            and (dob is None or p.date_of_birth == dob)
        )

    repo = PatientRepository(session)
    found: list[Patient] = []
    after = parse_cursor_uuid(after_id(query.cursor))
    chunk = query.limit + 1
    while len(found) <= query.limit:
        rows = repo.search(
            practice_ids=None if actor.is_patient else actor.practice_ids,
            patient_ids=actor.patient_ids if actor.is_patient else None,
            practice_id=query.practice_id,
            after=after,
            limit=chunk,
            blind=blind,
        )
        found.extend(p for p in rows if matches(p))
        if len(rows) < chunk:
            break
        after = rows[-1].id
    page = page_by_id(found, query.limit)
    audit.record_list_read(
        session, actor, "patient:search", ((p.practice_id, p.id) for p in page.items)
    )
    return page
