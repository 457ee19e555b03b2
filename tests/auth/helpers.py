"""Shared helpers for identity tests: security events, TOTP codes, a movable clock."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit.models import AuditEvent
from revcycle.auth import totp
from revcycle.kit.clock import utcnow

CLOCK_USERS = (
    "revcycle.auth.flows",
    "revcycle.auth.service",
    "revcycle.web.views",
)


def security_events(session: Session, *, since_id: int = 0) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.category == "security", AuditEvent.id > since_id)
            .order_by(AuditEvent.id)
        ).all()
    )


def last_event_id(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0)


def actions(evs: list[AuditEvent]) -> list[str]:
    return [e.action for e in evs]


def secret_of(otpauth_uri: str) -> bytes:
    raw = parse_qs(urlparse(otpauth_uri).query)["secret"][0]
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def code(secret: bytes, offset: int = 0, now: dt.datetime | None = None) -> str:
    return totp.code_at(secret, totp.step_at(now or utcnow()) + offset)


class Clock:
    """Replaces ``utcnow`` in the modules that read the time for sessions and lockouts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> None:
        self.now = start
        for module in CLOCK_USERS:
            monkeypatch.setattr(f"{module}.utcnow", self)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: Any) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    return Clock(monkeypatch, utcnow().replace(microsecond=0))


def client_with(settings: Any, factory: Any, **overrides: Any) -> Any:
    """A TestClient for an app built with changed settings (use as a context manager)."""
    from fastapi.testclient import TestClient

    from revcycle.app import create_app

    app = create_app(settings.model_copy(update=overrides), session_factory=factory)
    return TestClient(app, raise_server_exceptions=False, base_url="https://testserver")
