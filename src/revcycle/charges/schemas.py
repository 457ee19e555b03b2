"""Request and response shapes of the charge import (docs/charges.md)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict


class FhirChargesIn(BaseModel):
    """An R4 ChargeItem, or a Bundle of them: the envelope is checked here, each item by the
    R4B model and our rules (charges.fhir.parse)."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["ChargeItem", "Bundle"]  # noqa: N815 - FHIR's name


class ClaimErrorRead(BaseModel):
    code: str
    message: str


class ImportedInvoiceRead(BaseModel):
    invoice_id: uuid.UUID
    patient_id: uuid.UUID
    encounter: str | None
    status: str
    number: str | None
    total: str
    currency: str
    charges: int
    claim_id: uuid.UUID | None
    claim_error: ClaimErrorRead | None


class ImportedChargeRead(BaseModel):
    system: str
    id: str
    invoice_id: uuid.UUID
    line: int
    outcome: Literal["created", "already_imported"]


class ChargeImportRead(BaseModel):
    invoices: list[ImportedInvoiceRead]
    charges: list[ImportedChargeRead]
