"""Time helpers: aware UTC only."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    return utcnow().date()
