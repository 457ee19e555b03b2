"""Sign-in lockout with exponential back-off, kept in the database (``login_throttles``) so that
every API process counts the same failures; row locks (``FOR UPDATE``; ``BEGIN IMMEDIATE`` on
SQLite) settle concurrent attempts.

Each attempt is *reserved* before the password is checked: the key's counter goes up in its own
short transaction, and attempts beyond the threshold are refused while earlier ones are still in
flight, so parallel guessing cannot overshoot the limit. The outcome then settles the reservation:

* success      -> the account key starts over; the address key gives the reservation back
* not a guess  -> (right password, TOTP code still to come) both keys give it back
* failure      -> the reservation stays a failure; reaching the threshold locks the key for
                  ``base * 2**lock_count`` seconds (capped); the next lock after it doubles.

Keys: ``acct:<HMAC of the folded user name>`` (the same for existing and unknown names, so a lock
reveals nothing, and no name is stored) and ``addr:<client address>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from revcycle.auth import keys
from revcycle.auth.models import LoginThrottle
from revcycle.auth.ratelimit import ceil_seconds
from revcycle.config import Settings
from revcycle.kit.upsert import insert_ignore


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    threshold: int
    scope: str  # "account" or "address"


@dataclass(frozen=True)
class Locked:
    key: ThrottleKey
    seconds: int
    lock_count: int


def account_key(settings: Settings, username: str) -> str:
    return "acct:" + keys.mac(settings, "login-throttle", username.strip().casefold())[:40]


def keys_for(settings: Settings, username: str, client_addr: str | None) -> list[ThrottleKey]:
    return [
        ThrottleKey(account_key(settings, username), settings.lockout_threshold, "account"),
        ThrottleKey(
            f"addr:{client_addr or 'unknown'}"[:100], settings.lockout_addr_threshold, "address"
        ),
    ]


def backoff_seconds(settings: Settings, lock_count: int) -> int:
    base = settings.lockout_base_seconds
    return int(min(base * 2 ** min(lock_count, 30), settings.lockout_max_seconds))


def _rows(session: Session, ks: Sequence[ThrottleKey], now: dt.datetime) -> list[LoginThrottle]:
    """The keys' rows, created when missing, locked, in key order (one lock order: no deadlock)."""
    ordered = sorted({k.key for k in ks})
    for _attempt in range(2):
        for key in ordered:
            insert_ignore(
                session,
                LoginThrottle,
                {
                    "key": key,
                    "failures": 0,
                    "lock_count": 0,
                    "locked_until": None,
                    "updated_at": now,
                },
                ["key"],
            )
        rows = session.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.key.in_(ordered))
            .order_by(LoginThrottle.key)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if len(rows) == len(ordered):
            break
        # ``purge_stale`` deleted a stale row between the INSERT (which found it, so took no
        # lock) and the SELECT: insert it afresh; the purge never takes a row touched now.
    by_key = {r.key: r for r in rows}
    return [by_key[k.key] for k in ks]


def _retry_after(until: dt.datetime, now: dt.datetime) -> int:
    return max(1, ceil_seconds(until - now))


def reserve(
    session: Session, settings: Settings, ks: Sequence[ThrottleKey], now: dt.datetime
) -> int | None:
    """Count this attempt up front. Returns the seconds to wait when a key is locked (nothing is
    counted then), or None."""
    rows = _rows(session, ks, now)
    wait = 0
    for k, row in zip(ks, rows, strict=True):
        if row.locked_until is not None and row.locked_until <= now:
            row.failures, row.locked_until = 0, None  # the lock was served: a fresh window
        if row.locked_until is not None:
            wait = max(wait, _retry_after(row.locked_until, now))
        elif row.failures >= k.threshold:  # earlier attempts still in flight fill the quota
            wait = max(wait, backoff_seconds(settings, row.lock_count))
    if wait:
        session.flush()
        return wait
    for row in rows:
        row.failures += 1
        row.updated_at = now
    session.flush()
    return None


def release(session: Session, ks: Sequence[ThrottleKey], now: dt.datetime) -> None:
    """Give the reservation back (the attempt was neither a success nor a failure)."""
    for row in _rows(session, ks, now):
        row.failures = max(0, row.failures - 1)
        row.updated_at = now
    session.flush()


def succeed(session: Session, ks: Sequence[ThrottleKey], now: dt.datetime) -> None:
    for k, row in zip(ks, _rows(session, ks, now), strict=True):
        if k.scope == "account":
            row.failures, row.lock_count, row.locked_until = 0, 0, None
        else:
            row.failures = max(0, row.failures - 1)
        row.updated_at = now
    session.flush()


def fail(
    session: Session, settings: Settings, ks: Sequence[ThrottleKey], now: dt.datetime
) -> list[Locked]:
    """The reserved attempt failed: lock each key that has reached its threshold."""
    locked = []
    for k, row in zip(ks, _rows(session, ks, now), strict=True):
        row.updated_at = now
        if row.failures >= k.threshold and (row.locked_until is None or row.locked_until <= now):
            seconds = backoff_seconds(settings, row.lock_count)
            row.locked_until = now + dt.timedelta(seconds=seconds)
            row.lock_count += 1
            locked.append(Locked(k, seconds, row.lock_count))
    session.flush()
    return locked


def unlock(session: Session, settings: Settings, username: str, now: dt.datetime) -> None:
    """An administrator lifts the lock on a user name."""
    key = account_key(settings, username)
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is not None:
        row.failures, row.lock_count, row.locked_until, row.updated_at = 0, 0, None, now
        session.flush()


def purge_stale(session: Session, *, before: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` rows untouched since ``before`` whose lock (if any) ended before
    it: no lock in force, and the failures and back-off they hold are forgotten. The caller keeps
    ``before`` at least ``LOCKOUT_MAX_SECONDS`` in the past (docs/identity.md). ``SKIP LOCKED``
    on PostgreSQL: a key a sign-in holds is left for the next run (SQLite serialises writers)."""
    stale = (
        LoginThrottle.updated_at < before,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < before),
    )
    keys = session.scalars(
        select(LoginThrottle.key)
        .where(*stale)
        .order_by(LoginThrottle.key)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not keys:
        return 0
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys), *stale))
    return int(result.rowcount)  # type: ignore[attr-defined]
