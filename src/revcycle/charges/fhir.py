"""FHIR R4 ChargeItem in (fhir.resources R4B models; R4B's ChargeItem is R4's). Pure: no database.

An EHR sends the charges of an encounter as one ``ChargeItem`` or a ``Bundle`` of them
(docs/charges.md). Each becomes an invoice line; this module only reads and checks the resource
and says exactly which element of which item is wrong. What the database must answer (the
patient, the provider, the practice's currency, an earlier import) is the service's job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.chargeitem import ChargeItem
from pydantic import ValidationError

from revcycle.charges.errors import InvalidCharge

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEMS = frozenset(
    {
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "urn:oid:2.16.840.1.113883.6.285",
    }
)
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# revcycle's own identifiers and extension (documented in docs/charges.md).
ACCOUNT_SYSTEM = "https://revcycle.dev/fhir/NamingSystem/patient-account"
MODIFIER_URL = "https://revcycle.dev/fhir/StructureDefinition/procedure-modifier"
RESOURCE_ID_SYSTEM = "urn:revcycle:fhir:ChargeItem"  # when an item has no identifier
MAX_ITEMS = 500
MAX_PRICE = Decimal(10) ** 13  # the invoice API's amounts have at most 15 digits with cents


@dataclass(frozen=True)
class PatientRef:
    patient_id: uuid.UUID | None  # Patient/<our id>
    account_number: str | None  # identifier in ACCOUNT_SYSTEM


@dataclass(frozen=True)
class ChargeIn:
    """One billable ChargeItem, read and checked, not yet resolved against the database."""

    index: int  # position in the request (0-based), for error messages
    source_system: str
    source_id: str
    digest: str  # sha256 of the item's canonical JSON: a resend must be the same charge
    patient: PatientRef
    encounter: str | None  # context.reference: the charges of one encounter share an invoice
    procedure: str
    modifiers: tuple[str, ...]
    description: str
    units: int
    service_date: dt.date
    unit_price: Decimal | None  # priceOverride.value; None: the charge master's price
    currency: str | None
    diagnosis_codes: tuple[str, ...]
    provider_npi: str | None
    provider_id: uuid.UUID | None


def _bad(index: int | None, message: str) -> InvalidCharge:
    where = f"ChargeItem[{index}]: " if index is not None else ""
    return InvalidCharge(where + message, item=index)


def parse(body: Mapping[str, Any]) -> list[ChargeIn]:
    """The ChargeItems of ``body`` (one ChargeItem, or a Bundle whose entries are ChargeItems),
    each checked; the first problem is raised with the item's position and the element."""
    kind = body.get("resourceType")
    if kind == "ChargeItem":
        resources: list[Any] = [body]
    elif kind == "Bundle":
        entries = body.get("entry")
        if not isinstance(entries, list) or not entries:
            raise _bad(None, "the Bundle has no entry")
        resources = []
        for n, entry in enumerate(entries):
            res = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(res, Mapping) or res.get("resourceType") != "ChargeItem":
                raise _bad(None, f"Bundle.entry[{n}] is not a ChargeItem")
            resources.append(res)
    else:
        raise _bad(None, "resourceType must be ChargeItem or a Bundle of ChargeItems")
    if len(resources) > MAX_ITEMS:
        raise _bad(None, f"at most {MAX_ITEMS} ChargeItems per request ({len(resources)} sent)")
    items = [_item(n, res) for n, res in enumerate(resources)]
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.source_system, item.source_id)
        if key in seen:
            raise _bad(
                item.index,
                f"the same charge ({item.source_system}|{item.source_id}) is also "
                f"ChargeItem[{seen[key]}]",
            )
        seen[key] = item.index
    return items


def _item(index: int, raw: Mapping[str, Any]) -> ChargeIn:
    try:
        ci = ChargeItem.model_validate(dict(raw))
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        raise _bad(index, f"not a valid R4 ChargeItem ({where or 'body'})") from None
    if ci.status != "billable":
        raise _bad(index, f"status is {ci.status!r}: only 'billable' charges are imported")
    system, value = _source(index, ci)
    procedure, description = _procedure(index, ci)
    patient = _patient(index, ci)
    price, currency = _price(index, ci)
    npi, provider_id = _performer(index, ci)
    return ChargeIn(
        index=index,
        source_system=system,
        source_id=value,
        digest=_digest(raw),
        patient=patient,
        encounter=_reference(ci.context),
        procedure=procedure,
        modifiers=_modifiers(index, ci),
        description=description,
        units=_units(index, ci),
        service_date=_service_date(index, ci),
        unit_price=price,
        currency=currency,
        diagnosis_codes=_diagnoses(index, ci),
        provider_npi=npi,
        provider_id=provider_id,
    )


def _digest(raw: Mapping[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _source(index: int, ci: ChargeItem) -> tuple[str, str]:
    for ident in ci.identifier or []:
        if ident.system and ident.value:
            if len(ident.system) > 255 or len(ident.value) > 64:
                raise _bad(index, "identifier: system at most 255, value at most 64 characters")
            return str(ident.system), str(ident.value)
    if ci.id:
        return RESOURCE_ID_SYSTEM, str(ci.id)
    raise _bad(index, "no identifier (system and value) and no id: the charge cannot be recognised")


def _reference(ref: Any) -> str | None:
    value = getattr(ref, "reference", None) if ref is not None else None
    return str(value)[:255] if value else None


def _patient(index: int, ci: ChargeItem) -> PatientRef:
    subject = ci.subject
    ref = subject.reference if subject is not None else None
    if ref:
        kind, _, local_id = str(ref).partition("/")
        try:
            if kind != "Patient":
                raise ValueError
            return PatientRef(uuid.UUID(local_id), None)
        except ValueError:
            raise _bad(index, f"subject {ref!r} is not Patient/<revcycle patient id>") from None
    ident = subject.identifier if subject is not None else None
    if ident is not None and ident.system == ACCOUNT_SYSTEM and ident.value:
        return PatientRef(None, str(ident.value))
    raise _bad(
        index,
        f"subject must be Patient/<revcycle patient id> or an identifier in {ACCOUNT_SYSTEM}",
    )


def _procedure(index: int, ci: ChargeItem) -> tuple[str, str]:
    for coding in (ci.code.coding or []) if ci.code else []:
        if coding.code and (coding.system == CPT_SYSTEM or coding.system in HCPCS_SYSTEMS):
            # The line's description: the code's text, else its display, else the code itself
            # ("CPT 36415") so a code missing from the charge master still reads on a statement.
            kind = "CPT" if coding.system == CPT_SYSTEM else "HCPCS"
            text = ci.code.text or coding.display or f"{kind} {coding.code}"
            return str(coding.code), str(text)[:300]
    raise _bad(index, f"code has no CPT ({CPT_SYSTEM}) or HCPCS coding")


def _modifiers(index: int, ci: ChargeItem) -> tuple[str, ...]:
    found = tuple(
        str(ext.valueCode)
        for ext in ci.extension or []
        if ext.url == MODIFIER_URL and ext.valueCode
    )
    if len(found) > 4:
        raise _bad(index, f"at most 4 modifiers ({MODIFIER_URL}); {len(found)} given")
    return found


def _units(index: int, ci: ChargeItem) -> int:
    if ci.quantity is None or ci.quantity.value is None:
        return 1
    value = Decimal(str(ci.quantity.value))
    if value != value.to_integral_value() or not 1 <= value <= 9999:
        raise _bad(index, f"quantity.value {value} must be a whole number of units, 1 to 9999")
    return int(value)


def _service_date(index: int, ci: ChargeItem) -> dt.date:
    when: Any = ci.occurrenceDateTime
    if when is None and ci.occurrencePeriod is not None:
        when = ci.occurrencePeriod.start
    if isinstance(when, dt.datetime):
        return when.date()
    if isinstance(when, dt.date):
        return when
    raise _bad(
        index,
        "occurrenceDateTime (or occurrencePeriod.start) must give the full date of service",
    )


def _price(index: int, ci: ChargeItem) -> tuple[Decimal | None, str | None]:
    money = ci.priceOverride
    if money is None:
        return None, None
    if money.value is None:
        raise _bad(index, "priceOverride has no value")
    value = Decimal(str(money.value))
    if not value.is_finite() or value.copy_abs() >= MAX_PRICE:  # before quantize: it would trap
        raise _bad(index, "priceOverride.value is out of range")
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise _bad(index, f"priceOverride.value {value} must be zero or more, in whole cents")
    return value, (str(money.currency) if money.currency else None)


def _diagnoses(index: int, ci: ChargeItem) -> tuple[str, ...]:
    codes: list[str] = []
    for concept in ci.reason or []:
        for coding in concept.coding or []:
            if coding.system == ICD10CM_SYSTEM and coding.code and coding.code not in codes:
                codes.append(str(coding.code))
    if len(codes) > 4:
        raise _bad(index, f"at most 4 ICD-10-CM reasons per charge; {len(codes)} given")
    return tuple(codes)


def _performer(index: int, ci: ChargeItem) -> tuple[str | None, uuid.UUID | None]:
    """The rendering provider: the first performer naming an NPI or one of our providers."""
    for perf in ci.performer or []:
        actor = perf.actor
        ident = actor.identifier if actor is not None else None
        if ident is not None and ident.system == NPI_SYSTEM and ident.value:
            return str(ident.value), None
        ref = actor.reference if actor is not None else None
        if ref and str(ref).startswith("Practitioner/"):
            try:
                return None, uuid.UUID(str(ref).partition("/")[2])
            except ValueError:
                raise _bad(
                    index,
                    f"performer {ref!r}: name a provider as Practitioner/<revcycle provider id> "
                    f"or by identifier in {NPI_SYSTEM}",
                ) from None
    return None, None
