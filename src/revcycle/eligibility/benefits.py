"""Pure: a parsed 271 response -> the stored summary, the summary -> the facts the API, FHIR and
estimates use, and the facts -> the estimates calculator's :class:`~estimates.calc.Benefits`.

The summary (stored sealed as JSON on the check) keeps every EB row as sent, so the facts can be
re-derived if the rules below change. Facts are for the **individual**, preferring rows **in
network** (EB12 Y, then W "not applicable", then unspecified; out-of-network rows only when
nothing else is there):

* deductible: EB01 ``C`` with a period other than 29/24 (23 calendar year, 25 contract...);
  remaining: EB ``C`` with EB06 ``29`` (remaining), else deductible minus EB ``C`` ``24``
  (year to date, i.e. met).
* out-of-pocket maximum and remaining: the same with EB01 ``G``.
* coinsurance: EB ``A`` EB08 (the patient's share, a fraction), service type 30 first.
* copays: EB ``B`` EB07 per service type (EB03).
* prior authorisation: EB11 ``Y`` with a procedure in EB13.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from revcycle.estimates import calc
from revcycle.money import Money
from revcycle.x12 import codes
from revcycle.x12.eligibility import Benefit, EligibilityResponse, Member

CURRENCY = "USD"
ACTIVE, INACTIVE, REJECTED, ERROR = "active", "inactive", "rejected", "error"

# Plan copays are kept by service category (estimates.calc.CATEGORIES); a 271 carries them by
# X12 service type (EB03). The simulator writes with this table; estimates read with it.
CATEGORY_SERVICE_TYPES: dict[str, str] = {
    "office_visit": "98",
    "specialist": "A0",
    "preventive": "BZ",
    "lab": "5",
    "imaging": "4",
    "procedure": "2",
}
SERVICE_TYPE_CATEGORIES: dict[str, str] = {
    **{v: k for k, v in CATEGORY_SERVICE_TYPES.items()},
    "BY": "office_visit",
    "62": "imaging",
}
_NETWORK_RANK = {"Y": 0, "W": 1, None: 2, "": 2, "U": 2, "N": 3}


# summary ---------------------------------------------------------------------------------------
def _benefit_row(b: Benefit) -> dict[str, Any]:
    return {
        "code": b.eligibility_code,
        "coverage_level": b.coverage_level_code,
        "service_types": list(b.service_type_codes),
        "insurance_type": b.insurance_type_code,
        "plan_description": b.plan_description,
        "time_period": b.time_period_code,
        "amount_minor": b.amount_minor,
        "percent": None if b.percent is None else str(b.percent),
        "quantity_qualifier": b.quantity_qualifier,
        "quantity": None if b.quantity is None else str(b.quantity),
        "authorization_required": b.authorization_required,
        "in_network": b.in_network,
        "procedure": None if b.procedure is None else b.procedure.code,
        "messages": list(b.messages),
    }


def patient_of(resp: EligibilityResponse, trace_number: str) -> Member | None:
    """The member the inquiry was about: by our TRN echoed back, else the only patient."""
    for m in resp.patients:
        if trace_number in m.trace_references:
            return m
    patients = resp.patients
    return patients[0] if len(patients) == 1 else None


def summarise(resp: EligibilityResponse, trace_number: str) -> dict[str, Any]:
    member = patient_of(resp, trace_number)
    errors = [
        {
            "loop": e.loop,
            "valid_request": e.valid_request,
            "reason_code": e.reason_code,
            "reason": e.reason,
            "follow_up_code": e.follow_up_code,
            "follow_up": e.follow_up,
        }
        for e in resp.errors
    ]
    benefits = [_benefit_row(b) for b in member.benefits] if member else []
    active = member.coverage_active if member else None
    if active is True:
        status = ACTIVE
    elif active is False:
        status = INACTIVE
    elif errors:
        status = REJECTED
    else:
        status = ERROR
    begin = member.date("346") if member else None
    end = member.date("347") if member else None
    plan_name = next((b["plan_description"] for b in benefits if b["plan_description"]), None)
    payer = resp.source.entity if resp.source else None
    return {
        "status": status,
        "currency": CURRENCY,
        "payer_name": payer.last_name if payer else None,
        "payer_id": payer.identifier if payer else None,
        "plan_name": plan_name,
        "group_number": member.group_number if member else None,
        "plan_begin": begin.start.isoformat() if begin else None,
        "plan_end": end.start.isoformat() if end else None,
        "benefits": benefits,
        "errors": errors,
    }


# facts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    status: str
    currency: str = CURRENCY
    deductible: int | None = None
    deductible_remaining: int | None = None
    family_deductible: int | None = None
    family_deductible_remaining: int | None = None
    oop_max: int | None = None
    oop_remaining: int | None = None
    family_oop_max: int | None = None
    family_oop_remaining: int | None = None
    coinsurance: Decimal | None = None
    copays: Mapping[str, int] = field(default_factory=dict)  # service type -> minor
    auth_required_codes: tuple[str, ...] = ()
    in_network: bool = True  # the amounts above are in-network ones


def _ranked(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: _NETWORK_RANK.get(r.get("in_network"), 2))


def _level_ok(row: dict[str, Any], level: str) -> bool:
    got = row.get("coverage_level")
    return got == level or (level == "IND" and got in (None, ""))


def _limit(rows: list[dict[str, Any]], code: str, level: str) -> tuple[int | None, int | None]:
    """(limit, remaining) for EB01 ``code`` at ``level``, best network first."""
    mine = _ranked(
        r
        for r in rows
        if r["code"] == code and _level_ok(r, level) and r.get("amount_minor") is not None
    )
    if not mine:
        return None, None
    network = mine[0].get("in_network")
    same = [r for r in mine if r.get("in_network") == network]
    limit = next((r["amount_minor"] for r in same if r["time_period"] not in ("29", "24")), None)
    remaining = next((r["amount_minor"] for r in same if r["time_period"] == "29"), None)
    if remaining is None and limit is not None:
        met = next((r["amount_minor"] for r in same if r["time_period"] == "24"), None)
        if met is not None:
            remaining = max(0, limit - met)
    return limit, remaining


def facts(summary: Mapping[str, Any]) -> Facts:
    rows: list[dict[str, Any]] = list(summary.get("benefits") or [])
    deductible, deductible_left = _limit(rows, "C", "IND")
    fam_ded, fam_ded_left = _limit(rows, "C", "FAM")
    oop, oop_left = _limit(rows, "G", "IND")
    fam_oop, fam_oop_left = _limit(rows, "G", "FAM")
    coins_rows = _ranked(r for r in rows if r["code"] == "A" and r.get("percent") is not None)
    coins_rows.sort(
        key=lambda r: (_NETWORK_RANK.get(r.get("in_network"), 2), "30" not in r["service_types"])
    )
    coinsurance = Decimal(coins_rows[0]["percent"]) if coins_rows else None
    copays: dict[str, int] = {}
    for r in _ranked(r for r in rows if r["code"] == "B" and r.get("amount_minor") is not None):
        if r.get("in_network") == "N":
            continue
        for st in r["service_types"]:
            copays.setdefault(st, r["amount_minor"])
    auth = tuple(
        sorted(
            {
                r["procedure"]
                for r in rows
                if r.get("authorization_required") == "Y" and r.get("procedure")
            }
        )
    )
    considered = [r for r in rows if r["code"] in ("C", "G", "A", "B")]
    in_network = not considered or any(r.get("in_network") != "N" for r in considered)
    return Facts(
        status=str(summary.get("status")),
        currency=str(summary.get("currency") or CURRENCY),
        deductible=deductible,
        deductible_remaining=deductible_left,
        family_deductible=fam_ded,
        family_deductible_remaining=fam_ded_left,
        oop_max=oop,
        oop_remaining=oop_left,
        family_oop_max=fam_oop,
        family_oop_remaining=fam_oop_left,
        coinsurance=coinsurance,
        copays=copays,
        auth_required_codes=auth,
        in_network=in_network,
    )


def describe_service_type(code: str) -> str:
    return codes.describe(codes.SERVICE_TYPES, code)


# estimates -------------------------------------------------------------------------------------
def to_benefits(f: Facts, fallback: calc.Benefits) -> calc.Benefits:
    """The calculator's input from an eligibility response, each missing fact taken from
    ``fallback`` (the plan's configured benefits and the accumulators). Copays: the 271's when it
    sends any for a service type with a category (table above), else the plan's. The
    cost-sharing order is the plan's."""
    cur = fallback.currency

    def m(minor: int) -> Money:
        return Money(minor, cur)

    def pair(
        limit: int | None, left: int | None, fb_limit: Money | None, fb_met: Money | None
    ) -> tuple[Money | None, Money | None]:
        if limit is None:
            return fb_limit, fb_met
        if left is None:
            return m(limit), fb_met
        return m(limit), m(max(0, limit - left))

    deductible, deductible_met = pair(
        f.deductible, f.deductible_remaining, fallback.deductible, fallback.deductible_met
    )
    oop, oop_met = pair(f.oop_max, f.oop_remaining, fallback.oop_max, fallback.oop_met)
    fam_ded, fam_ded_met = pair(
        f.family_deductible,
        f.family_deductible_remaining,
        fallback.family_deductible,
        fallback.family_deductible_met,
    )
    fam_oop, fam_oop_met = pair(
        f.family_oop_max, f.family_oop_remaining, fallback.family_oop_max, fallback.family_oop_met
    )
    copays: dict[str, Money] = {}
    for st, minor in f.copays.items():
        cat = SERVICE_TYPE_CATEGORIES.get(st)
        if cat is not None:
            copays.setdefault(cat, m(minor))
    return calc.Benefits(
        currency=cur,
        deductible=deductible or Money.zero(cur),
        deductible_met=deductible_met or Money.zero(cur),
        coinsurance=fallback.coinsurance if f.coinsurance is None else f.coinsurance,
        copays=copays if copays else dict(fallback.copays),
        oop_max=oop,
        oop_met=oop_met,
        family_deductible=fam_ded,
        family_deductible_met=fam_ded_met,
        family_oop_max=fam_oop,
        family_oop_met=fam_oop_met,
        order=fallback.order,
    )
