from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from revcycle.kit.schemas import (
    CurrencyCode,
    Modifier,
    Npi,
    Phone,
    PositiveAmount,
    PostalCode,
    ProcedureCode,
    ReadSchema,
    Schema,
    StateCode,
    Taxonomy,
    Text20,
    Text100,
    Text200,
    Text300,
    Tin,
)


class PaymentTerms(StrEnum):
    DUE_ON_RECEIPT = "due_on_receipt"
    NET = "net"
    FIXED_DATE = "fixed_date"


class PracticeCreate(Schema):
    name: Text200
    npi: Npi
    tin: Tin
    taxonomy: Taxonomy
    address_line1: Text200
    address_line2: Text200 | None = None
    city: Text100
    state: StateCode
    postal_code: PostalCode
    phone: Phone | None = None
    currency: CurrencyCode = "USD"
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,10}$")] = "INV"
    default_terms: PaymentTerms = PaymentTerms.NET
    default_terms_days: Annotated[int, Field(ge=0, le=365)] | None = 30
    allow_overpayment: bool = True

    @model_validator(mode="after")
    def _terms(self) -> PracticeCreate:
        if self.default_terms is PaymentTerms.FIXED_DATE:
            raise ValueError("a practice's default terms cannot be a fixed date")
        if self.default_terms is PaymentTerms.NET and self.default_terms_days is None:
            raise ValueError("net terms need default_terms_days")
        return self


class PracticeUpdate(Schema):
    name: Text200 | None = None
    taxonomy: Taxonomy | None = None
    address_line1: Text200 | None = None
    address_line2: Text200 | None = None
    city: Text100 | None = None
    state: StateCode | None = None
    postal_code: PostalCode | None = None
    phone: Phone | None = None
    default_terms: PaymentTerms | None = None
    default_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    allow_overpayment: bool | None = None


class PracticeRead(ReadSchema):
    id: uuid.UUID
    name: str
    npi: str
    tin: str
    taxonomy: str
    address_line1: str
    address_line2: str | None
    city: str
    state: str
    postal_code: str
    phone: str | None
    currency: str
    invoice_prefix: str
    default_terms: str
    default_terms_days: int | None
    allow_overpayment: bool
    created_at: dt.datetime


class ProviderCreate(Schema):
    npi: Npi
    first_name: Text100
    last_name: Text100
    credential: Text20 | None = None
    taxonomy: Taxonomy | None = None


class ProviderUpdate(Schema):
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    credential: Text20 | None = None
    taxonomy: Taxonomy | None = None
    active: bool | None = None


class ProviderRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    npi: str
    first_name: str
    last_name: str
    credential: str | None
    taxonomy: str | None
    active: bool


class ServiceItemCreate(Schema):
    code: ProcedureCode
    modifiers: Annotated[list[Modifier], Field(max_length=4)] = []
    description: Text300
    price: PositiveAmount
    effective_from: dt.date
    effective_to: dt.date | None = None

    @model_validator(mode="after")
    def _window(self) -> ServiceItemCreate:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class ServiceItemUpdate(Schema):
    description: Text300 | None = None
    effective_to: dt.date | None = None


class ServiceItemRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    code: str
    modifiers: list[str]
    description: str
    price: str
    currency: str
    effective_from: dt.date
    effective_to: dt.date | None
