"""Pure rules for prior authorisations: the status a row shows on a day, which authorisation a
charge draws on, why a charge is held, and the warnings staff see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

NEAR_EXHAUSTION_FRACTION = (1, 5)  # warn when remaining <= 20% of the units authorised
NEAR_EXPIRY_DAYS = 14

HOLD_MISSING = "missing"
HOLD_EXPIRED = "expired"
HOLD_EXHAUSTED = "exhausted"


def effective_status(status: str, valid_to: dt.date, on: dt.date) -> str:
    """An approved authorisation past its window is expired, whether or not the row says so."""
    if status == "approved" and valid_to < on:
        return "expired"
    return status


@dataclass(frozen=True)
class Candidate:
    """One service row of one authorisation for the charge's code."""

    service_key: object
    status: str
    valid_from: dt.date
    valid_to: dt.date
    units_authorized: int
    units_used: int

    @property
    def remaining(self) -> int:
        return self.units_authorized - self.units_used


def pick(candidates: Sequence[Candidate], day: dt.date, units: int) -> Candidate | None:
    """An approved authorisation in its window with enough units left; the one ending soonest
    first (use it before it lapses). One charge draws on one authorisation only."""
    usable = [
        c
        for c in candidates
        if c.status == "approved" and c.valid_from <= day <= c.valid_to and c.remaining >= units
    ]
    return min(usable, key=lambda c: (c.valid_to, str(c.service_key))) if usable else None


def hold_reason(candidates: Sequence[Candidate], day: dt.date) -> str:
    """Why no authorisation is usable: ``exhausted`` (one is in its window but short of units),
    ``expired`` (one ended before the service date, or the row says expired), else ``missing``
    (none at all, only requested/denied/cancelled ones, or one starting later)."""
    approved = [c for c in candidates if c.status in {"approved", "expired"}]
    if any(c.status == "approved" and c.valid_from <= day <= c.valid_to for c in approved):
        return HOLD_EXHAUSTED
    if any(c.valid_to < day or c.status == "expired" for c in approved):
        return HOLD_EXPIRED
    return HOLD_MISSING


@dataclass(frozen=True)
class Warning:
    kind: str  # near_exhaustion | exhausted | near_expiry | expired
    message: str


def warnings(
    status: str,
    valid_to: dt.date,
    services: Sequence[tuple[str, int, int]],  # (code, authorised, used)
    on: dt.date,
) -> list[Warning]:
    if status not in {"approved", "expired"}:
        return []
    if effective_status(status, valid_to, on) == "expired":
        return [Warning("expired", f"expired on {valid_to.isoformat()}")]
    out = []
    days = (valid_to - on).days
    if days <= NEAR_EXPIRY_DAYS:
        out.append(Warning("near_expiry", f"expires in {days} days ({valid_to.isoformat()})"))
    num, den = NEAR_EXHAUSTION_FRACTION
    for code, authorised, used in services:
        left = authorised - used
        if left == 0:
            out.append(Warning("exhausted", f"{code}: all {authorised} used"))
        elif left * den <= authorised * num:
            out.append(Warning("near_exhaustion", f"{code}: {left} of {authorised} left"))
    return out
