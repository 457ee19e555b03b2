"""Requests and answers of the scrubber routes (docs/claims-scrubber.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from revcycle.kit.schemas import ProcedureCode, ReadSchema, Schema, Text300


class FindingRead(BaseModel):
    code: str
    severity: Literal["error", "warning", "hold"]
    message: str
    field: str
    line: int | None


class ScrubRead(BaseModel):
    claim_id: uuid.UUID
    previous_status: str
    status: str
    errors: int
    warnings: int
    holds: int
    findings: list[FindingRead]


class EditPairCreate(Schema):
    column1_code: ProcedureCode
    column2_code: ProcedureCode
    # A 59/XE/XS/XP/XU modifier on either line lets both codes through.
    modifier_bypass: bool = False
    note: Text300 | None = None


class EditPairRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    column1_code: str
    column2_code: str
    modifier_bypass: bool
    note: str | None
    created_at: dt.datetime


class EditPairList(BaseModel):
    items: list[EditPairRead]


class UnitLimitCreate(Schema):
    code: ProcedureCode
    max_units: Annotated[int, Field(ge=1, le=9999)]
    # Default: every plan of the practice; a plan's own row wins over the practice's.
    plan_id: uuid.UUID | None = None
    note: Text300 | None = None


class UnitLimitRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    plan_id: uuid.UUID | None
    code: str
    max_units: int
    note: str | None
    created_at: dt.datetime


class UnitLimitList(BaseModel):
    items: list[UnitLimitRead]
