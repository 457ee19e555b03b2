"""`revcycle auth purge-counters`: stale login throttles and ended rate-limit windows are deleted
in batches (exact counts); rows that can still matter stay, untouched; a sign-in whose throttle
row a purge deletes mid-flight still counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.auth import throttle
from revcycle.auth.models import LoginThrottle, RateLimitCounter
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import Settings, get_settings
from revcycle.db import unit_of_work
from revcycle.kit import upsert

NOW = dt.datetime(2026, 11, 20, 12, 0, 30, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)

Committed = tuple[str, Engine, sessionmaker[Session]]


@pytest.fixture
def cli(committed_db: Committed, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    monkeypatch.setattr("revcycle.auth.commands.utcnow", lambda: NOW)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


@dataclass(frozen=True)
class Spec:
    key: str
    updated: dt.timedelta  # this long before NOW
    locked_until: dt.timedelta | None = None  # this long before NOW (negative: after)

    def row(self) -> LoginThrottle:
        return LoginThrottle(
            key=self.key,
            failures=3,
            lock_count=2,
            updated_at=NOW - self.updated,
            locked_until=None if self.locked_until is None else NOW - self.locked_until,
        )

    def expected(self) -> tuple[Any, ...]:
        row = self.row()
        return (row.key, 3, 2, row.updated_at, row.locked_until)


# kept with the default retention (24 h) and LOCKOUT_MAX_SECONDS (1 h)
KEPT_THROTTLES = [
    Spec("acct:recent", updated=1 * H),
    Spec("acct:just-inside", updated=24 * H - M),
    Spec("acct:lock-ended-recently", updated=72 * H, locked_until=12 * H),
    Spec("acct:still-locked", updated=48 * H, locked_until=-1 * H),
]
STALE_THROTTLES = [
    Spec("acct:just-outside", updated=24 * H + M),
    Spec("addr:10.0.0.1", updated=30 * 24 * H),
    Spec("acct:lock-long-over", updated=50 * H, locked_until=49 * H),
] + [Spec(f"addr:192.0.2.{i}", updated=25 * H) for i in range(22)]  # 25 stale in all

KEPT_COUNTERS = [
    ("login:addr:10.0.0.1", NOW.replace(second=0)),  # the current window
    ("login:addr:10.0.0.2", NOW.replace(second=0) - 23 * H),
    ("payments:tok:abc", NOW.replace(second=0) - 24 * H + M),
]
STALE_COUNTERS = [
    ("payments:tok:abc", NOW.replace(second=0) - 24 * H - M),
    ("login:addr:10.0.0.2", NOW.replace(second=0) - 72 * H),
] + [(f"login:addr:198.51.100.{i}", NOW.replace(second=0) - 26 * H) for i in range(21)]  # 23


def _seed(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as s:
        s.add_all(spec.row() for spec in KEPT_THROTTLES + STALE_THROTTLES)
        s.add_all(
            RateLimitCounter(bucket=b, window_start=w, count=7)
            for b, w in KEPT_COUNTERS + STALE_COUNTERS
        )


def _state(factory: sessionmaker[Session]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with factory() as s:
        throttles = s.execute(
            select(
                LoginThrottle.key,
                LoginThrottle.failures,
                LoginThrottle.lock_count,
                LoginThrottle.updated_at,
                LoginThrottle.locked_until,
            ).order_by(LoginThrottle.key)
        ).all()
        counters = s.execute(
            select(
                RateLimitCounter.bucket, RateLimitCounter.window_start, RateLimitCounter.count
            ).order_by(RateLimitCounter.bucket, RateLimitCounter.window_start)
        ).all()
    return [tuple(r) for r in throttles], [tuple(r) for r in counters]


def _expected(
    throttles: list[Spec], counters: list[tuple[str, dt.datetime]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return (
        sorted(spec.expected() for spec in throttles),
        sorted((b, w, 7) for b, w in counters),
    )


def test_purge_deletes_only_what_can_no_longer_matter(
    cli: CliRunner, committed_db: Committed
) -> None:
    factory = committed_db[2]
    _seed(factory)

    r = cli.invoke(app, ["auth", "purge-counters", "--batch-size", "10"])

    assert r.exit_code == 0, r.output
    assert r.output == (
        "purged 25 login throttle(s) untouched since 2026-11-19 12:00 UTC and 23 rate-limit "
        "counter(s) from windows before 2026-11-19 12:00 UTC\n"
    )
    assert _state(factory) == _expected(KEPT_THROTTLES, KEPT_COUNTERS)
    # nothing left to do
    r = cli.invoke(app, ["auth", "purge-counters"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("purged 0 login throttle(s) ")
    assert " and 0 rate-limit counter(s) " in r.output
    assert _state(factory) == _expected(KEPT_THROTTLES, KEPT_COUNTERS)


def test_retention_never_undercuts_the_longest_lock_or_window(
    cli: CliRunner, committed_db: Committed, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = committed_db[2]
    _seed(factory)
    monkeypatch.setenv("REVCYCLE_LOCKOUT_MAX_SECONDS", str(2 * 24 * 3600))  # a 2-day cap
    get_settings.cache_clear()

    r = cli.invoke(app, ["auth", "purge-counters", "--older-than-hours", "1"])

    assert r.exit_code == 0, r.output
    # throttles: kept for 2 days (the longest lock); counters: for a day (the longest window)
    assert r.output == (
        "purged 2 login throttle(s) untouched since 2026-11-18 12:00 UTC and 23 rate-limit "
        "counter(s) from windows before 2026-11-19 12:00 UTC\n"
    )
    gone = {"addr:10.0.0.1", "acct:lock-long-over"}  # untouched 30 d / 50 h, no lock since
    assert _state(factory) == _expected(
        [t for t in KEPT_THROTTLES + STALE_THROTTLES if t.key not in gone], KEPT_COUNTERS
    )


def test_refused_options_change_nothing(cli: CliRunner, committed_db: Committed) -> None:
    factory = committed_db[2]
    _seed(factory)
    before = _state(factory)
    for args in (["--older-than-hours", "0"], ["--batch-size", "0"]):
        r = cli.invoke(app, ["auth", "purge-counters", *args])
        assert r.exit_code == 2, r.output
    assert _state(factory) == before


def test_a_sign_in_survives_a_purge_between_its_insert_and_its_lock(
    session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge (committed in between, simulated here) deletes the stale row that the sign-in's
    INSERT ... ON CONFLICT DO NOTHING found; the sign-in inserts it afresh and counts."""
    key = throttle.keys_for(settings, "someone", "10.9.8.7")[0]
    session.add(Spec(key.key, updated=30 * 24 * H).row())
    session.flush()
    calls = 0
    original = upsert.insert_ignore

    def racing_insert_ignore(s: Session, model: Any, values: Any, index_elements: Any) -> None:
        nonlocal calls
        calls += 1
        original(s, model, values, index_elements)
        if calls == 1:
            assert throttle.purge_stale(s, before=NOW - 24 * H, limit=10) == 1

    monkeypatch.setattr(throttle, "insert_ignore", racing_insert_ignore)

    assert throttle.reserve(session, settings, [key], NOW) is None

    assert calls == 2
    row = session.get_one(LoginThrottle, key.key)
    assert (row.failures, row.lock_count, row.locked_until, row.updated_at) == (1, 0, None, NOW)
