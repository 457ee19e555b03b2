"""The test gateway's webhook outbox: events queued with the change that caused them
(:func:`queue_event`), then drained with retries, as a real gateway does.

* Claim: due events (``status`` pending and ``next_attempt_at`` unset or past), oldest first,
  locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers with BEGIN
  IMMEDIATE), and leased for :data:`LEASE` by moving ``next_attempt_at`` forward, all in one short
  transaction: several workers never send the same event at once, and an event whose worker died
  is taken again when the lease runs out. No transaction is open while sending.
* After a failed attempt (non-2xx, or no answer) the next one waits an exponential back-off with
  "equal jitter": half of ``min(CAP, BASE * 2**(attempts-1))`` plus a share of the other half
  derived from a hash of the event id and the attempt number — deterministic (no module state,
  no random generator), yet spread out so events that failed together don't retry together.
* After :data:`MAX_ATTEMPTS` failures the event is ``dead`` (kept, never sent again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.gateway import signing
from revcycle.gateway.testgw.models import TestgwWebhook
from revcycle.kit.clock import utcnow

BASE = dt.timedelta(seconds=30)
CAP = dt.timedelta(hours=6)
MAX_ATTEMPTS = 8
LEASE = dt.timedelta(seconds=60)

Send = Callable[[bytes, dict[str, str]], int]


def new_id(prefix: str) -> str:
    """A gateway-style object id (``evt_...``, ``ch_...``, ``btok_...``)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def event_row(event_type: str, data: dict[str, object]) -> dict[str, object]:
    """The outbox row of one event (column -> value): the exact JSON body that is signed and
    sent later."""
    event_id = new_id("evt")
    now = utcnow()
    body = {"id": event_id, "type": event_type, "created": int(now.timestamp()), "data": data}
    return {
        "id": event_id,
        "type": event_type,
        "payload": json.dumps(body, separators=(",", ":"), sort_keys=True),
        "created_at": now,
    }


def queue_event(session: Session, event_type: str, data: dict[str, object]) -> None:
    """Put an event in the outbox, in the caller's transaction."""
    session.add(TestgwWebhook(**event_row(event_type, data)))


@dataclass(frozen=True)
class Delivered:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


def backoff(event_id: str, attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based), in whole milliseconds."""
    ceiling_ms = int(min(CAP, BASE * 2 ** max(attempts - 1, 0)) / dt.timedelta(milliseconds=1))
    half = ceiling_ms // 2
    spread = int.from_bytes(hashlib.sha256(f"{event_id}:{attempts}".encode()).digest()[:8])
    return dt.timedelta(milliseconds=half + spread % (ceiling_ms - half + 1))


def claim(factory: sessionmaker[Session], *, now: dt.datetime, limit: int) -> list[str]:
    with unit_of_work(factory) as s:
        q = (
            select(TestgwWebhook)
            .where(
                TestgwWebhook.status == "pending",
                or_(TestgwWebhook.next_attempt_at.is_(None), TestgwWebhook.next_attempt_at <= now),
            )
            .order_by(TestgwWebhook.created_at, TestgwWebhook.id)
            .limit(limit)
        )
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = list(s.scalars(q))
        for row in rows:
            row.next_attempt_at = now + LEASE
        return [r.id for r in rows]


def _record(factory: sessionmaker[Session], event_id: str, status: int, now: dt.datetime) -> str:
    with unit_of_work(factory) as s:
        row = s.get(TestgwWebhook, event_id)
        assert row is not None
        row.attempts += 1
        row.last_status = status
        if 200 <= status < 300:
            row.status, row.delivered_at, row.next_attempt_at = "delivered", now, None
        elif row.attempts >= MAX_ATTEMPTS:
            row.status, row.next_attempt_at = "dead", None
        else:
            row.next_attempt_at = now + backoff(row.id, row.attempts)
        return row.status


def deliver(
    factory: sessionmaker[Session],
    *,
    secret: str,
    send: Send,
    now: dt.datetime | None = None,
    limit: int = 100,
) -> Delivered:
    """Send the due events once each, signed at send time; record each attempt's result."""
    now = now or utcnow()
    delivered = failed = dead = 0
    for event_id in claim(factory, now=now, limit=limit):
        with unit_of_work(factory) as s:
            row = s.get(TestgwWebhook, event_id)
            assert row is not None
            body = row.payload.encode()
        header = signing.sign(secret, body, int(utcnow().timestamp()))
        try:
            status = send(body, {signing.HEADER: header, "Content-Type": "application/json"})
        except OSError:
            status = 0
        outcome = _record(factory, event_id, status, now)
        if outcome == "delivered":
            delivered += 1
        else:
            failed += 1
            dead += outcome == "dead"
    return Delivered(delivered, failed, dead)


def http_sender(url: str, timeout: float = 10) -> Send:
    def send(body: bytes, headers: dict[str, str]) -> int:
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - configured
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    return send


def run_once(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:
    """One worker tick: deliver the due events to ``settings.gateway_webhook_url``. Returns how
    many events were attempted (for the worker's idle back-off)."""
    result = deliver(
        factory,
        secret=settings.gateway_webhook_secret.get_secret_value(),
        send=http_sender(settings.gateway_webhook_url),
        now=now,
    )
    return result.delivered + result.failed
