"""The daily re-verification: check tomorrow's scheduled appointments' coverage.

``run_once(factory, settings, now)`` claims appointments starting tomorrow (UTC) that are
scheduled and not yet claimed today, in small batches: on PostgreSQL with ``FOR UPDATE SKIP
LOCKED`` so several workers share the work, and always through the UNIQUE (appointment, run
date) key of ``eligibility_reverifications`` (``INSERT ... ON CONFLICT DO NOTHING``: the worker
whose insert lands owns the appointment), so each appointment is checked at most once per day
however many workers run. An appointment whose coverage was checked within
``eligibility_reverify_fresh_hours`` is recorded ``fresh`` and not checked again; one without a
coverage is recorded ``no_coverage``. Checks run outside the claim's transaction (the
clearinghouse call), as :func:`service.run_check` does.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appointments.models import SCHEDULED, Appointment
from revcycle.auth.principal import Principal
from revcycle.clearinghouse.base import ClearinghouseClient
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.eligibility import errors, service
from revcycle.eligibility.models import EligibilityReverification
from revcycle.eligibility.repository import EligibilityRepository
from revcycle.errors import DomainError
from revcycle.kit.ids import uuid7

BATCH = 20
NAME = "eligibility.reverify_tomorrow"


def _claim(
    session: Session,
    start: dt.datetime,
    run_date: dt.date,
    fresh_since: dt.datetime,
) -> list[tuple[uuid.UUID, uuid.UUID | None, str]]:
    """Claim up to BATCH appointments: (reverification id, coverage to check or None, outcome)."""
    dialect = session.get_bind().dialect.name
    claimed_today = exists().where(
        EligibilityReverification.appointment_id == Appointment.id,
        EligibilityReverification.run_date == run_date,
    )
    q = (
        select(Appointment)
        .where(
            Appointment.starts_at >= start,
            Appointment.starts_at < start + dt.timedelta(days=1),
            Appointment.status == SCHEDULED,
            ~claimed_today,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(BATCH)
    )
    if dialect == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Appointment)
    repo = EligibilityRepository(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    out = []
    for appt in session.scalars(q).all():
        coverage_id = appt.coverage_id
        if coverage_id is None:
            cov = repo.primary_coverage(appt.patient_id, start.date())
            coverage_id = cov.id if cov else None
        if coverage_id is None:
            outcome = "no_coverage"
        elif repo.checked_since(coverage_id, fresh_since):
            outcome = "fresh"
        else:
            outcome = "claimed"
        rid = uuid7()
        stmt = (
            insert(EligibilityReverification)
            .values(id=rid, appointment_id=appt.id, run_date=run_date, outcome=outcome)
            .on_conflict_do_nothing(index_elements=["appointment_id", "run_date"])
            .returning(EligibilityReverification.id)
        )
        # RETURNING, not rowcount: through the ORM session PostgreSQL reports rowcount -1.
        if session.execute(stmt).scalar_one_or_none() is not None:
            out.append((rid, coverage_id if outcome == "claimed" else None, outcome))
    return out


def run_once(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    *,
    client: ClearinghouseClient | None = None,
) -> int:
    """Check tomorrow's appointments; returns how many checks were run."""
    client = client or build_clearinghouse(settings, factory)
    actor = Principal.system(username="eligibility-reverify")
    today = now.astimezone(dt.UTC).date()
    start = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    fresh_since = now - dt.timedelta(hours=settings.eligibility_reverify_fresh_hours)
    ran = 0
    while True:
        with unit_of_work(factory) as s:
            batch = _claim(s, start, today, fresh_since)
        if not batch:
            return ran
        for rid, coverage_id, _outcome in batch:
            if coverage_id is None:
                continue
            check_id: uuid.UUID | None = None
            try:
                check = service.run_check(
                    factory,
                    client,
                    actor,
                    service.CheckRequest(coverage_id, start.date()),
                    timeout_seconds=settings.clearinghouse_timeout_seconds,
                )
                check_id, outcome = check.id, "checked"
            except errors.ClearinghouseFailed as exc:
                check_id, outcome = uuid.UUID(str(exc.data["check_id"])), "checked"
            except DomainError:
                outcome = "failed"
            ran += 1
            with unit_of_work(factory) as s:
                s.execute(
                    update(EligibilityReverification)
                    .where(EligibilityReverification.id == rid)
                    .values(check_id=check_id, outcome=outcome)
                )
