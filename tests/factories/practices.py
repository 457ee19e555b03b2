from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.kit.codes import npi_check_digit
from revcycle.practices import service
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.practices.schemas import PracticeCreate, ProviderCreate, ServiceItemCreate

SYSTEM = Principal.system(username="tests")
_counter = itertools.count(100_000_001)


def valid_npi() -> str:
    body = f"{next(_counter):09d}"[-9:]
    return body + npi_check_digit(body)


def make_practice(session: Session, **overrides: object) -> Practice:
    values: dict[str, object] = {
        "name": "Riverside Family Medicine",
        "npi": valid_npi(),
        "tin": "12-3456789",
        "taxonomy": "207Q00000X",
        "address_line1": "100 Main St",
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "default_terms": "net",
        "default_terms_days": 30,
    }
    values.update(overrides)
    return service.create_practice(session, SYSTEM, PracticeCreate.model_validate(values))


def make_provider(session: Session, practice: Practice, **overrides: object) -> Provider:
    values: dict[str, object] = {
        "npi": valid_npi(),
        "first_name": "Ana",
        "last_name": "Lopez",
        "credential": "MD",
    }
    values.update(overrides)
    return service.create_provider(
        session, SYSTEM, practice.id, ProviderCreate.model_validate(values)
    )


def make_service_item(
    session: Session,
    practice: Practice,
    code: str = "99213",
    price: str = "125.00",
    *,
    modifiers: list[str] | None = None,
    effective_from: dt.date = dt.date(2020, 1, 1),
    effective_to: dt.date | None = None,
    description: str = "Office visit, established patient",
) -> ServiceItem:
    return service.create_service_item(
        session,
        SYSTEM,
        practice.id,
        ServiceItemCreate(
            code=code,
            modifiers=modifiers or [],
            description=description,
            price=Decimal(price),
            effective_from=effective_from,
            effective_to=effective_to,
        ),
    )
