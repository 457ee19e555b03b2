"""The web UI: sign-in (with the TOTP step), sessions (cookies, idle and absolute timeouts,
rotation, logout), CSRF on every form, home pages, password change and TOTP enrolment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.models import User, WebSession
from revcycle.auth.sessions import PRE_SESSION_COOKIE, SESSION_COOKIE
from revcycle.config import Settings
from revcycle.db import Base
from revcycle.web import views
from tests.auth.helpers import (
    Clock,
    actions,
    client_with,
    code,
    last_event_id,
    secret_of,
    security_events,
)
from tests.factories.auth import PASSWORD, make_user
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW = "a brand new passphrase 42"


@pytest.fixture
def web(settings: Settings, factory: sessionmaker[Session]) -> Iterator[TestClient]:
    with client_with(settings, factory) as c:
        yield c


def csrf(html: str) -> str:
    m = CSRF.search(html)
    assert m, html
    return m.group(1)


def sign_in(web: TestClient, username: str, password: str = PASSWORD) -> Any:
    page = web.get("/login")
    return web.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    skip = {"audit_events", "audit_chain_heads", "login_throttles", "rate_limit_counters"}
    return {
        t: int(session.scalar(select(func.count()).select_from(Base.metadata.tables[t])) or 0)
        for t in Base.metadata.tables
        if t not in skip
    }


def live_sessions(session: Session, user: User) -> list[WebSession]:
    session.expire_all()
    return list(
        session.scalars(
            select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        ).all()
    )


def test_staff_sign_in_home_and_logout(session: Session, web: TestClient) -> None:
    practice = make_practice(session, name="Lakeside Clinic")
    staff = make_user(session, "billing_staff", practices=[practice])
    session.commit()
    assert web.get("/home", follow_redirects=False).headers["location"] == "/login"
    r = sign_in(web, staff.username)
    assert (r.status_code, r.headers["location"]) == (303, "/home")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    [row] = live_sessions(session, staff)
    assert row.token_hash != web.cookies[SESSION_COOKIE]
    assert len(row.token_hash) == 64
    home = web.get("/home")
    assert home.status_code == 200
    assert staff.username in home.text
    assert "Lakeside Clinic" in home.text
    assert "<script" not in home.text
    assert "style=" not in home.text
    r = web.post("/logout", data={"csrf_token": csrf(home.text)}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert live_sessions(session, staff) == []
    # the old cookie is dead server-side even if replayed
    replay = TestClient(web.app, base_url="https://testserver")
    replay.cookies.set(
        SESSION_COOKIE, r.request.headers["cookie"].split(SESSION_COOKIE + "=")[1].split(";")[0]
    )
    assert replay.get("/home", follow_redirects=False).status_code == 303


def test_patient_home_lists_their_open_invoices(session: Session, web: TestClient) -> None:
    practice = make_practice(session)
    guarantor = make_patient(session, practice, first_name="Gail", last_name="Guarantor")
    child = make_patient(session, practice, first_name="Kid", last_name="Dependant")
    child.guarantor_id = guarantor.id
    stranger = make_patient(session, practice, first_name="Zed", last_name="Other")
    mine = make_invoice(session, guarantor, lines=[line(price="90.00")])
    theirs = make_invoice(session, child, lines=[line(price="10.50")])
    hidden = make_invoice(session, stranger, lines=[line(price="77.00")])
    login = make_user(session, "patient", patient=guarantor)
    session.commit()
    assert sign_in(web, login.username).status_code == 303
    home = web.get("/home")
    assert home.status_code == 200
    assert mine.display_number in home.text
    assert theirs.display_number in home.text
    assert hidden.display_number not in home.text
    assert "77.00" not in home.text
    assert "100.50 USD" in home.text


def test_login_failures_render_the_form(session: Session, web: TestClient) -> None:
    staff = make_user(session, "billing_staff")
    session.commit()
    before = counts(session)
    r = sign_in(web, staff.username, "not the right one")
    assert r.status_code == 401
    assert 'data-code="auth.invalid_credentials"' in r.text
    assert "not the right one" not in r.text
    assert SESSION_COOKIE not in web.cookies
    assert counts(session) == before


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_login_form_needs_its_csrf_token(
    session: Session, web: TestClient, token: str | None
) -> None:
    staff = make_user(session, "billing_staff")
    session.commit()
    web.get("/login")
    before, start = counts(session), last_event_id(session)
    data = {"username": staff.username, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = web.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert 'data-code="csrf.invalid"' in r.text
    assert counts(session) == before
    assert actions(security_events(session, since_id=start)) == ["security:csrf_failed"]


def test_every_signed_in_form_needs_the_session_csrf_token(
    session: Session, web: TestClient
) -> None:
    staff = make_user(session, "billing_staff")
    session.commit()
    sign_in(web, staff.username)
    home = web.get("/home")
    good = csrf(home.text)
    forms: list[tuple[str, dict[str, str]]] = [
        ("/logout", {}),
        (
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW},
        ),
        ("/account/mfa/enrol", {}),
        ("/account/mfa/confirm", {"code": "123456"}),
        ("/account/mfa/disable", {"code": "123456"}),
    ]
    # a token of another session does not fit this one
    other = TestClient(web.app, base_url="https://testserver")
    sign_in(other, staff.username)
    foreign = csrf(other.get("/home").text)
    for path, data in forms:
        for bad in (None, "", "0" * 64, foreign):
            before, start = counts(session), last_event_id(session)
            body = dict(data) if bad is None else {**data, "csrf_token": bad}
            r = web.post(path, data=body, follow_redirects=False)
            assert r.status_code == 403, (path, bad, r.status_code)
            assert 'data-code="csrf.invalid"' in r.text
            assert counts(session) == before, path
            evs = security_events(session, since_id=start)
            assert actions(evs) == ["security:csrf_failed"]
            assert evs[0].actor_user_id == staff.id
            assert evs[0].detail["path"] == path
    session.refresh(staff)
    assert staff.totp_secret is None
    # and with the right token the session is still there
    r = web.post("/logout", data={"csrf_token": good}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_session_is_rotated_at_sign_in(session: Session, web: TestClient) -> None:
    """Fixation: whatever session token the browser holds when it signs in (planted or its own)
    is revoked, and the sign-in gets a new one."""
    staff = make_user(session, "billing_staff")
    session.commit()
    sign_in(web, staff.username)
    planted = web.cookies[SESSION_COOKIE]
    browser = TestClient(web.app, base_url="https://testserver")
    form = browser.get("/login")
    browser.cookies.set(SESSION_COOKIE, planted)
    r = browser.post(
        "/login",
        data={"username": staff.username, "password": PASSWORD, "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert f"{SESSION_COOKIE}={planted}" not in r.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in r.headers["set-cookie"]
    assert len(live_sessions(session, staff)) == 1
    attacker = TestClient(web.app, base_url="https://testserver")
    attacker.cookies.set(SESSION_COOKIE, planted)
    assert attacker.get("/home", follow_redirects=False).headers["location"] == "/login"
    # a made-up token is never adopted either
    victim = TestClient(web.app, base_url="https://testserver")
    victim.cookies.set(SESSION_COOKIE, "chosen-by-the-attacker")
    r = sign_in(victim, staff.username)
    assert r.status_code == 303
    assert f"{SESSION_COOKIE}=" in r.headers["set-cookie"]
    assert "chosen-by-the-attacker" not in r.headers["set-cookie"]


def test_idle_and_absolute_timeouts(
    session: Session, web: TestClient, settings: Settings, clock: Clock
) -> None:
    staff = make_user(session, "billing_staff")
    session.commit()
    sign_in(web, staff.username)
    idle = settings.web_session_idle_minutes
    clock.advance(minutes=idle - 1)
    assert web.get("/home").status_code == 200  # activity moves the idle deadline
    clock.advance(minutes=idle - 1)
    assert web.get("/home").status_code == 200
    start = last_event_id(session)
    clock.advance(minutes=idle)
    r = web.get("/home", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")
    evs = security_events(session, since_id=start)
    assert actions(evs) == ["security:session_expired"]
    assert evs[0].detail == {"channel": "web", "reason": "idle_timeout"}
    assert live_sessions(session, staff) == []

    # absolute: active all the time, still ends
    sign_in(web, staff.username)
    total = settings.web_session_absolute_minutes
    for _ in range(total // (idle - 1)):
        clock.advance(minutes=idle - 1)
        assert web.get("/home").status_code == 200
    start = last_event_id(session)
    clock.advance(minutes=idle - 1)
    assert web.get("/home", follow_redirects=False).status_code == 303
    assert security_events(session, since_id=start)[0].detail == {
        "channel": "web",
        "reason": "absolute_timeout",
    }


def test_totp_enrolment_and_the_sign_in_step(session: Session, web: TestClient) -> None:
    admin = make_user(session, "admin")
    session.commit()
    sign_in(web, admin.username)
    page = web.get("/account/mfa")
    assert "is <strong>off</strong>" in page.text
    r = web.post("/account/mfa/enrol", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 200
    assert 'src="data:image/svg+xml' in r.text
    uri = re.search(r'<code id="otpauth">([^<]+)</code>', r.text)
    assert uri
    secret = secret_of(uri.group(1).replace("&amp;", "&"))
    r = web.post("/account/mfa/confirm", data={"csrf_token": csrf(r.text), "code": code(secret)})
    assert r.status_code == 200
    assert "is <strong>on</strong>" in r.text
    web.post("/logout", data={"csrf_token": csrf(r.text)})

    r = sign_in(web, admin.username)
    assert (r.status_code, r.headers["location"]) == (303, "/login/totp")
    pending = web.cookies[SESSION_COOKIE]
    assert web.get("/home", follow_redirects=False).headers["location"] == "/login/totp"
    step = web.get("/login/totp")
    r = web.post("/login/totp", data={"csrf_token": csrf(step.text), "code": "000000"})
    assert r.status_code == 401
    assert 'data-code="auth.invalid_totp"' in r.text
    r = web.post(
        "/login/totp",
        data={"csrf_token": csrf(step.text), "code": code(secret, 1)},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/home")
    assert web.cookies[SESSION_COOKIE] != pending  # rotated again
    [row] = live_sessions(session, admin)
    assert (row.stage, row.mfa) == ("full", True)
    assert "with two-factor authentication" in web.get("/home").text


def test_change_password_on_the_web(session: Session, web: TestClient) -> None:
    staff = make_user(session, "billing_staff")
    session.commit()
    sign_in(web, staff.username)
    other = TestClient(web.app, base_url="https://testserver")
    sign_in(other, staff.username)
    page = web.get("/account/password")
    token = csrf(page.text)
    old_hash = staff.password_hash
    for data, expected in [
        (
            {"current_password": PASSWORD, "new_password": NEW, "confirm_password": "x"},
            "password.mismatch",
        ),
        (
            {"current_password": "wrong one!!", "new_password": NEW, "confirm_password": NEW},
            "auth.invalid_credentials",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": "Password1234",
                "confirm_password": "Password1234",
            },
            "password.common",
        ),
    ]:
        r = web.post("/account/password", data={**data, "csrf_token": token})
        assert f'data-code="{expected}"' in r.text, r.text
        assert data["new_password"] not in r.text
        session.refresh(staff)
        assert staff.password_hash == old_hash
    r = web.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW,
            "confirm_password": NEW,
            "csrf_token": token,
        },
    )
    assert r.status_code == 200
    assert 'id="notice"' in r.text
    assert web.get("/home").status_code == 200  # this session stays
    assert other.get("/home", follow_redirects=False).status_code == 303  # the other one ended
    assert sign_in(other, staff.username, NEW).status_code == 303


def test_web_routes_refuse_anonymous_callers(session: Session, web: TestClient) -> None:
    """Every HTML route: anonymous GETs go to the sign-in page, anonymous POSTs write nothing."""
    html_routes = [
        (m, r.path)  # type: ignore[attr-defined]
        for r in views.router.routes
        for m in r.methods  # type: ignore[attr-defined]
    ]
    assert all(r.include_in_schema is False for r in views.router.routes)  # type: ignore[attr-defined]
    mine = {p for _m, p in html_routes}
    assert mine == {
        "/login",
        "/login/totp",
        "/logout",
        "/home",
        "/account/password",
        "/account/mfa",
        "/account/mfa/enrol",
        "/account/mfa/confirm",
        "/account/mfa/disable",
    }
    before = counts(session)
    for method, path in html_routes:
        if path not in mine or path == "/login":
            continue
        r = web.request(method, path, data={"csrf_token": "x"}, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, "/login"), (method, path)
    assert counts(session) == before
    assert PRE_SESSION_COOKIE in web.get("/login").headers["set-cookie"]
