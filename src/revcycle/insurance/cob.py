"""Coordination of benefits, pure: which priority each coverage holds on which days, and whether
two coverages of one patient would hold the same priority on the same day (refused)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

PRIORITY_NAMES = {1: "primary", 2: "secondary", 3: "tertiary"}


@dataclass(frozen=True)
class Segment:
    coverage_id: uuid.UUID
    priority: int
    start: dt.date
    end: dt.date | None  # inclusive; None = open-ended


@dataclass(frozen=True)
class CoverageDates:
    coverage_id: uuid.UUID
    effective_from: dt.date
    effective_to: dt.date | None
    changes: Sequence[tuple[dt.date, int]]  # (effective_from, priority), any order


def segments(c: CoverageDates) -> list[Segment]:
    """The coverage's window cut by its priority changes: each change holds until the next."""
    changes = sorted(c.changes)
    out = []
    for i, (start, priority) in enumerate(changes):
        nxt = changes[i + 1][0] - dt.timedelta(days=1) if i + 1 < len(changes) else None
        lo = max(start, c.effective_from)
        ends = [d for d in (nxt, c.effective_to) if d is not None]
        hi = min(ends) if ends else None
        if hi is None or hi >= lo:
            out.append(Segment(c.coverage_id, priority, lo, hi))
    return out


def _overlap(a: Segment, b: Segment) -> bool:
    return (a.end is None or b.start <= a.end) and (b.end is None or a.start <= b.end)


def conflicts(coverages: Sequence[CoverageDates]) -> list[tuple[Segment, Segment]]:
    segs = [s for c in coverages for s in segments(c)]
    return [
        (a, b)
        for i, a in enumerate(segs)
        for b in segs[i + 1 :]
        if a.coverage_id != b.coverage_id and a.priority == b.priority and _overlap(a, b)
    ]


def priority_on(c: CoverageDates, day: dt.date) -> int | None:
    for s in segments(c):
        if s.start <= day and (s.end is None or day <= s.end):
            return s.priority
    return None


def benefit_year_start(day: dt.date, start_month: int) -> dt.date:
    """The first day of the benefit year containing ``day`` (plans starting in ``start_month``)."""
    year = day.year if day.month >= start_month else day.year - 1
    return dt.date(year, start_month, 1)
