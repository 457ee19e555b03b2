"""The worker's task registry: periodic tasks, each ``run_once(factory, settings, now) -> int``
(units of work done). Domains keep their task functions (``<domain>/tasks`` or the like); this
list is the one place they are registered -- no import-time side effects, no module state.
Add a line to :func:`default_tasks` to register a new task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.gateway.commands import _post
from revcycle.gateway.factory import build_gateway
from revcycle.gateway.testgw.service import deliver_webhooks
from revcycle.payments.card import recover_pending
from revcycle.plans import autopay
from revcycle.refunds.card import recover_pending_refunds

RunOnce = Callable[[sessionmaker[Session], Settings, dt.datetime], int]


@dataclass(frozen=True)
class Task:
    name: str
    run_once: RunOnce


def _recover_pending(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,  # noqa: ARG001
) -> int:
    gateway = build_gateway(settings, factory)
    age = dt.timedelta(seconds=60)
    counts = recover_pending(factory, gateway, older_than=age)
    refunds = recover_pending_refunds(factory, gateway, older_than=age)
    return sum(counts.values()) + sum(refunds.values())


def _deliver_webhooks(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,  # noqa: ARG001
) -> int:
    if settings.gateway != "test":  # pragma: no cover - the only gateway today
        return 0
    sent, failed = deliver_webhooks(
        factory,
        secret=settings.gateway_webhook_secret.get_secret_value(),
        send=_post(settings.gateway_webhook_url),  # type: ignore[arg-type]
    )
    return sent + failed


def default_tasks() -> list[Task]:
    return [
        Task("plans.autopay", autopay.run_once),
        Task("plans.missed", autopay.run_missed),
        Task("gateway.recover_pending", _recover_pending),
        Task("gateway.deliver_webhooks", _deliver_webhooks),
    ]
