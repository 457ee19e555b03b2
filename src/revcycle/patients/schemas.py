from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import Field, field_validator

from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from revcycle.kit.schemas import (
    Email,
    Phone,
    PostalCode,
    ReadSchema,
    Schema,
    StateCode,
    Text20,
    Text100,
    Text200,
)


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "U"


class GuarantorRelationship(StrEnum):
    SELF = "self"
    SPOUSE = "spouse"
    PARENT = "parent"
    GUARDIAN = "guardian"
    OTHER = "other"


def _past_birth(value: dt.date) -> dt.date:
    if value > today() or value.year < 1900:
        raise ValueError("date_of_birth must be a real past date")
    return value


class PatientCreate(Schema):
    account_number: Text20 | None = None
    first_name: Text100
    last_name: Text100
    date_of_birth: dt.date
    sex: Sex = Sex.UNKNOWN
    address_line1: Text200 | None = None
    address_line2: Text200 | None = None
    city: Text100 | None = None
    state: StateCode | None = None
    postal_code: PostalCode | None = None
    phone: Phone | None = None
    email: Email | None = None
    guarantor_id: uuid.UUID | None = None
    guarantor_relationship: GuarantorRelationship = GuarantorRelationship.SELF

    _dob = field_validator("date_of_birth")(_past_birth)


class PatientUpdate(Schema):
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    date_of_birth: dt.date | None = None
    sex: Sex | None = None
    address_line1: Text200 | None = None
    address_line2: Text200 | None = None
    city: Text100 | None = None
    state: StateCode | None = None
    postal_code: PostalCode | None = None
    phone: Phone | None = None
    email: Email | None = None
    guarantor_id: uuid.UUID | None = None
    guarantor_relationship: GuarantorRelationship | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, value: dt.date | None) -> dt.date | None:
        return None if value is None else _past_birth(value)


class PatientSearch(Schema):
    """Find patients by exact (normalised: case, Unicode form and spacing ignored) name and date
    of birth. A POST body, so no PHI travels in URLs or access logs."""

    last_name: Text100
    first_name: Text100 | None = None
    date_of_birth: dt.date | None = None
    practice_id: uuid.UUID | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class PatientRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    account_number: str
    first_name: str
    last_name: str
    date_of_birth: dt.date
    sex: str
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    phone: str | None
    email: str | None
    guarantor_id: uuid.UUID | None
    guarantor_relationship: str
    created_at: dt.datetime
