from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from revcycle.kit.schemas import CurrencyCode, PositiveAmount, ReadSchema, Schema, Text60


class PaymentMethod(StrEnum):
    CASH = "cash"
    CHECK = "check"
    CARD = "card"  # taken on a terminal outside revcycle; the gateway arrives with issue 4
    BANK_TRANSFER = "bank_transfer"


class AllocationIn(Schema):
    invoice_id: uuid.UUID
    amount: PositiveAmount


class PaymentCreate(Schema):
    patient_id: uuid.UUID
    amount: PositiveAmount
    currency: CurrencyCode | None = None
    method: PaymentMethod
    received_on: dt.date | None = None
    reference: Text60 | None = None
    # Omit to apply oldest-due first; whatever is left becomes patient credit.
    allocations: Annotated[list[AllocationIn], Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _distinct(self) -> PaymentCreate:
        if self.allocations is not None:
            ids = [a.invoice_id for a in self.allocations]
            if len(set(ids)) != len(ids):
                raise ValueError("an invoice appears twice in allocations")
        return self


class AllocationRead(ReadSchema):
    invoice_id: uuid.UUID
    amount: str


class PaymentRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    method: str
    amount: str
    currency: str
    received_on: dt.date
    reference: str | None
    unapplied: str
    allocations: list[AllocationRead]
    created_at: dt.datetime
