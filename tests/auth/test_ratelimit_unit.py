"""Fixed windows and whole-second rounding (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from revcycle.auth.ratelimit import ceil_seconds, window_start


@pytest.mark.parametrize(
    ("when", "seconds", "start"),
    [
        ((12, 34, 56, 789), 60, (12, 34, 0)),
        ((12, 34, 0, 0), 60, (12, 34, 0)),
        ((12, 34, 59, 999_999), 60, (12, 34, 0)),
        ((12, 34, 56, 0), 3600, (12, 0, 0)),
        ((0, 0, 1, 0), 900, (0, 0, 0)),
    ],
)
def test_window_start(
    when: tuple[int, int, int, int], seconds: int, start: tuple[int, int, int]
) -> None:
    now = dt.datetime(2026, 11, 27, *when, tzinfo=dt.UTC)
    assert window_start(now, seconds) == dt.datetime(2026, 11, 27, *start, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (dt.timedelta(0), 0),
        (dt.timedelta(microseconds=1), 1),
        (dt.timedelta(seconds=59), 59),
        (dt.timedelta(seconds=59, microseconds=1), 60),
        (dt.timedelta(days=1, seconds=2), 86_402),
    ],
)
def test_ceil_seconds(delta: dt.timedelta, expected: int) -> None:
    assert ceil_seconds(delta) == expected
