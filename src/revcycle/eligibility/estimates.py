"""Estimates use the latest eligibility response when it is fresh (docs/eligibility.md,
"Estimates"): the plan's configured benefits and the accumulators are the fallback for every
fact the 271 does not state."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from revcycle.eligibility import benefits as bn
from revcycle.eligibility.models import ACTIVE
from revcycle.eligibility.repository import EligibilityRepository
from revcycle.eligibility.service import DEFAULT_STALE_DAYS, is_stale, summary_of
from revcycle.estimates import calc
from revcycle.kit.clock import utcnow


def with_eligibility(
    session: Session,
    coverage_id: uuid.UUID,
    fallback: calc.Benefits,
    *,
    benefit_year_start: dt.date,
    stale_days: int = DEFAULT_STALE_DAYS,
) -> tuple[calc.Benefits, dict[str, Any] | None]:
    """(benefits, basis note): the latest ``active`` check of the coverage when it is not stale
    and asked about a service date in the same benefit year, else ``fallback`` unchanged."""
    check = EligibilityRepository(session).latest_completed(coverage_id, statuses=(ACTIVE,))
    if check is None or is_stale(check, utcnow(), stale_days):
        return fallback, None
    if check.service_date < benefit_year_start or check.service_date >= benefit_year_start.replace(
        year=benefit_year_start.year + 1
    ):
        return fallback, None
    summary = summary_of(check)
    if summary is None:
        return fallback, None
    facts = bn.facts(summary)
    if facts.currency != fallback.currency:
        return fallback, None
    note = {
        "eligibility_check_id": str(check.id),
        "eligibility_checked_at": check.completed_at.isoformat() if check.completed_at else None,
    }
    return bn.to_benefits(facts, fallback), note
