"""Demo: an EHR sends yesterday's visit of an insured patient as FHIR ChargeItems; the import
makes the invoice, issues it and builds its draft claim (docs/charges.md). Sent twice, as an EHR
retrying would: the second import creates nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.charges import fhir, service
from revcycle.insurance.models import Coverage
from revcycle.kit.clock import today
from revcycle.practices.models import Provider


@dataclass(frozen=True)
class ChargesDemo:
    charges: int = 0
    invoices: int = 0
    issued_minor: int = 0
    claims: int = 0
    resent_created: int = 0  # charges the EHR's resend created (must be 0)


def bundle(patient_id: uuid.UUID, npi: str, day: dt.date) -> dict[str, Any]:
    """One visit: an established-patient office visit (modifier 25) and a venipuncture."""

    def item(
        ident: str, code: str, display: str, price: str, *, modifier: str | None = None
    ) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "ChargeItem",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.0.ehr-demo", "value": ident}],
            "status": "billable",
            "code": {"coding": [{"system": fhir.CPT_SYSTEM, "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "context": {"reference": f"Encounter/demo-{day:%Y%m%d}"},
            "occurrenceDateTime": day.isoformat(),
            "quantity": {"value": 1},
            "priceOverride": {"value": price, "currency": "USD"},
            "reason": [{"coding": [{"system": fhir.ICD10CM_SYSTEM, "code": "E11.9"}]}],
            "performer": [{"actor": {"identifier": {"system": fhir.NPI_SYSTEM, "value": npi}}}],
        }
        if modifier:
            res["extension"] = [{"url": fhir.MODIFIER_URL, "valueCode": modifier}]
        return res

    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": item(
                    f"demo-{day:%Y%m%d}-1",
                    "99214",
                    "Office visit, established patient, moderate",
                    "180.00",
                    modifier="25",
                )
            },
            {"resource": item(f"demo-{day:%Y%m%d}-2", "36415", "Venipuncture", "15.00")},
        ],
    }


def seed_charges(session: Session, actor: Principal, practice_id: uuid.UUID) -> ChargesDemo:
    """Import one visit for the first patient with a coverage in force yesterday (none: none)."""
    day = today() - dt.timedelta(days=1)
    coverage = session.scalar(
        select(Coverage)
        .where(
            Coverage.practice_id == practice_id,
            Coverage.effective_from <= day,
            (Coverage.effective_to.is_(None)) | (Coverage.effective_to >= day),
        )
        .order_by(Coverage.created_at, Coverage.id)
        .limit(1)
    )
    provider = session.scalar(
        select(Provider).where(Provider.practice_id == practice_id).order_by(Provider.npi).limit(1)
    )
    if coverage is None or provider is None:
        return ChargesDemo()
    items = fhir.parse(bundle(coverage.patient_id, provider.npi, day))
    first = service.import_charges(session, actor, practice_id, items, claim=True)
    again = service.import_charges(session, actor, practice_id, items, claim=True)
    return ChargesDemo(
        charges=len(first.charges),
        invoices=len(first.invoices),
        issued_minor=sum(o.invoice.total_minor for o in first.invoices),
        claims=sum(1 for o in first.invoices if o.claim_id is not None),
        resent_created=sum(1 for c in again.charges if c.created),
    )
