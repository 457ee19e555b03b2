"""TOTP enrolment, sign-in with the code, replay refusal, tokens that record MFA, password change,
credentials for admins, rate limits and security headers (API)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.models import ApiToken, User
from revcycle.auth.permissions import Action
from revcycle.auth.service import authenticate, hash_token
from revcycle.config import Settings
from revcycle.errors import Forbidden
from tests.auth.helpers import actions, client_with, code, last_event_id, secret_of, security_events
from tests.factories.auth import PASSWORD, auth_header, make_user
from tests.factories.practices import make_practice

NEW = "a brand new passphrase 42"


def token_for(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(
        "/api/v1/auth/token", data={"username": username, "password": password, **extra}
    )


def enrol(client: TestClient, headers: dict[str, str]) -> bytes:
    r = client.post("/api/v1/auth/totp/enrolment", headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"otpauth_uri", "qr_svg_data_uri"}
    assert body["qr_svg_data_uri"].startswith("data:image/svg+xml")
    secret = secret_of(body["otpauth_uri"])
    r = client.post("/api/v1/auth/totp/confirm", json={"code": code(secret)}, headers=headers)
    assert r.status_code == 204, r.text
    return secret


def test_totp_enrolment_and_sign_in(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    headers = auth_header(session, admin)
    session.commit()
    start = last_event_id(session)
    secret = enrol(client, headers)
    session.refresh(admin)
    assert admin.totp_enabled_at is not None
    assert admin.totp_secret is not None
    assert secret not in admin.totp_secret

    # password alone is no longer enough; nothing issued, not counted as a failure
    before = session.scalars(select(ApiToken.id)).all()
    r = token_for(client, admin.username)
    assert (r.status_code, r.json()["code"]) == (401, "auth.totp_required")
    r = token_for(client, admin.username, totp="000000")
    assert (r.status_code, r.json()["code"]) == (401, "auth.invalid_totp")
    # the code used for confirming cannot be used again (replay); the next one can
    r = token_for(client, admin.username, totp=code(secret))
    assert (r.status_code, r.json()["code"]) == (401, "auth.invalid_totp")
    session.expire_all()
    assert session.scalars(select(ApiToken.id)).all() == before
    r = token_for(client, admin.username, totp=code(secret, 1))
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["mfa"] is True
    p = authenticate(session, token)
    assert p.mfa is True
    p.require(Action.MONEY_APPROVE)
    # the old token (password only) is not MFA
    old = authenticate(session, headers["Authorization"].removeprefix("Bearer "))
    assert old.mfa is False
    with pytest.raises(Forbidden) as exc:
        old.require(Action.MONEY_APPROVE)
    assert exc.value.code == "auth.mfa_required"
    evs = actions(security_events(session, since_id=start))
    assert evs == [
        "security:mfa_enrolled",
        "security:mfa_failed",
        "security:mfa_failed",
        "security:login_succeeded",
    ]


def test_totp_state_refusals_and_disable(session: Session, client: TestClient) -> None:
    staff = make_user(session, "insurance_specialist")
    headers = auth_header(session, staff)
    session.commit()
    r = client.post("/api/v1/auth/totp/confirm", json={"code": "123456"}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "totp.not_pending")
    r = client.post("/api/v1/auth/totp/disable", json={"code": "123456"}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "totp.not_enrolled")
    r = client.post("/api/v1/auth/totp/enrolment", headers=headers)
    secret = secret_of(r.json()["otpauth_uri"])
    r = client.post("/api/v1/auth/totp/confirm", json={"code": "000000"}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (400, "totp.invalid_code")
    session.refresh(staff)
    assert staff.totp_enabled_at is None
    assert (
        client.post(
            "/api/v1/auth/totp/confirm", json={"code": code(secret)}, headers=headers
        ).status_code
        == 204
    )
    r = client.post("/api/v1/auth/totp/enrolment", headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "totp.already_enrolled")
    r = client.post("/api/v1/auth/totp/disable", json={"code": "000000"}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, "auth.invalid_totp")
    r = client.post("/api/v1/auth/totp/disable", json={"code": code(secret, 1)}, headers=headers)
    assert r.status_code == 204, r.text
    session.refresh(staff)
    assert (staff.totp_secret, staff.totp_enabled_at, staff.totp_last_step) == (None, None, None)
    assert token_for(client, staff.username).status_code == 200


def test_change_password(session: Session, client: TestClient) -> None:
    user = make_user(session, "billing_staff")
    headers = auth_header(session, user)
    other = auth_header(session, user)
    session.commit()
    old_hash = user.password_hash
    for body, expected in [
        (
            {"current_password": "not it at all!", "new_password": NEW},
            (401, "auth.invalid_credentials"),
        ),
        ({"current_password": PASSWORD, "new_password": "short one"}, (400, "password.too_short")),
        ({"current_password": PASSWORD, "new_password": "Password1234"}, (400, "password.common")),
        (
            {"current_password": PASSWORD, "new_password": user.username * 3},
            (400, "password.same_as_username"),
        ),
    ]:
        r = client.post("/api/v1/auth/password", json=body, headers=headers)
        assert (r.status_code, r.json()["code"]) == expected
        assert body["new_password"] not in r.text
        assert body["current_password"] not in r.text
        session.refresh(user)
        assert user.password_hash == old_hash
    start = last_event_id(session)
    r = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW},
        headers=headers,
    )
    assert r.status_code == 204, r.text
    session.refresh(user)
    assert user.password_hash != old_hash
    assert user.password_changed_at is not None
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200  # this one stays
    assert client.get("/api/v1/auth/me", headers=other).status_code == 401  # the others go
    assert token_for(client, user.username).status_code == 401
    assert token_for(client, user.username, NEW).status_code == 200
    assert "security:password_changed" in actions(security_events(session, since_id=start))


def test_logout_credentials_and_unlock(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    staff = make_user(session, "billing_staff", practices=[practice])
    admin_h = auth_header(session, admin)
    staff_h = auth_header(session, staff)
    session.commit()
    r = client.get(f"/api/v1/users/{staff.id}/credentials", headers=admin_h)
    assert r.status_code == 200
    [cred] = r.json()
    assert (cred["kind"], cred["mfa"]) == ("api_token", False)
    assert staff_h["Authorization"].removeprefix("Bearer ") not in r.text
    stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.id == uuid.UUID(cred["id"])))
    assert stored == hash_token(staff_h["Authorization"].removeprefix("Bearer "))
    for _ in range(5):
        token_for(client, staff.username, "wrong wrong wrong")
    assert token_for(client, staff.username).status_code == 429
    assert client.post(f"/api/v1/users/{staff.id}/unlock", headers=admin_h).status_code == 204
    fresh = token_for(client, staff.username)
    assert fresh.status_code == 200
    r = client.post(f"/api/v1/users/{staff.id}/credentials/revoke", headers=admin_h)
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me", headers=staff_h).status_code == 401
    fresh_h = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=fresh_h).status_code == 401
    assert client.get(f"/api/v1/users/{staff.id}/credentials", headers=admin_h).json() == []
    # logout revokes the presented token only
    assert client.post("/api/v1/auth/logout", headers=admin_h).status_code == 204
    assert client.get("/api/v1/auth/me", headers=admin_h).status_code == 401


def test_patient_login_is_unique_per_patient(session: Session, client: TestClient) -> None:
    from tests.factories.patients import make_patient

    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    patient = make_patient(session, practice)
    make_user(session, "patient", patient=patient)
    headers = auth_header(session, admin)
    session.commit()
    count = len(session.scalars(select(User.id)).all())
    r = client.post(
        "/api/v1/users",
        json={
            "username": "second.login",
            "password": NEW,
            "role": "patient",
            "patient_id": str(patient.id),
        },
        headers=headers,
    )
    assert (r.status_code, r.json()["code"]) == (409, "user.patient_has_login")
    assert len(session.scalars(select(User.id)).all()) == count


def test_payment_rate_limit(
    session: Session, settings: Settings, factory: sessionmaker[Session]
) -> None:
    user = make_user(session, "billing_staff")
    headers = auth_header(session, user)
    session.commit()
    start = last_event_id(session)
    with client_with(settings, factory, rate_limit_payments_per_minute=2) as client:
        codes = [
            client.post("/api/v1/payments", json={}, headers=headers).status_code for _ in range(4)
        ]
        r = client.post("/api/v1/payments", json={}, headers=headers)
        other = client.get("/api/v1/payments", headers=headers)
    # the first two reach the endpoint (and fail validation); the rest are refused first
    assert codes[:2] == [422, 422]
    assert codes[2:] == [429, 429]
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert other.status_code == 200  # reads are not limited
    evs = security_events(session, since_id=start)
    assert actions(evs) == ["security:rate_limited"]  # once per window
    assert evs[0].detail == {"rule": "payments", "limit": 2, "window_seconds": 60}


def test_login_rate_limit(settings: Settings, factory: sessionmaker[Session]) -> None:
    with client_with(settings, factory, rate_limit_login_per_minute=1) as client:
        first = token_for(client, "nobody-here", "whatever it is")
        second = token_for(client, "nobody-here", "whatever it is")
    assert first.json()["code"] == "auth.invalid_credentials"
    assert (second.status_code, second.json()["code"]) == (429, "rate_limited")


def test_security_headers(
    client: TestClient, settings: Settings, factory: sessionmaker[Session]
) -> None:
    r = client.get("/healthz")
    csp = r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in r.headers  # plain http
    with client_with(settings, factory) as tls:  # https://testserver
        assert tls.get("/healthz").headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
    docs = client.get("/docs")
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
    with client_with(settings, factory, tls_behind_proxy=True) as proxied:
        proxied.base_url = proxied.base_url.copy_with(scheme="http")
        assert "strict-transport-security" in proxied.get("/healthz").headers
