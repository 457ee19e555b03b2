"""The FHIR charge intake (thin: parse, call, render). The import is idempotent by each
charge's identifier, so an Idempotency-Key is optional (a retry with one replays the answer)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.charges import fhir, service
from revcycle.charges.schemas import (
    ChargeImportRead,
    ClaimErrorRead,
    FhirChargesIn,
    ImportedChargeRead,
    ImportedInvoiceRead,
)
from revcycle.kit.render import amount

router = APIRouter(tags=["charges"])


def _read(result: service.ImportResult) -> ChargeImportRead:
    return ChargeImportRead(
        invoices=[
            ImportedInvoiceRead(
                invoice_id=o.invoice.id,
                patient_id=o.invoice.patient_id,
                encounter=o.encounter,
                status=o.invoice.status,
                number=o.invoice.display_number,
                total=amount(o.invoice.total_minor, o.invoice.currency),
                currency=o.invoice.currency,
                charges=o.charges,
                claim_id=o.claim_id,
                claim_error=(
                    ClaimErrorRead(code=o.claim_error[0], message=o.claim_error[1])
                    if o.claim_error
                    else None
                ),
            )
            for o in result.invoices
        ],
        charges=[
            ImportedChargeRead(
                system=c.source_system,
                id=c.source_id,
                invoice_id=c.invoice_id,
                line=c.line_position,
                outcome="created" if c.created else "already_imported",
            )
            for c in result.charges
        ],
    )


@router.post("/fhir/ChargeItem", response_model=ChargeImportRead)
def import_charge_items(
    payload: FhirChargesIn,
    ctx: CtxDep,
    practice_id: uuid.UUID,
    issue: bool = False,
    claim: bool = False,
) -> Response:
    """Import an R4 ChargeItem or a Bundle of them as invoice lines: one invoice per patient and
    encounter (``context``); ``issue`` issues the invoices, ``claim`` also builds each one's draft
    claim. Charges imported before are answered with the line they became."""
    body: dict[str, Any] = payload.model_dump(mode="json")

    def work(s: Session, p: Principal) -> BaseModel:
        service.check_can_import(p, practice_id, issue=issue, claim=claim)
        items = fhir.parse(body)
        return _read(service.import_charges(s, p, practice_id, items, issue=issue, claim=claim))

    return ctx.write(work)
