"""Pausing Python's cyclic garbage collector around allocation-heavy batch work.

A batch (an autopay claim or settle of hundreds of rows, an 835 parse) allocates many short-lived
containers and creates no reference cycles that matter: reference counting frees them. With the
collector running, those allocations trigger generation-2 passes over every object in the process
(SQLAlchemy's metadata, the app), which cost more than the batch's own work. Paused, the collector
runs again at the end of the batch. Safe with threads: whoever found it enabled re-enables it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
