"""The daily re-verification (eligibility.tasks.run_once): tomorrow's scheduled appointments get
exactly one check each; cancelled, other days' and freshly checked ones are skipped; a second run
the same day does nothing; concurrent workers check each appointment exactly once; the CLI."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.appointments.models import CANCELLED, SCHEDULED, Appointment
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import Settings, get_settings
from revcycle.db import unit_of_work
from revcycle.eligibility import service, tasks
from revcycle.eligibility.models import EligibilityCheck, EligibilityReverification
from revcycle.kit.clock import utcnow
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice, Provider
from tests.factories.eligibility import make_coverage
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice, make_provider


def _count(session: Session, model: object, *where: object) -> int:
    q = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
    return int(session.scalar(q) or 0)


def _tomorrow(now: dt.datetime, hour: int, minute: int = 0) -> dt.datetime:
    day = now.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def _appt(
    session: Session,
    provider: Provider,
    patient: Patient,
    starts_at: dt.datetime,
    *,
    status: str = SCHEDULED,
    coverage_id: uuid.UUID | None = None,
) -> Appointment:
    a = Appointment(
        practice_id=patient.practice_id,
        patient_id=patient.id,
        provider_id=provider.id,
        coverage_id=coverage_id,
        starts_at=starts_at,
        status=status,
    )
    session.add(a)
    session.flush()
    return a


@dataclass
class World:
    practice: Practice
    provider: Provider
    appts: dict[str, Appointment] = field(default_factory=dict)
    coverages: dict[str, uuid.UUID] = field(default_factory=dict)


def _world(session: Session, now: dt.datetime) -> World:
    practice = make_practice(session)
    w = World(practice, make_provider(session, practice))

    def patient(member_id: str | None) -> Patient:
        p = make_patient(session, practice)
        if member_id is not None:
            w.coverages[member_id] = make_coverage(session, p, member_id=member_id).id
        return p

    # primary coverage found for the day
    w.appts["primary"] = _appt(session, w.provider, patient("W900"), _tomorrow(now, 9))
    # the appointment names its coverage
    p = patient("W901")
    w.appts["named"] = _appt(
        session, w.provider, p, _tomorrow(now, 9, 30), coverage_id=w.coverages["W901"]
    )
    # the clearinghouse times out: a check stored as error, the appointment still handled
    w.appts["timeout"] = _appt(session, w.provider, patient("W902XTO"), _tomorrow(now, 10))
    w.appts["cancelled"] = _appt(
        session, w.provider, patient("W903"), _tomorrow(now, 11), status=CANCELLED
    )
    w.appts["no_coverage"] = _appt(session, w.provider, patient(None), _tomorrow(now, 12))
    fresh = patient("W904")
    service.run_check_in(
        session,
        SimulatorClearinghouse(session=session),
        SYSTEM,
        service.CheckRequest(w.coverages["W904"], now.date()),
    )
    w.appts["fresh"] = _appt(session, w.provider, fresh, _tomorrow(now, 13))
    later = patient("W905")
    w.appts["day_after"] = _appt(
        session, w.provider, later, _tomorrow(now, 9) + dt.timedelta(days=1)
    )
    w.appts["today"] = _appt(session, w.provider, later, _tomorrow(now, 9) - dt.timedelta(days=1))
    # the last minute of tomorrow counts; midnight after it does not
    w.appts["late"] = _appt(
        session, w.provider, patient("W906"), _tomorrow(now, 23, 59) + dt.timedelta(seconds=59)
    )
    return w


def _outcomes(session: Session) -> dict[uuid.UUID, tuple[str, uuid.UUID | None]]:
    return {
        r.appointment_id: (r.outcome, r.check_id)
        for r in session.scalars(select(EligibilityReverification))
    }


def test_tomorrows_appointments_are_checked_once(
    factory: sessionmaker[Session], session: Session, settings: Settings
) -> None:
    now = utcnow()
    w = _world(session, now)
    session.commit()
    before = _count(session, EligibilityCheck)
    assert before == 1  # the fresh one

    ran = tasks.run_once(factory, settings, now, client=SimulatorClearinghouse(factory))

    assert ran == 4  # primary, named, timeout, late
    s = factory()
    got = _outcomes(s)
    a = w.appts
    assert {k: got[a[k].id][0] for k in a if a[k].id in got} == {
        "primary": "checked",
        "named": "checked",
        "timeout": "checked",
        "late": "checked",
        "fresh": "fresh",
        "no_coverage": "no_coverage",
    }
    assert got[a["fresh"].id][1] is None
    assert got[a["no_coverage"].id][1] is None
    checks = {c.id: c for c in s.scalars(select(EligibilityCheck))}
    assert len(checks) == before + 4
    tomorrow = _tomorrow(now, 0).date()
    by_cov = {}
    for key in ("primary", "named", "timeout", "late"):
        check = checks[got[a[key].id][1]]  # type: ignore[index]
        assert check.service_date == tomorrow
        assert check.patient_id == a[key].patient_id
        assert (check.requested_by, check.requested_by_name) == (None, "eligibility-reverify")
        by_cov[key] = (check.coverage_id, check.status, check.error_code)
    assert by_cov == {
        "primary": (w.coverages["W900"], "active", None),
        "named": (w.coverages["W901"], "active", None),
        "timeout": (w.coverages["W902XTO"], "error", "clearinghouse.timeout"),
        "late": (w.coverages["W906"], "active", None),
    }
    s.close()

    # the same day again: nothing to claim, nothing checked, nothing written
    assert tasks.run_once(factory, settings, now, client=SimulatorClearinghouse(factory)) == 0
    assert (
        tasks.run_once(
            factory, settings, now + dt.timedelta(minutes=5), client=SimulatorClearinghouse(factory)
        )
        == 0
    )
    s = factory()
    assert _count(s, EligibilityCheck) == before + 4
    assert _count(s, EligibilityReverification) == 6
    s.close()


def test_a_claim_is_unique_per_appointment_and_day(
    factory: sessionmaker[Session], session: Session, settings: Settings
) -> None:
    """A row for today already there (another worker's insert landed first): not claimed again,
    whatever the first SELECT saw."""
    now = utcnow()
    practice = make_practice(session)
    provider = make_provider(session, practice)
    patient = make_patient(session, practice)
    make_coverage(session, patient, member_id="W950")
    appt = _appt(session, provider, patient, _tomorrow(now, 9))
    start = _tomorrow(now, 0)
    fresh_since = now - dt.timedelta(hours=24)
    first = tasks._claim(session, start, now.date(), fresh_since)
    assert [o for _, _, o in first] == ["claimed"]
    assert tasks._claim(session, start, now.date(), fresh_since) == []
    assert _count(session, EligibilityReverification) == 1
    assert _count(session, EligibilityCheck) == 0
    assert appt.id is not None


def test_many_workers_check_each_appointment_exactly_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]], backend: str
) -> None:
    url, _, factory = committed_db
    settings = Settings(environment="test", database_url=url, db_pool_size=5)
    now = utcnow()
    n_appts = 2 * tasks.BATCH + 5  # several batches per worker
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        provider = make_provider(s, practice)
        ids = []
        for i in range(n_appts):
            p = make_patient(s, practice)
            make_coverage(s, p, member_id=f"W{7000 + i}")
            ids.append(_appt(s, provider, p, _tomorrow(now, 8 + i % 10, i % 60)).id)
    workers = 4 if backend == "postgresql" else 2
    barrier = threading.Barrier(workers)

    def one(_: int) -> int:
        barrier.wait()
        return tasks.run_once(factory, settings, now, client=SimulatorClearinghouse(factory))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        ran = list(pool.map(one, range(workers)))
    assert sum(ran) == n_appts
    with unit_of_work(factory) as s:
        per_cov = Counter(s.scalars(select(EligibilityCheck.coverage_id)))
        assert len(per_cov) == n_appts
        assert set(per_cov.values()) == {1}
        rows = s.scalars(select(EligibilityReverification)).all()
        assert Counter(r.appointment_id for r in rows) == dict.fromkeys(ids, 1)
        assert {r.outcome for r in rows} == {"checked"}
        assert len({r.check_id for r in rows}) == n_appts
        assert _count(s, EligibilityCheck, EligibilityCheck.status == "active") == n_appts
    assert tasks.run_once(factory, settings, now, client=SimulatorClearinghouse(factory)) == 0


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cli_reverify_tomorrow(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]
) -> None:
    factory = committed_db[2]
    now = utcnow()
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        provider = make_provider(s, practice)
        for i in range(2):
            p = make_patient(s, practice)
            make_coverage(s, p, member_id=f"W96{i}")
            _appt(s, provider, p, _tomorrow(now, 9 + i))
    r = cli.invoke(app, ["eligibility", "reverify-tomorrow"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "2 eligibility checks run"
    r = cli.invoke(app, ["eligibility", "reverify-tomorrow"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "0 eligibility checks run"
    with unit_of_work(factory) as s:
        assert _count(s, EligibilityCheck) == 2
        assert _count(s, EligibilityReverification) == 2
