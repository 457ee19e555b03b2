from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from revcycle.kit.schemas import ProcedureCode, Schema, Text300, Text500

AuthNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,50}$")]


class UnitKind(StrEnum):
    UNITS = "units"
    VISITS = "visits"


class AuthorizationServiceIn(Schema):
    code: ProcedureCode
    units: Annotated[int, Field(ge=1, le=10_000)]


class AuthorizationCreate(Schema):
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    coverage_id: uuid.UUID | None = None
    number: AuthNumber | None = None
    unit_kind: UnitKind = UnitKind.UNITS
    valid_from: dt.date
    valid_to: dt.date
    services: Annotated[list[AuthorizationServiceIn], Field(min_length=1, max_length=20)]
    notes: Text500 | None = None

    @model_validator(mode="after")
    def _check(self) -> AuthorizationCreate:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        codes = [s.code for s in self.services]
        if len(set(codes)) != len(codes):
            raise ValueError("a code is listed twice")
        return self


class AuthorizationApprove(Schema):
    number: AuthNumber
    # The window the payer approved, when it differs from the one requested.
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


class AuthorizationDecision(Schema):
    reason: Text300


class ServiceRead(BaseModel):
    code: str
    units_authorized: int
    units_used: int
    units_remaining: int


class WarningRead(BaseModel):
    kind: str
    message: str


class UsageRead(BaseModel):
    id: uuid.UUID
    charge_ref: str
    code: str
    service_date: dt.date
    units: int
    status: str
    created_at: dt.datetime


class AuthorizationRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    coverage_id: uuid.UUID | None
    number: str | None
    status: str  # as of today (an approved authorisation past its window reads "expired")
    unit_kind: str
    valid_from: dt.date
    valid_to: dt.date
    notes: str | None
    decision_reason: str | None
    decided_at: dt.datetime | None
    services: list[ServiceRead]
    warnings: list[WarningRead]
    usages: list[UsageRead]
    created_at: dt.datetime


class AuthorizationWarningRead(BaseModel):
    authorization_id: uuid.UUID
    patient_id: uuid.UUID
    number: str | None
    kind: str
    message: str
