"""Fixed-window rate limits counted in the database (``rate_limit_counters``): one atomic upsert
per request, so several API processes share one count."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from revcycle.auth.models import RateLimitCounter
from revcycle.kit.upsert import insert_or_update

# Windows divide the UTC day (``window_start``): a counter whose window started longer ago than
# this has ended, whatever the rule.
LONGEST_WINDOW = dt.timedelta(days=1)


def ceil_seconds(delta: dt.timedelta) -> int:
    """Whole seconds, rounded up (integer arithmetic)."""
    whole = delta.days * 86_400 + delta.seconds
    return whole + (1 if delta.microseconds else 0)


def window_start(now: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the fixed window holding ``now`` (windows divide the UTC day evenly)."""
    assert 86_400 % seconds == 0, "a window must divide the day"
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    into_day = now.hour * 3600 + now.minute * 60 + now.second
    return now - dt.timedelta(seconds=into_day % seconds)


def hit(
    session: Session, bucket: str, *, limit: int, window_seconds: int, now: dt.datetime
) -> tuple[int, int | None]:
    """Count one request. Returns (the count in this window, seconds to wait when over the limit
    or None)."""
    start = window_start(now, window_seconds)
    stmt = insert_or_update(
        session,
        RateLimitCounter,
        {"bucket": bucket, "window_start": start, "count": 1},
        ["bucket", "window_start"],
        {"count": RateLimitCounter.count + 1},
    ).returning(RateLimitCounter.count)
    count = int(session.execute(stmt).scalar_one())
    if count == 1:  # first hit of a new window: forget the bucket's older windows
        session.execute(
            delete(RateLimitCounter).where(
                RateLimitCounter.bucket == bucket, RateLimitCounter.window_start < start
            )
        )
    if count <= limit:
        return count, None
    end = start + dt.timedelta(seconds=window_seconds)
    return count, max(1, ceil_seconds(end - now))


def purge_stale(session: Session, *, before: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` counters whose window started before ``before`` (the caller keeps
    ``before`` at least ``LONGEST_WINDOW`` in the past, so those windows have ended and no
    request counts in them again). ``SKIP LOCKED`` on PostgreSQL: rows a request is touching are
    left for the next run, so a purge never waits on, or deadlocks with, the API."""
    keys = session.execute(
        select(RateLimitCounter.bucket, RateLimitCounter.window_start)
        .where(RateLimitCounter.window_start < before)
        .order_by(RateLimitCounter.bucket, RateLimitCounter.window_start)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not keys:
        return 0
    result = session.execute(
        delete(RateLimitCounter).where(
            tuple_(RateLimitCounter.bucket, RateLimitCounter.window_start).in_(
                [tuple(k) for k in keys]
            ),
            RateLimitCounter.window_start < before,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
