"""Appointments as the EHR sends them (a minimal copy: docs/eligibility.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from revcycle.kit.schemas import Schema


def _iso_text(value: object) -> object:
    if not isinstance(value, str):
        raise PydanticCustomError("datetime.not_a_string", "an ISO 8601 date-time string")
    return value


StartsAt = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
ExternalRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


class AppointmentCreate(Schema):
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: StartsAt
    coverage_id: uuid.UUID | None = None
    external_ref: ExternalRef | None = None  # the EHR's id of the appointment
    status: Literal["scheduled", "cancelled"] = "scheduled"


class AppointmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    coverage_id: uuid.UUID | None
    starts_at: dt.datetime
    status: str
    external_ref: str | None
    created_at: dt.datetime
