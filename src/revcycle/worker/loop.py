"""The worker loop: every interval, each registered task runs once (its own transactions)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.kit.clock import utcnow
from revcycle.worker.registry import Task

log = logging.getLogger("revcycle.worker")


def run_pass(
    factory: sessionmaker[Session], settings: Settings, tasks: Sequence[Task]
) -> dict[str, int]:
    """Run every task once. A failing task is logged (its type only: messages may hold data)
    and does not stop the others; its work stays claimable for the next pass."""
    done: dict[str, int] = {}
    for task in tasks:
        try:
            done[task.name] = task.run_once(factory, settings, utcnow())
        except Exception as exc:  # noqa: BLE001 - one task's failure must not stop the worker
            log.error("worker task %s failed: %s", task.name, type(exc).__name__)
            done[task.name] = -1
    return done


def run_forever(
    factory: sessionmaker[Session],
    settings: Settings,
    tasks: Sequence[Task],
    *,
    interval: float,
    report: Callable[[dict[str, int]], None],
    passes: int | None = None,
) -> None:
    n = 0
    while passes is None or n < passes:
        report(run_pass(factory, settings, tasks))
        n += 1
        if passes is None or n < passes:
            time.sleep(interval)
