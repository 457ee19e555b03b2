"""Request and response shapes of eligibility checks (amounts as decimal strings)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from revcycle.kit.schemas import Schema

ServiceType = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,2}$")]


class EligibilityCheckCreate(Schema):
    service_date: dt.date
    # X12 service type codes (EQ01); 30 = health benefit plan coverage.
    service_types: list[ServiceType] = Field(
        default_factory=lambda: ["30"], min_length=1, max_length=10
    )


class BenefitsRead(BaseModel):
    """In-network, individual facts of the 271 (docs/eligibility.md, "Facts")."""

    currency: str
    plan_name: str | None
    group_number: str | None
    plan_begin: dt.date | None
    plan_end: dt.date | None
    deductible: str | None
    deductible_remaining: str | None
    family_deductible: str | None
    family_deductible_remaining: str | None
    oop_max: str | None
    oop_remaining: str | None
    family_oop_max: str | None
    family_oop_remaining: str | None
    coinsurance_percent: str | None
    copays: dict[str, str]  # X12 service type -> amount
    auth_required_codes: list[str]


class AaaRead(BaseModel):
    loop: str
    reason_code: str
    reason: str
    follow_up_code: str
    follow_up: str


class CheckErrorRead(BaseModel):
    code: str
    segment: str | None
    position: int | None
    message: str | None  # staff only: it may quote the 271


class RawRead(BaseModel):
    x270: str
    x271: str | None


class EligibilityCheckRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    coverage_id: uuid.UUID
    service_date: dt.date
    service_types: list[str]
    status: str
    interchange_control_number: int
    trace_number: str
    clearinghouse: str
    requested_by: uuid.UUID | None
    requested_by_name: str
    requested_at: dt.datetime
    completed_at: dt.datetime | None
    aaa: list[AaaRead]
    benefits: BenefitsRead | None
    error: CheckErrorRead | None
    raw: RawRead | None = None


class CoverageEligibilityRead(BaseModel):
    coverage_id: uuid.UUID
    latest_check_id: uuid.UUID | None
    status: str | None
    checked_at: dt.datetime | None
    stale: bool


class FhirEligibilityRequestIn(BaseModel):
    """An R4 CoverageEligibilityRequest: the envelope is checked here, the rest by the R4B model
    (eligibility.fhir.parse_request)."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["CoverageEligibilityRequest"]  # noqa: N815 - FHIR's name
    status: Literal["active"]
