from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.invoices import service
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import InvoiceCreate
from revcycle.patients.models import Patient
from tests.factories.practices import SYSTEM


def line(
    code: str = "99213",
    price: str | None = "125.00",
    units: int = 1,
    dos: dt.date = dt.date(2026, 1, 5),
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service_code": code,
        "units": units,
        "date_of_service": dos,
        "description": "Office visit",
        "diagnosis_codes": ["E11.9"],
    }
    if price is not None:
        data["unit_price"] = Decimal(price)
    data.update(extra)
    return data


def make_invoice(
    session: Session,
    patient: Patient,
    *,
    lines: list[dict[str, Any]] | None = None,
    issue: bool = True,
    actor: Principal = SYSTEM,
    **extra: Any,
) -> Invoice:
    body: dict[str, Any] = {"patient_id": patient.id, "lines": lines or [line()], "issue": issue}
    body.update(extra)
    return service.create_invoice(session, actor, InvoiceCreate.model_validate(body))
