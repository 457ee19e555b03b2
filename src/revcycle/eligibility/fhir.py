"""FHIR R4 CoverageEligibilityRequest in, CoverageEligibilityResponse out (fhir.resources R4B
models; R4B's eligibility resources are R4's). Pure: no database.

The request names our own ids: ``patient`` ``Patient/<patient id>``, ``insurance[0].coverage``
``Coverage/<coverage id>``, ``servicedDate`` the service date, ``item[].category`` X12 service
type codes (the ex-benefitcategory code system *is* the X12 service type list). The response is
rendered from the same :class:`~revcycle.eligibility.benefits.Facts` the JSON API shows, so both
paths state the same facts (docs/eligibility.md, "FHIR mapping").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from pydantic import ValidationError

from revcycle.eligibility import benefits as bn
from revcycle.eligibility.errors import InvalidCheck
from revcycle.money import Money

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
BENEFIT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-type"
# Out-of-pocket maximum has no code in benefit-type: revcycle's own code system carries it.
REVCYCLE_BENEFIT_TYPE_SYSTEM = "https://revcycle.dev/fhir/CodeSystem/benefit-type"
NETWORK_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-network"
UNIT_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-unit"
TERM_SYSTEM = "http://terminology.hl7.org/CodeSystem/benefit-term"
AAA_SYSTEM = "https://x12.org/codes/aaa-reject-reason"  # X12 AAA03
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"


@dataclass(frozen=True)
class FhirRequest:
    patient_id: uuid.UUID
    coverage_id: uuid.UUID
    service_date: dt.date | None
    service_types: tuple[str, ...]
    purpose: tuple[str, ...]


def _bad(message: str) -> InvalidCheck:
    return InvalidCheck(message, code="eligibility.bad_fhir_request")


def _id_of(reference: str | None, kind: str) -> uuid.UUID:
    prefix = f"{kind}/"
    if not reference or not reference.startswith(prefix):
        raise _bad(f"{kind} reference must be '{kind}/<id>'")
    try:
        return uuid.UUID(reference[len(prefix) :])
    except ValueError:
        raise _bad(f"{kind} reference must name a revcycle {kind.lower()} id") from None


def parse_request(body: Mapping[str, Any]) -> FhirRequest:
    if body.get("resourceType") != "CoverageEligibilityRequest":
        raise _bad("resourceType must be CoverageEligibilityRequest")
    try:
        req = CoverageEligibilityRequest.model_validate(dict(body))
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) and exc.errors() else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        raise _bad(f"not a valid R4 CoverageEligibilityRequest ({where or 'body'})") from None
    purpose = tuple(str(p) for p in req.purpose or ())
    if not {"benefits", "validation"} & set(purpose):
        raise _bad("purpose must include 'validation' or 'benefits'")
    patient_id = _id_of(req.patient.reference if req.patient else None, "Patient")
    insurance = req.insurance or []
    focal = [i for i in insurance if i.focal] or insurance
    if len(focal) != 1:
        raise _bad("name exactly one (focal) insurance coverage")
    coverage = focal[0].coverage
    coverage_id = _id_of(coverage.reference if coverage else None, "Coverage")
    types: list[str] = []
    for item in req.item or []:
        for coding in (item.category.coding or []) if item.category else []:
            if coding.code and coding.code not in types:
                types.append(str(coding.code))
    day = req.servicedDate
    if day is not None and not isinstance(day, dt.date):
        raise _bad("servicedDate must be a date")
    if req.servicedPeriod is not None:
        raise _bad("servicedPeriod is not supported: send servicedDate")
    return FhirRequest(
        patient_id=patient_id,
        coverage_id=coverage_id,
        service_date=day,
        service_types=tuple(types) or ("30",),
        purpose=purpose,
    )


# response --------------------------------------------------------------------------------------
def _cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _money(minor: int, currency: str) -> dict[str, Any]:
    return {"value": Money(minor, currency).to_decimal(), "currency": currency}


def _limit_benefit(
    code: str, system: str, limit: int | None, left: int | None, cur: str
) -> dict[str, Any] | None:
    if limit is None:
        return None
    out: dict[str, Any] = {"type": _cc(system, code), "allowedMoney": _money(limit, cur)}
    if left is not None:
        out["usedMoney"] = _money(max(0, limit - left), cur)
    return out


def _percent(rate: Decimal) -> dict[str, Any]:
    pct = (rate * 100).normalize()
    if pct == pct.to_integral_value():
        return {"allowedUnsignedInt": int(pct)}
    return {"allowedString": f"{pct:f}"}


def _item(category: str, unit: str | None, benefits: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "category": _cc(CATEGORY_SYSTEM, category, bn.describe_service_type(category)),
        "network": _cc(NETWORK_SYSTEM, "in"),
        "benefit": benefits,
    }
    if unit:
        item["unit"] = _cc(UNIT_SYSTEM, unit)
        item["term"] = _cc(TERM_SYSTEM, "annual")
    return item


def build_response(
    *,
    check_id: uuid.UUID,
    patient_id: uuid.UUID,
    coverage_id: uuid.UUID,
    service_date: dt.date,
    created: dt.datetime,
    purpose: tuple[str, ...],
    summary: Mapping[str, Any] | None,
    error_code: str | None,
) -> dict[str, Any]:
    f = bn.facts(summary or {"status": "error"})
    cur = f.currency
    status = f.status
    resp: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": str(check_id),
        "status": "active",
        "purpose": list(purpose) or ["validation", "benefits"],
        "patient": {"reference": f"Patient/{patient_id}"},
        "servicedDate": service_date.isoformat(),
        "created": created.isoformat(),
        "request": {"identifier": {"value": str(check_id)}},
        "outcome": "complete" if status in (bn.ACTIVE, bn.INACTIVE) else "error",
        "insurer": {"display": (summary or {}).get("payer_name") or "unknown payer"},
    }
    if status in (bn.ACTIVE, bn.INACTIVE):
        resp["disposition"] = (
            "Policy is currently in force." if status == bn.ACTIVE else "Policy is not in force."
        )
        insurance: dict[str, Any] = {
            "coverage": {"reference": f"Coverage/{coverage_id}"},
            "inforce": status == bn.ACTIVE,
        }
        items = []
        if status == bn.ACTIVE:
            ind = [
                b
                for b in (
                    _limit_benefit(
                        "deductible", BENEFIT_TYPE_SYSTEM, f.deductible, f.deductible_remaining, cur
                    ),
                    _limit_benefit(
                        "out-of-pocket-maximum",
                        REVCYCLE_BENEFIT_TYPE_SYSTEM,
                        f.oop_max,
                        f.oop_remaining,
                        cur,
                    ),
                )
                if b is not None
            ]
            if f.coinsurance is not None:
                ind.append(
                    {
                        "type": _cc(BENEFIT_TYPE_SYSTEM, "copay-percent"),
                        **_percent(f.coinsurance),
                    }
                )
            if ind:
                items.append(_item("30", "individual", ind))
            fam = [
                b
                for b in (
                    _limit_benefit(
                        "deductible",
                        BENEFIT_TYPE_SYSTEM,
                        f.family_deductible,
                        f.family_deductible_remaining,
                        cur,
                    ),
                    _limit_benefit(
                        "out-of-pocket-maximum",
                        REVCYCLE_BENEFIT_TYPE_SYSTEM,
                        f.family_oop_max,
                        f.family_oop_remaining,
                        cur,
                    ),
                )
                if b is not None
            ]
            if fam:
                items.append(_item("30", "family", fam))
            for st, minor in sorted(f.copays.items()):
                items.append(
                    _item(
                        st,
                        "individual",
                        [
                            {
                                "type": _cc(BENEFIT_TYPE_SYSTEM, "copay"),
                                "allowedMoney": _money(minor, cur),
                            }
                        ],
                    )
                )
            for code in f.auth_required_codes:
                items.append(
                    {
                        "category": _cc(CATEGORY_SYSTEM, "1", bn.describe_service_type("1")),
                        "productOrService": _cc(CPT_SYSTEM, code),
                        "authorizationRequired": True,
                    }
                )
        if items:
            insurance["item"] = items
        resp["insurance"] = [insurance]
    else:
        errors = [
            {"code": _cc(AAA_SYSTEM, e["reason_code"], e["reason"])}
            for e in (summary or {}).get("errors", [])
            if e.get("reason_code")
        ]
        if not errors:
            errors = [{"code": {"text": error_code or "eligibility.error"}}]
        resp["error"] = errors
        resp["disposition"] = "The payer could not answer this inquiry."
    # Validate what we send: the R4B model refuses anything malformed.
    return dict(
        CoverageEligibilityResponse.model_validate(resp).model_dump(mode="json", exclude_none=True)
    )


# reading a response back (tests, and responses from other systems) ------------------------------
def _code(cc: Any) -> str | None:
    for coding in (cc or {}).get("coding", []) if isinstance(cc, dict) else []:
        return str(coding.get("code"))
    return None


def _minor(money: Mapping[str, Any] | None) -> int | None:
    if not money or money.get("value") is None:
        return None
    # Minor units at 2 decimals: responses from elsewhere may use any currency.
    return int((Decimal(str(money["value"])) * 100).to_integral_value())


def facts_of_response(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The in-network facts a CoverageEligibilityResponse states, in the shape of
    :class:`~revcycle.eligibility.benefits.Facts` (for comparing both paths, and for reading
    responses produced elsewhere). The resource is validated as R4 first."""
    CoverageEligibilityResponse.model_validate(dict(resource))
    out: dict[str, Any] = {"inforce": None, "copays": {}, "auth_required_codes": [], "errors": []}
    for ins in resource.get("insurance", []):
        out["inforce"] = ins.get("inforce")
        for item in ins.get("item", []):
            if item.get("authorizationRequired") and item.get("productOrService"):
                out["auth_required_codes"].append(_code(item["productOrService"]))
            if _code(item.get("network")) not in (None, "in"):
                continue
            unit = _code(item.get("unit"))
            category = _code(item.get("category"))
            prefix = "family_" if unit == "family" else ""
            for b in item.get("benefit", []):
                kind = _code(b.get("type"))
                allowed = _minor(b.get("allowedMoney"))
                used = _minor(b.get("usedMoney"))
                if kind in ("deductible", "out-of-pocket-maximum"):
                    name = prefix + ("deductible" if kind == "deductible" else "oop_max")
                    left = prefix + (
                        "deductible_remaining" if kind == "deductible" else "oop_remaining"
                    )
                    out[name] = allowed
                    out[left] = None if allowed is None or used is None else allowed - used
                elif kind == "copay-percent":
                    raw = b.get("allowedUnsignedInt", b.get("allowedString"))
                    out["coinsurance"] = None if raw is None else Decimal(str(raw)) / 100
                elif kind == "copay" and category is not None and allowed is not None:
                    out["copays"][category] = allowed
    out["errors"] = [_code(e.get("code")) for e in resource.get("error", [])]
    return out
