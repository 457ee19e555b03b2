"""Request and response schemas for payers, plans, fee schedules and coverages."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from revcycle.estimates.calc import CATEGORIES, CostShareOrder
from revcycle.kit.schemas import (
    Modifier,
    NonNegativeAmount,
    PostalCode,
    ProcedureCode,
    Schema,
    StateCode,
    Text100,
    Text200,
    Text300,
)


def _percent(value: Any) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "percent.invalid", 'a percentage as a decimal string such as "20" or "12.5"'
        )
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise PydanticCustomError(
            "percent.invalid", 'a percentage as a decimal string such as "20" or "12.5"'
        ) from None
    if not dec.is_finite() or not Decimal(0) <= dec <= Decimal(100):
        raise PydanticCustomError("percent.out_of_range", "a percentage from 0 to 100")
    if dec != dec.quantize(Decimal("0.01")):
        raise PydanticCustomError("percent.too_many_decimals", "at most two decimal places")
    return dec


# A percentage 0..100 with at most two decimals (stored as basis points).
Percent = Annotated[Decimal, BeforeValidator(_percent)]
EdiPayerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{2,20}$")]
MemberId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,30}$")]
GroupNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,30}$")]
Days = Annotated[int, Field(ge=1, le=3650)]


class Category(StrEnum):
    """Service categories copays are set by (estimates.calc.CATEGORIES)."""

    OFFICE_VISIT = "office_visit"
    SPECIALIST = "specialist"
    PREVENTIVE = "preventive"
    LAB = "lab"
    IMAGING = "imaging"
    PROCEDURE = "procedure"
    OTHER = "other"


assert tuple(c.value for c in Category) == CATEGORIES


def percent_of(bp: int) -> str:
    return str((Decimal(bp) / 100).normalize().quantize(Decimal("0.01")))


def bp_of(percent: Decimal) -> int:
    return int(percent * 100)


class Address(Schema):
    line1: Text200
    line2: Text200 | None = None
    city: Text100
    state: StateCode
    postal_code: PostalCode


class PayerCreate(Schema):
    practice_id: uuid.UUID
    name: Text200
    edi_payer_id: EdiPayerId
    claims_address: Address | None = None
    eligibility_address: Address | None = None
    timely_filing_days: Days = 365
    appeal_deadline_days: Days = 180
    secondary_crossover: bool = False


class PayerUpdate(Schema):
    name: Text200 | None = None
    claims_address: Address | None = None
    eligibility_address: Address | None = None
    timely_filing_days: Days | None = None
    appeal_deadline_days: Days | None = None
    secondary_crossover: bool | None = None
    active: bool | None = None


class AddressRead(BaseModel):
    line1: str
    line2: str | None
    city: str
    state: str
    postal_code: str


class PayerRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    name: str
    edi_payer_id: str
    claims_address: AddressRead | None
    eligibility_address: AddressRead | None
    timely_filing_days: int
    appeal_deadline_days: int
    secondary_crossover: bool
    active: bool
    created_at: dt.datetime


class ProductType(StrEnum):
    PPO = "ppo"
    HMO = "hmo"
    EPO = "epo"
    POS = "pos"
    HDHP = "hdhp"
    MEDICARE = "medicare"
    MEDICAID = "medicaid"
    OTHER = "other"


AuthCodes = Annotated[list[ProcedureCode], Field(max_length=200)]


class PlanCreate(Schema):
    name: Text200
    product_type: ProductType
    network: Text100 | None = None
    in_network: bool = True
    deductible: NonNegativeAmount = Decimal(0)
    family_deductible: NonNegativeAmount | None = None
    oop_max: NonNegativeAmount | None = None
    family_oop_max: NonNegativeAmount | None = None
    coinsurance_percent: Percent = Decimal(20)
    copays: dict[Category, NonNegativeAmount] = {}
    cost_share_order: CostShareOrder = CostShareOrder.COPAY_THEN_DEDUCTIBLE
    benefit_year_start_month: Annotated[int, Field(ge=1, le=12)] = 1
    auth_required_codes: AuthCodes = []


class PlanUpdate(Schema):
    name: Text200 | None = None
    network: Text100 | None = None
    in_network: bool | None = None
    deductible: NonNegativeAmount | None = None
    family_deductible: NonNegativeAmount | None = None
    oop_max: NonNegativeAmount | None = None
    family_oop_max: NonNegativeAmount | None = None
    coinsurance_percent: Percent | None = None
    copays: dict[Category, NonNegativeAmount] | None = None
    cost_share_order: CostShareOrder | None = None
    benefit_year_start_month: Annotated[int, Field(ge=1, le=12)] | None = None
    auth_required_codes: AuthCodes | None = None
    active: bool | None = None


class PlanRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    payer_id: uuid.UUID
    name: str
    product_type: str
    network: str | None
    in_network: bool
    currency: str
    deductible: str
    family_deductible: str | None
    oop_max: str | None
    family_oop_max: str | None
    coinsurance_percent: str
    copays: dict[str, str]
    cost_share_order: str
    benefit_year_start_month: int
    auth_required_codes: list[str]
    active: bool
    created_at: dt.datetime


class FeeScheduleRowCreate(Schema):
    code: ProcedureCode
    modifier: Modifier | None = None
    allowed: NonNegativeAmount
    effective_from: dt.date
    effective_to: dt.date | None = None

    @model_validator(mode="after")
    def _window(self) -> FeeScheduleRowCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class FeeScheduleCreate(Schema):
    rows: Annotated[list[FeeScheduleRowCreate], Field(min_length=1, max_length=500)]
    # A new contract year: stored open-ended rates for the same code and modifier that started
    # before a new row are ended the day before it starts (instead of refusing the overlap).
    supersede_open_rates: bool = False


class FeeScheduleRowRead(BaseModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    code: str
    modifier: str | None
    allowed: str
    currency: str
    effective_from: dt.date
    effective_to: dt.date | None


class FeeScheduleRows(BaseModel):
    items: list[FeeScheduleRowRead]


class AllowedLookup(BaseModel):
    """The row a lookup picked: ``matched_modifier`` is false when a modifier was asked for and
    the no-modifier row answered (the fallback)."""

    row: FeeScheduleRowRead
    matched_modifier: bool


class Relationship(StrEnum):
    """X12 individual relationship codes (INS02 / PAT01): the patient's relation to the
    subscriber."""

    SELF = "18"
    SPOUSE = "01"
    CHILD = "19"
    EMPLOYEE = "20"
    UNKNOWN = "21"
    ORGAN_DONOR = "39"
    CADAVER_DONOR = "40"
    LIFE_PARTNER = "53"
    OTHER = "G8"


class Subscriber(Schema):
    first_name: Text100
    last_name: Text100
    date_of_birth: dt.date
    # The subscriber is also a patient of the practice (a parent holding a child's coverage).
    patient_id: uuid.UUID | None = None


class CoverageCreate(Schema):
    plan_id: uuid.UUID
    member_id: MemberId
    group_number: GroupNumber | None = None
    relationship: Relationship = Relationship.SELF
    subscriber: Subscriber | None = None
    effective_from: dt.date
    effective_to: dt.date | None = None
    priority: Annotated[int, Field(ge=1, le=3)] = 1
    card_image_ref: Text200 | None = None

    @model_validator(mode="after")
    def _check(self) -> CoverageCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class CoverageTerminate(Schema):
    effective_to: dt.date
    reason: Text300


class CoverageOrder(Schema):
    """From ``effective_from`` on, the listed coverages are primary, secondary, tertiary."""

    effective_from: dt.date
    coverage_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=3)]
    reason: Text300 | None = None


class AccumulatorCreate(Schema):
    as_of: dt.date
    deductible_met: NonNegativeAmount
    oop_met: NonNegativeAmount
    family_deductible_met: NonNegativeAmount | None = None
    family_oop_met: NonNegativeAmount | None = None


class SubscriberRead(BaseModel):
    first_name: str
    last_name: str
    date_of_birth: dt.date
    patient_id: uuid.UUID | None


class PriorityRead(BaseModel):
    priority: int
    effective_from: dt.date
    reason: str | None
    created_at: dt.datetime


class CoverageRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    payer_id: uuid.UUID
    plan_id: uuid.UUID
    member_id: str
    group_number: str | None
    relationship: str
    subscriber: SubscriberRead | None
    effective_from: dt.date
    effective_to: dt.date | None
    terminated_at: dt.datetime | None
    termination_reason: str | None
    card_image_ref: str | None
    # The priority today (None when the coverage is not in force today) and its dated history.
    priority: int | None
    priorities: list[PriorityRead]
    created_at: dt.datetime


class AccumulatorRead(BaseModel):
    id: uuid.UUID
    coverage_id: uuid.UUID
    benefit_year_start: dt.date
    as_of: dt.date
    currency: str
    deductible_met: str
    oop_met: str
    family_deductible_met: str | None
    family_oop_met: str | None
    source: str
    created_at: dt.datetime
