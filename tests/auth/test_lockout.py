"""Lockout with back-off (per user name and per client address), in the database, with security
events that survive the refused request."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth import errors, flows, service, throttle
from revcycle.auth.models import ApiToken, LoginThrottle
from revcycle.config import Settings
from revcycle.db import unit_of_work
from tests.auth.helpers import (
    Clock,
    actions,
    client_with,
    last_event_id,
    security_events,
)
from tests.conftest import test_settings as settings_for
from tests.factories.auth import HASHER, PASSWORD, make_user

WRONG = "definitely not the password"


def login(client: TestClient, username: str, password: str, **extra: str) -> Any:
    return client.post(
        "/api/v1/auth/token", data={"username": username, "password": password, **extra}
    )


def tokens(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(ApiToken)) or 0)


def test_five_failures_lock_the_name_for_a_minute(
    session: Session, client: TestClient, clock: Clock
) -> None:
    user = make_user(session, "billing_staff")
    session.commit()
    start = last_event_id(session)
    for _ in range(5):
        r = login(client, user.username, WRONG)
        assert (r.status_code, r.json()["code"]) == (401, "auth.invalid_credentials")
    before = tokens(session)
    r = login(client, user.username, PASSWORD)  # even the right password now waits
    assert (r.status_code, r.json()["code"]) == (429, "auth.locked")
    assert r.headers["retry-after"] == "60"
    assert r.json()["data"] == {"retry_after": 60}
    assert tokens(session) == before
    evs = security_events(session, since_id=start)
    assert actions(evs) == ["security:login_failed"] * 5 + [
        "security:login_locked",
        "security:login_failed",
    ]
    assert {e.actor_user_id for e in evs[:6]} == {user.id}
    assert evs[5].detail == {"scope": "account", "seconds": 60, "lock_count": 1, "channel": "api"}
    assert evs[6].detail == {"code": "auth.locked", "channel": "api", "retry_after": 60}
    assert all(WRONG not in str(e.detail) and PASSWORD not in str(e.detail) for e in evs)

    clock.advance(seconds=59)
    assert login(client, user.username, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    r = login(client, user.username, PASSWORD)
    assert r.status_code == 200, r.text
    assert tokens(session) == before + 1
    row = session.get(LoginThrottle, throttle.account_key(settings_for("x"), user.username))
    assert row is not None
    session.refresh(row)
    assert (row.failures, row.lock_count, row.locked_until) == (0, 0, None)


def test_back_off_doubles_and_is_capped(
    session: Session, factory: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    user = make_user(session, "billing_staff")
    session.commit()
    expected = [60, 120, 240, 480, 960, 1920, 3600, 3600]
    with client_with(settings, factory, rate_limit_login_per_minute=0) as client:
        for seconds in expected:
            for _ in range(5):
                assert login(client, user.username, WRONG).status_code == 401
            r = login(client, user.username, WRONG)
            assert (r.status_code, r.headers["retry-after"]) == (429, str(seconds))
            clock.advance(seconds=seconds)
    assert throttle.backoff_seconds(settings, 0) == 60
    assert throttle.backoff_seconds(settings, 100) == 3600


def test_unknown_names_lock_the_same_way_and_are_never_stored(
    session: Session, client: TestClient
) -> None:
    start = last_event_id(session)
    name = "someone.private@example.org"
    for _ in range(5):
        assert login(client, name, WRONG).json()["code"] == "auth.invalid_credentials"
    r = login(client, name, WRONG)
    assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (429, "auth.locked", "60")
    evs = security_events(session, since_id=start)
    assert actions(evs)[:6] == ["security:login_failed"] * 5 + ["security:login_locked"]
    assert all(e.actor_user_id is None for e in evs)
    hmacs = {e.detail["username_hmac"] for e in evs[:5] if e.detail}
    assert len(hmacs) == 1
    assert len(next(iter(hmacs))) == 16
    stored = " ".join(
        str(v) for e in evs for v in (e.detail, e.object_id, e.object_type, e.fields)
    ) + " ".join(session.scalars(select(LoginThrottle.key)).all())
    assert "someone" not in stored
    assert "example.org" not in stored


def test_success_resets_the_count(session: Session, client: TestClient) -> None:
    user = make_user(session, "billing_staff")
    session.commit()
    for _ in range(4):
        assert login(client, user.username, WRONG).status_code == 401
    assert login(client, user.username, PASSWORD).status_code == 200
    for _ in range(4):
        assert login(client, user.username, WRONG).status_code == 401
    assert login(client, user.username, PASSWORD).status_code == 200


def test_per_address_lock(
    session: Session, settings: Settings, factory: sessionmaker[Session]
) -> None:
    """Many names from one address: the address locks at its own threshold."""
    s = settings.model_copy(update={"lockout_addr_threshold": 3})
    user = make_user(session, "billing_staff")
    session.commit()

    def attempt(name: str, password: str) -> str:
        def work(ss: Session, _o: flows.Outcome) -> None:
            service.verify_password(ss, name, password, HASHER)

        try:
            flows.guarded(factory, s, flows.Attempt(name, "198.51.100.7", None, "api"), work)
        except (errors.InvalidCredentials, errors.AccountLocked) as exc:
            return exc.code
        return "ok"

    assert [attempt(f"guess{i}", WRONG) for i in range(3)] == ["auth.invalid_credentials"] * 3
    assert attempt(user.username, PASSWORD) == "auth.locked"  # a fresh name, same address
    ok = flows.guarded(
        factory,
        s,
        flows.Attempt(user.username, "203.0.113.9", None, "api"),
        lambda ss, _o: service.verify_password(ss, user.username, PASSWORD, HASHER).username,
    )
    assert ok == user.username


def test_lockout_is_shared_by_two_processes(
    committed_db: tuple[str, Engine, sessionmaker[Session]], backend: str
) -> None:
    """Two engines (two API processes) alternate wrong passwords: one count, one lock."""
    url, _engine, factory_a = committed_db
    from revcycle.db import make_engine

    engine_b = make_engine(url, pool_size=2)
    factory_b = sessionmaker(bind=engine_b, expire_on_commit=False, autoflush=False)
    settings = settings_for(url)
    with unit_of_work(factory_a) as s:
        user = make_user(s, "billing_staff")
        name = user.username
    outcomes = []
    try:
        for i in range(6):
            factory = factory_a if i % 2 == 0 else factory_b

            def work(ss: Session, _o: flows.Outcome) -> None:
                service.verify_password(ss, name, WRONG, HASHER)

            try:
                flows.guarded(
                    factory, settings, flows.Attempt(name, f"10.0.0.{i}", None, "api"), work
                )
            except (errors.InvalidCredentials, errors.AccountLocked) as exc:
                outcomes.append(exc.code)
        with unit_of_work(factory_b) as s:
            row = s.get(LoginThrottle, throttle.account_key(settings, name))
            assert row is not None
            assert (row.failures, row.lock_count) == (5, 1)
            assert row.locked_until is not None
            assert row.locked_until > row.updated_at - dt.timedelta(seconds=1)
    finally:
        engine_b.dispose()
    assert outcomes == ["auth.invalid_credentials"] * 5 + ["auth.locked"]
