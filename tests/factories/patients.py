from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from revcycle.patients import service
from revcycle.patients.models import Patient
from revcycle.patients.schemas import PatientCreate
from revcycle.practices.models import Practice
from tests.factories.practices import SYSTEM


def make_patient(session: Session, practice: Practice, **overrides: object) -> Patient:
    values: dict[str, object] = {
        "first_name": "Jordan",
        "last_name": "Casey",
        "date_of_birth": dt.date(1980, 5, 17),
        "sex": "F",
        "email": "jordan@example.org",
    }
    values.update(overrides)
    return service.create_patient(
        session, SYSTEM, practice.id, PatientCreate.model_validate(values)
    )
