"""The worker's task registry: periodic tasks, each ``run_once(factory, settings, now) -> int``
(units of work done). Domains keep their task functions (``<domain>/tasks`` or the like); this
list is the one place they are registered -- no import-time side effects, no module state.
Add a line to :func:`default_tasks` to register a new task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals import tasks as appeals_tasks
from revcycle.claims import tasks as claims_tasks
from revcycle.config import Settings
from revcycle.eligibility import tasks as eligibility_tasks
from revcycle.fraud import tasks as fraud_tasks
from revcycle.gateway.factory import build_gateway
from revcycle.gateway.testgw import bank as testgw_bank
from revcycle.gateway.testgw import delivery as testgw_delivery
from revcycle.payments.bank import recover_pending_bank
from revcycle.payments.card import recover_pending
from revcycle.plans import autopay
from revcycle.refunds.card import recover_pending_refunds
from revcycle.remittances import tasks as remittances_tasks

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
    """Gateway calls whose outcome is unknown (timeouts), bank debits still processing or
    inside their return window, pending card refunds: asked of the gateway again."""
    gateway = build_gateway(settings, factory)
    age = dt.timedelta(seconds=60)
    counts = recover_pending(factory, gateway, older_than=age)
    bank = recover_pending_bank(factory, gateway, older_than=age)
    refunds = recover_pending_refunds(factory, gateway, older_than=age)
    return sum(counts.values()) + sum(bank.values()) + sum(refunds.values())


def _deliver_webhooks(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:
    """The built-in test gateway's outbox (with back-off): its events to our receiver."""
    if settings.gateway != "test":  # pragma: no cover - the only gateway today
        return 0
    return testgw_delivery.run_once(factory, settings, now)


def _settle_bank(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:
    """The built-in test gateway's simulated bank network: settles (or returns) due debits."""
    if settings.gateway != "test":  # pragma: no cover - the only gateway today
        return 0
    return sum(testgw_bank.settle(factory, now.date()).values())


def _fraud_rules(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:
    """The after-the-fact fraud rules (refund ratio, invoice paid twice): new reviews."""
    return sum(fraud_tasks.run_once(factory, settings, now).values())


def default_tasks() -> list[Task]:
    return [
        Task("plans.autopay", autopay.run_once),
        Task("plans.missed", autopay.run_missed),
        Task("gateway.recover_pending", _recover_pending),
        Task("gateway.deliver_webhooks", _deliver_webhooks),
        Task("testgw.settle_bank", _settle_bank),
        Task("fraud.after_the_fact", _fraud_rules),
        Task("eligibility.reverify_tomorrow", eligibility_tasks.run_once),
        Task("claims.submit", claims_tasks.submit_run_once),
        Task("claims.acknowledgements", claims_tasks.acknowledgements_run_once),
        Task("remittances.collect", remittances_tasks.collect_run_once),
        Task("appeals.reminders", appeals_tasks.run_reminders),
        Task("claims.build_secondaries", appeals_tasks.build_secondaries),
    ]
