from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from revcycle.kit.schemas import (
    Icd10Code,
    Modifier,
    NonNegativeAmount,
    PositiveAmount,
    ProcedureCode,
    ReadSchema,
    Schema,
    Text300,
    Text500,
)
from revcycle.practices.schemas import PaymentTerms


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    WRITTEN_OFF = "written_off"


class CreditReason(StrEnum):
    BILLING_ERROR = "billing_error"
    COURTESY = "courtesy"
    PROMPT_PAY = "prompt_pay"
    SMALL_BALANCE = "small_balance"
    HARDSHIP = "hardship"
    DUPLICATE_CHARGE = "duplicate_charge"
    SERVICE_NOT_RENDERED = "service_not_rendered"
    OTHER = "other"


class WriteOffReason(StrEnum):
    BAD_DEBT = "bad_debt"
    COLLECTION_AGENCY = "collection_agency"
    BANKRUPTCY = "bankruptcy"
    DECEASED = "deceased"
    HARDSHIP = "hardship"
    SMALL_BALANCE = "small_balance"


Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)]


class InvoiceLineIn(Schema):
    service_code: ProcedureCode
    modifiers: Annotated[list[Modifier], Field(max_length=4)] = []
    description: Text300 | None = None
    units: Annotated[int, Field(ge=1, le=9999)] = 1
    # Omit to take the charge-master price effective on the date of service.
    unit_price: NonNegativeAmount | None = None
    discount_amount: NonNegativeAmount | None = None
    discount_percent: Percent | None = None
    diagnosis_codes: Annotated[list[Icd10Code], Field(max_length=4)] = []
    date_of_service: dt.date
    provider_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_discount(self) -> InvoiceLineIn:
        if self.discount_amount is not None and self.discount_percent is not None:
            raise ValueError("give discount_amount or discount_percent, not both")
        if len(set(self.diagnosis_codes)) != len(self.diagnosis_codes):
            raise ValueError("a diagnosis code is listed twice")
        return self


class _Terms(Schema):
    terms: PaymentTerms | None = None
    terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    due_date: dt.date | None = None  # for fixed_date terms

    @model_validator(mode="after")
    def _terms_consistent(self) -> _Terms:
        if self.terms is PaymentTerms.FIXED_DATE and self.due_date is None:
            raise ValueError("fixed_date terms need due_date")
        if self.terms is not PaymentTerms.FIXED_DATE and self.due_date is not None:
            raise ValueError("due_date is only given with fixed_date terms")
        if self.terms is not PaymentTerms.NET and self.terms_days is not None:
            raise ValueError("terms_days is only given with net terms")
        return self


class InvoiceCreate(_Terms):
    patient_id: uuid.UUID
    memo: Text500 | None = None
    lines: Annotated[list[InvoiceLineIn], Field(min_length=1, max_length=100)]
    # Issue straight away (assigns the number, posts to the ledger) instead of leaving a draft.
    issue: bool = False
    issue_date: dt.date | None = None

    @model_validator(mode="after")
    def _issue_date_needs_issue(self) -> InvoiceCreate:
        if self.issue_date is not None and not self.issue:
            raise ValueError("issue_date is only given together with issue: true")
        return self


class InvoiceUpdate(_Terms):
    memo: Text500 | None = None
    lines: Annotated[list[InvoiceLineIn], Field(min_length=1, max_length=100)] | None = None


class InvoiceIssue(Schema):
    issue_date: dt.date | None = None


class InvoiceVoid(Schema):
    reason: Text300


class CreditNoteCreate(Schema):
    amount: PositiveAmount
    reason_code: CreditReason
    memo: Text500 | None = None


class WriteOffCreate(Schema):
    reason_code: WriteOffReason
    memo: Text500 | None = None


class InvoiceLineRead(ReadSchema):
    id: uuid.UUID
    position: int
    service_code: str
    modifiers: list[str]
    description: str
    units: int
    unit_price: str
    gross: str
    discount: str
    amount: str
    diagnosis_codes: list[str]
    date_of_service: dt.date
    provider_id: uuid.UUID | None


class InvoiceRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    number: str | None
    status: InvoiceStatus
    overdue: bool
    currency: str
    terms: str
    terms_days: int | None
    issue_date: dt.date | None
    due_date: dt.date | None
    subtotal: str
    discount: str
    total: str
    paid: str
    adjusted: str
    written_off: str
    balance: str
    memo: str | None
    void_reason: str | None
    created_at: dt.datetime
    lines: list[InvoiceLineRead] | None = None


class InvoiceAdjustmentRead(ReadSchema):
    id: uuid.UUID
    invoice_id: uuid.UUID
    kind: str
    reason_code: str
    amount: str
    currency: str
    memo: str | None
    created_at: dt.datetime


class InvoicePaymentRead(ReadSchema):
    payment_id: uuid.UUID
    received_on: dt.date
    method: str
    reference: str | None
    amount_applied: str
    currency: str


class InvoiceHistory(ReadSchema):
    invoice_id: uuid.UUID
    payments: list[InvoicePaymentRead]
    adjustments: list[InvoiceAdjustmentRead]


class StatementLine(ReadSchema):
    date: dt.date
    kind: str
    description: str
    invoice_id: uuid.UUID | None
    invoice_number: str | None
    charges: str
    credits: str
    balance: str


class StatementRead(ReadSchema):
    patient_id: uuid.UUID
    account_number: str
    currency: str
    generated_at: dt.datetime
    date_from: dt.date | None
    date_to: dt.date | None
    opening_balance: str
    lines: list[StatementLine]
    total_charges: str
    total_credits: str
    amount_due: str  # receivable balance owed now
    credit_balance: str  # unapplied patient credit held by the practice
    closing_balance: str  # amount_due - credit_balance
    overdue_amount: str
