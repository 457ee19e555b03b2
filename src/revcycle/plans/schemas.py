from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from revcycle.kit.schemas import PositiveAmount, ReadSchema, Schema, Text60, Text300, Text500
from revcycle.plans.calc import Frequency


class PlanCreate(Schema):
    patient_id: uuid.UUID
    invoice_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)
    frequency: Frequency
    first_due_date: dt.date
    installment_count: int | None = Field(default=None, ge=1, le=120)
    installment_amount: PositiveAmount | None = None
    memo: Text500 | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PlanCreate:
        if (self.installment_count is None) == (self.installment_amount is None):
            raise PydanticCustomError(
                "plan.count_or_amount", "give installment_count or installment_amount (one)"
            )
        if len(set(self.invoice_ids)) != len(self.invoice_ids):
            raise PydanticCustomError("plan.duplicate_invoice", "an invoice is listed twice")
        return self


class PlanAccept(Schema):
    payment_method_id: uuid.UUID | None = None  # autopay from this stored method


class PlanCancel(Schema):
    reason: Text300


class PlanChange(Schema):
    """Reschedule what is left (any of frequency / first_due_date / count / amount) and/or change
    autopay (a stored method, or ``autopay: false`` to stop it)."""

    reason: Text300
    frequency: Frequency | None = None
    first_due_date: dt.date | None = None
    installment_count: int | None = Field(default=None, ge=1, le=120)
    installment_amount: PositiveAmount | None = None
    payment_method_id: uuid.UUID | None = None
    autopay: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlanChange:
        if self.installment_count is not None and self.installment_amount is not None:
            raise PydanticCustomError(
                "plan.count_or_amount", "give installment_count or installment_amount, not both"
            )
        if self.autopay is False and self.payment_method_id is not None:
            raise PydanticCustomError(
                "plan.autopay_conflict", "autopay false with a payment method makes no sense"
            )
        return self

    @property
    def reschedules(self) -> bool:
        return any(
            v is not None
            for v in (
                self.frequency,
                self.first_due_date,
                self.installment_count,
                self.installment_amount,
            )
        )


class ManualMethod(StrEnum):
    CASH = "cash"
    CHECK = "check"
    CARD = "card"  # a card terminal outside revcycle
    BANK_TRANSFER = "bank_transfer"


class PlanPaymentCreate(Schema):
    """Money received for a plan at the desk (applied to its installments in order)."""

    amount: PositiveAmount
    method: ManualMethod
    reference: Text60 | None = None


class PayoffCreate(Schema):
    """Pay everything left now: at the desk (``method``), or from a stored card
    (``payment_method_id``)."""

    method: ManualMethod | None = None
    payment_method_id: uuid.UUID | None = None
    reference: Text60 | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PayoffCreate:
        if (self.method is None) == (self.payment_method_id is None):
            raise PydanticCustomError(
                "plan.payoff_method", "give method (at the desk) or payment_method_id (stored)"
            )
        return self


class InstallmentRead(ReadSchema):
    id: uuid.UUID
    version: int
    seq: int
    due_date: dt.date
    amount: str
    paid: str
    status: str
    next_attempt_on: dt.date | None
    attempts: int
    last_decline_code: str | None


class PlanInvoiceRead(ReadSchema):
    invoice_id: uuid.UUID
    balance_at_proposal: str
    in_plan: bool


class PlanEventRead(ReadSchema):
    kind: str
    at: dt.datetime
    actor_user_id: uuid.UUID | None
    actor_role: str
    reason: str | None
    detail: dict[str, Any]


class ChargeAttemptRead(ReadSchema):
    installment_id: uuid.UUID | None
    attempt: int
    purpose: str
    payment_id: uuid.UUID
    status: str
    decline_code: str | None


class PlanRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    status: str
    frequency: str
    first_due_date: dt.date
    installment_count: int
    total: str
    remaining: str
    currency: str
    memo: str | None
    payment_method_id: uuid.UUID | None
    missed_count: int
    version: int
    created_at: dt.datetime
    accepted_at: dt.datetime | None
    ended_at: dt.datetime | None
    invoices: list[PlanInvoiceRead]
    # The current schedule (the proposal's before acceptance); superseded rows are in history.
    schedule: list[InstallmentRead]
    history: list[PlanEventRead]
    charges: list[ChargeAttemptRead]


class NotificationRead(ReadSchema):
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: str
    template: str
    payload: dict[str, Any]
    status: str
    created_at: dt.datetime
