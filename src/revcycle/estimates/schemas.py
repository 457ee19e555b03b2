from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from revcycle.insurance.schemas import Category, Percent
from revcycle.kit.schemas import Modifier, ProcedureCode, Schema


class EstimateLineIn(Schema):
    code: ProcedureCode
    modifier: Modifier | None = None
    units: Annotated[int, Field(ge=1, le=999)] = 1
    # The copay category; default from the code (estimates.calc.category_of).
    category: Category | None = None


class EstimateCreate(Schema):
    patient_id: uuid.UUID
    service_date: dt.date
    lines: Annotated[list[EstimateLineIn], Field(min_length=1, max_length=50)]
    # Default: the patient's primary coverage on the service date; none -> a good-faith estimate.
    coverage_id: uuid.UUID | None = None
    self_pay: bool = False


class EstimateSettingsUpdate(Schema):
    self_pay_discount_percent: Percent
    valid_days: Annotated[int, Field(ge=1, le=365)] = 30


class EstimateSettingsRead(BaseModel):
    practice_id: uuid.UUID
    self_pay_discount_percent: str
    valid_days: int


class EstimateLineRead(BaseModel):
    code: str
    modifier: str | None
    units: int
    category: str
    allowed: str
    copay: str
    deductible: str
    coinsurance: str
    insurance: str
    patient: str
    reasoning: list[str]


class EstimateRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    coverage_id: uuid.UUID | None
    kind: str  # insurance | good_faith
    service_date: dt.date
    currency: str
    allowed: str
    insurance: str
    patient: str
    expires_on: dt.date
    lines: list[EstimateLineRead]
    created_at: dt.datetime
