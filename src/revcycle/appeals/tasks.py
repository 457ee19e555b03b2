"""Worker tasks of denials and appeals (registered in ``worker/registry.py``).

* ``appeals.reminders``: an undecided appeal (draft or sent) whose deadline is at most 14, 7 or
  2 days away gets one staff reminder per threshold crossed (the most urgent one when several
  are crossed at once) in ``appeal_reminders``, the staff outbox: UNIQUE(appeal_id,
  days_before) with ``INSERT ... ON CONFLICT DO NOTHING``, so several workers write it once.
* ``claims.build_secondaries``: adjudicated primary claims without a decision get their
  secondary claim built, the crossover recorded, or ``none`` (claims.secondary.build_secondary
  with ``auto``), one claim per transaction; UNIQUE(primary_claim_id) keeps it idempotent.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals.models import AppealReminder
from revcycle.appeals.repository import AppealRepository
from revcycle.auth.principal import Principal
from revcycle.claims import secondary
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.kit.ids import uuid7

THRESHOLDS = (14, 7, 2)  # days before the deadline
BATCH = 500
log = logging.getLogger(__name__)


def remind(session: Session, day: dt.date) -> int:
    """Write the reminders due on ``day``; returns how many were written."""
    repo = AppealRepository(session)
    appeals = repo.open_with_deadline_before(day + dt.timedelta(days=max(THRESHOLDS)), BATCH)
    done = repo.reminders_of([a.id for a in appeals])
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    written = 0
    for appeal in appeals:
        left = (appeal.deadline - day).days
        if left < 0:
            continue
        threshold = min(t for t in THRESHOLDS if left <= t)
        if any(d <= threshold for a, d in done if a == appeal.id):
            continue
        new_id = session.scalar(
            insert(AppealReminder)
            .values(
                id=uuid7(),
                practice_id=appeal.practice_id,
                appeal_id=appeal.id,
                days_before=threshold,
                deadline=appeal.deadline,
                status="pending",
            )
            .on_conflict_do_nothing(index_elements=["appeal_id", "days_before"])
            .returning(AppealReminder.id)
        )
        written += new_id is not None
    session.flush()
    return written


def run_reminders(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:  # noqa: ARG001
    with unit_of_work(factory) as session:
        return remind(session, now.date())


def build_secondaries(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:  # noqa: ARG001
    """One primary claim per transaction; a refusal (lines already on a secondary claim built by
    hand...) is logged by code and left for a person."""
    actor = Principal.system(username="worker")
    with unit_of_work(factory) as session:
        ids = [c.id for c in secondary.pending_primaries(session, BATCH)]
    built = 0
    for claim_id in ids:
        try:
            with unit_of_work(factory) as session:
                result = secondary.build_secondary(session, actor, claim_id, auto=True)
                built += int(result.created and result.outcome != "none")
        except DomainError as exc:
            log.warning("secondary claim not built: %s", exc.code)
    return built
