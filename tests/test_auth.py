"""Sign-in, bearer tokens, the permission matrix and user management."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.auth import errors, service
from revcycle.auth.models import ApiToken, User
from revcycle.auth.permissions import MATRIX, Action, Role, allowed
from revcycle.auth.principal import Principal
from revcycle.errors import Forbidden
from revcycle.kit.clock import utcnow
from tests.factories.auth import HASHER, PASSWORD, auth_header, make_user
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

NEW_PASSWORD = "a long enough passphrase"


def problem(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["code"]


# login (service) -------------------------------------------------------------------------------


def test_login_issues_a_hashed_token(session: Session) -> None:
    user = make_user(session, "billing_staff")
    assert user.last_login_at is None
    before = utcnow()
    issued = service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=90)
    session.flush()
    assert len(issued.token) >= 43  # 32 random bytes, url-safe base64
    assert issued.ttl_seconds == 5400
    assert before + dt.timedelta(minutes=90) <= issued.expires_at
    assert issued.expires_at <= utcnow() + dt.timedelta(minutes=90)
    stored = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all()
    assert [t.token_hash for t in stored] == [hashlib.sha256(issued.token.encode()).hexdigest()]
    assert issued.token not in {t.token_hash for t in stored}
    assert user.last_login_at is not None
    p = service.authenticate(session, issued.token)
    assert (p.user_id, p.username, p.role) == (user.id, user.username, Role.BILLING_STAFF)
    audit.flush_pending(session)  # audit events are appended to their chain at COMMIT
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))
    ).all()
    assert "security:login_succeeded" in actions


def test_login_username_is_case_insensitive(session: Session) -> None:
    user = make_user(session, "billing_staff", username="Dana.Smith")
    assert user.username == "dana.smith"
    issued = service.login(session, "DANA.SMITH", PASSWORD, HASHER, ttl_minutes=5)
    session.flush()
    assert service.authenticate(session, issued.token).user_id == user.id


@pytest.mark.parametrize("case", ["wrong_password", "unknown_user", "inactive_user"])
def test_login_refusals_are_indistinguishable(session: Session, case: str) -> None:
    user = make_user(session, "billing_staff")
    username, password = user.username, PASSWORD
    if case == "wrong_password":
        password = "not the password at all"
    elif case == "unknown_user":
        username = "nobody-by-that-name"
    else:
        user.active = False
        session.flush()
    tokens_before = session.scalar(select(func.count()).select_from(ApiToken))
    with pytest.raises(errors.InvalidCredentials) as exc:
        service.login(session, username, password, HASHER, ttl_minutes=5)
    assert (exc.value.code, exc.value.status, exc.value.message) == (
        "auth.invalid_credentials",
        401,
        "Incorrect username or password",
    )
    assert exc.value.data == {}
    session.flush()
    assert session.scalar(select(func.count()).select_from(ApiToken)) == tokens_before


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.calls: list[str] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.calls.append("hash")
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        self.calls.append("verify")
        return super().verify(hash, password)


def test_unknown_user_costs_the_same_argon2_work_as_a_wrong_password(session: Session) -> None:
    """The dummy verification exists so usernames cannot be found by timing; it must cost what a
    real verification costs (one argon2 operation), not a hash plus a verify."""
    user = make_user(session, "billing_staff")
    hasher = CountingHasher()
    for _ in range(2):  # the first call may build (and cache) a dummy hash
        hasher.calls.clear()
        with pytest.raises(errors.InvalidCredentials):
            service.login(session, "nobody-by-that-name", PASSWORD, hasher, ttl_minutes=5)
    unknown = list(hasher.calls)
    hasher.calls.clear()
    with pytest.raises(errors.InvalidCredentials):
        service.login(session, user.username, "not the password at all", hasher, ttl_minutes=5)
    assert unknown == hasher.calls == ["verify"]


def test_expired_token_is_refused(session: Session) -> None:
    user = make_user(session, "billing_staff")
    issued = service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=0)
    with pytest.raises(errors.InvalidToken) as exc:
        service.authenticate(session, issued.token)
    assert (exc.value.code, exc.value.status) == ("auth.invalid_token", 401)


def test_token_expiry_is_enforced(session: Session) -> None:
    user = make_user(session, "billing_staff")
    issued = service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=60)
    session.flush()
    assert service.authenticate(session, issued.token).user_id == user.id
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id)
        .values(expires_at=utcnow() - dt.timedelta(seconds=1))
    )
    with pytest.raises(errors.InvalidToken) as exc:
        service.authenticate(session, issued.token)
    assert exc.value.code == "auth.invalid_token"


def test_deactivated_user_token_is_refused(session: Session) -> None:
    user = make_user(session, "billing_staff")
    issued = service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=60)
    user.active = False
    session.flush()
    with pytest.raises(errors.InvalidToken):
        service.authenticate(session, issued.token)


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(session: Session, token: str | None) -> None:
    with pytest.raises(errors.InvalidToken) as exc:
        service.authenticate(session, token)
    assert (exc.value.code, exc.value.status) == ("auth.unauthenticated", 401)


# the permission matrix -------------------------------------------------------------------------

# The matrix as specified; MATRIX must agree with it exactly.
EXPECTED_DENIED: dict[Role, set[Action]] = {
    Role.ADMIN: set(),
    Role.BILLING_STAFF: {
        Action.PRACTICE_CREATE,
        Action.PRACTICE_UPDATE,
        Action.USER_MANAGE,
        Action.AUDIT_READ,
        Action.SECURITY_READ,
        Action.MONEY_APPROVE,
        Action.FRAUD_REVIEW,
        Action.PAYER_WRITE,
        Action.AUTHORIZATION_WRITE,
        Action.CLAIM_RULES_WRITE,
        Action.APPEAL_WRITE,
    },
    Role.INSURANCE_SPECIALIST: {
        Action.PRACTICE_CREATE,
        Action.PRACTICE_UPDATE,
        Action.PROVIDER_WRITE,
        Action.CATALOG_WRITE,
        Action.INVOICE_WRITE,
        Action.INVOICE_ISSUE,
        Action.INVOICE_VOID,
        Action.INVOICE_ADJUST,
        Action.INVOICE_WRITE_OFF,
        Action.PAYMENT_RECORD,
        Action.PAYMENT_REFUND,
        Action.APPROVAL_READ,
        Action.LEDGER_READ,
        Action.USER_MANAGE,
        Action.AUDIT_READ,
        Action.SECURITY_READ,
        Action.MONEY_APPROVE,
        Action.PLAN_WRITE,
        Action.PLAN_ACCEPT,
        Action.PAYMENT_METHOD_WRITE,
        Action.CASH_RECONCILE,
        Action.FRAUD_READ,
        Action.FRAUD_REVIEW,
        Action.RECONCILIATION_READ,
        Action.CLAIM_RULES_WRITE,
    },
    Role.PATIENT: set(Action)
    - {
        Action.PRACTICE_READ,
        Action.PATIENT_READ,
        Action.INVOICE_READ,
        Action.PAYMENT_READ,
        Action.STATEMENT_READ,
        Action.PLAN_READ,
        Action.PLAN_ACCEPT,
        Action.PAYMENT_METHOD_WRITE,
        Action.COVERAGE_READ,
        Action.ESTIMATE_READ,
        Action.CLAIM_READ,
    },
}


def test_matrix_matches_the_specification() -> None:
    assert set(MATRIX) == set(Role)
    for role in Role:
        assert set(Action) - MATRIX[role] == EXPECTED_DENIED[role], role


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_principal_require(role: Role, action: Action) -> None:
    principal = Principal(uuid.uuid4(), "someone", role, mfa=True)
    assert allowed(role.value, action) is (action in MATRIX[role])
    if action in MATRIX[role]:
        principal.require(action)
        return
    with pytest.raises(Forbidden) as exc:
        principal.require(action)
    assert (exc.value.code, exc.value.status) == ("auth.forbidden", 403)
    assert exc.value.data == {"action": action.value}
    assert exc.value.message == f"Your role ({role.value}) may not perform {action.value}"


def test_unknown_role_is_allowed_nothing() -> None:
    assert not any(allowed("superuser", a) for a in Action)
    assert not any(allowed("", a) for a in Action)


def test_system_principal_sees_everything() -> None:
    system = Principal.system()
    assert (system.user_id, system.username, system.role, system.practice_ids) == (
        None,
        "system",
        Role.ADMIN,
        None,
    )
    assert system.sees_practice(uuid.uuid4())
    for action in Action:
        system.require(action)


# the HTTP API ----------------------------------------------------------------------------------


def test_token_endpoint_and_me(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    user = make_user(session, "billing_staff", practices=[practice])
    session.commit()
    r = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 8 * 60 * 60
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user_id": str(user.id),
        "username": user.username,
        "role": "billing_staff",
        "practice_ids": [str(practice.id)],
        "patient_ids": [],
        "mfa": False,
    }


def test_me_for_a_patient(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    user = make_user(session, "patient", patient=patient)
    headers = auth_header(session, user)
    session.commit()
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json() == {
        "user_id": str(user.id),
        "username": user.username,
        "role": "patient",
        "practice_ids": [str(practice.id)],
        "patient_ids": [str(patient.id)],
        "mfa": False,
    }


@pytest.mark.parametrize("case", ["wrong_password", "unknown_user"])
def test_token_endpoint_refusals_are_identical(
    session: Session, client: TestClient, case: str
) -> None:
    user = make_user(session, "billing_staff")
    session.commit()
    form = {"username": user.username, "password": PASSWORD}
    if case == "wrong_password":
        form["password"] = "not the password at all"
    else:
        form["username"] = "nobody-by-that-name"
    r = client.post("/api/v1/auth/token", data=form)
    assert problem(r) == (401, "auth.invalid_credentials")
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert (body["title"], body["detail"]) == (
        "Authentication required",
        "Incorrect username or password",
    )
    assert "data" not in body


def test_token_endpoint_needs_both_fields(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "someone"})
    assert problem(r) == (422, "request.missing_field")


def test_expired_token_over_http(session: Session, client: TestClient) -> None:
    user = make_user(session, "billing_staff")
    issued = service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=0)
    session.commit()
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert problem(r) == (401, "auth.invalid_token")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "auth.unauthenticated"),
        ({"Authorization": "Bearer not-a-real-token"}, "auth.invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "auth.unauthenticated"),
    ],
)
def test_me_without_a_valid_token(client: TestClient, headers: dict[str, str], code: str) -> None:
    r = client.get("/api/v1/auth/me", headers=headers)
    assert problem(r) == (401, code)


def test_logout_revokes_only_that_token(session: Session, client: TestClient) -> None:
    user = make_user(session, "billing_staff")
    first = auth_header(session, user)
    second = auth_header(session, user)
    session.commit()
    assert client.get("/api/v1/auth/me", headers=first).status_code == 200
    r = client.post("/api/v1/auth/logout", headers=first)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert problem(client.get("/api/v1/auth/me", headers=first)) == (401, "auth.invalid_token")
    assert problem(client.post("/api/v1/auth/logout", headers=first)) == (
        401,
        "auth.invalid_token",
    )
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200
    revoked = session.scalars(select(ApiToken.revoked_at).where(ApiToken.user_id == user.id)).all()
    assert sorted(r is None for r in revoked) == [False, True]


# user management -------------------------------------------------------------------------------


def _new_user(practice_id: object, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "username": "new.staff",
        "password": NEW_PASSWORD,
        "role": "billing_staff",
        "practice_ids": [str(practice_id)],
    }
    body.update(extra)
    return body


def _user_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def test_admin_creates_a_user(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    headers = auth_header(session, admin)
    session.commit()
    r = client.post("/api/v1/users", json=_new_user(practice.id), headers=headers)
    assert r.status_code == 201, r.text
    stored = session.scalar(select(User).where(User.username == "new.staff"))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert NEW_PASSWORD not in stored.password_hash
    assert service.practice_ids_of(session, stored) == {practice.id}
    body = r.json()
    assert body.pop("id") == str(stored.id)
    dt.datetime.fromisoformat(body.pop("created_at"))
    # the response shows the assignment just made
    assert body == {
        "username": "new.staff",
        "role": "billing_staff",
        "patient_id": None,
        "active": True,
        "practice_ids": [str(practice.id)],
    }
    login = client.post(
        "/api/v1/auth/token", data={"username": "new.staff", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200, login.text


@pytest.mark.parametrize("role", ["billing_staff", "insurance_specialist"])
def test_non_admin_cannot_create_users(session: Session, client: TestClient, role: str) -> None:
    practice = make_practice(session)
    actor = make_user(session, role, practices=[practice])
    headers = auth_header(session, actor)
    session.commit()
    before = _user_count(session)
    r = client.post("/api/v1/users", json=_new_user(practice.id), headers=headers)
    assert problem(r) == (403, "auth.forbidden")
    assert _user_count(session) == before


def test_patient_cannot_create_users(session: Session, client: TestClient) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    actor = make_user(session, "patient", patient=patient)
    headers = auth_header(session, actor)
    session.commit()
    r = client.post("/api/v1/users", json=_new_user(practice.id), headers=headers)
    assert problem(r) == (403, "auth.forbidden")


@pytest.mark.parametrize("username", ["new.staff", "New.Staff"])
def test_duplicate_username(session: Session, client: TestClient, username: str) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    make_user(session, "billing_staff", username="new.staff")
    headers = auth_header(session, admin)
    session.commit()
    before = _user_count(session)
    r = client.post(
        "/api/v1/users", json=_new_user(practice.id, username=username), headers=headers
    )
    assert problem(r) == (409, "user.username_taken")
    assert _user_count(session) == before


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"username": "ab"}, "request.invalid"),
        ({"username": "has space"}, "request.invalid"),
        ({"role": "superuser"}, "request.invalid"),
        ({"role": "patient"}, "request.invalid"),  # a patient login needs a patient_id
        ({"is_admin": True}, "request.unknown_field"),
    ],
)
def test_invalid_user_payloads(
    session: Session, client: TestClient, extra: dict[str, object], code: str
) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    headers = auth_header(session, admin)
    session.commit()
    before = _user_count(session)
    r = client.post("/api/v1/users", json=_new_user(practice.id, **extra), headers=headers)
    assert problem(r) == (422, code)
    assert _user_count(session) == before


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("x" * 11, "password.too_short"),
        ("x" * 129, "password.too_long"),
        ("Password1234", "password.common"),
        ("newuser", "password.too_short"),
        ("NewUserNewUser", "password.same_as_username"),
    ],
)
def test_password_policy_on_user_creation(
    session: Session, client: TestClient, password: str, code: str
) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    headers = auth_header(session, admin)
    session.commit()
    before = _user_count(session)
    r = client.post(
        "/api/v1/users",
        json=_new_user(practice.id, username="newuser", password=password),
        headers=headers,
    )
    assert problem(r) == (400, code)
    assert password not in r.text
    assert _user_count(session) == before


def test_password_of_exactly_twelve_characters_is_accepted(
    session: Session, client: TestClient
) -> None:
    practice = make_practice(session)
    admin = make_user(session, "admin", practices=[practice])
    headers = auth_header(session, admin)
    session.commit()
    r = client.post(
        "/api/v1/users", json=_new_user(practice.id, password="x" * 12), headers=headers
    )
    assert r.status_code == 201, r.text


def test_admin_cannot_assign_a_practice_outside_their_scope(
    session: Session, client: TestClient
) -> None:
    mine = make_practice(session)
    other = make_practice(session)
    admin = make_user(session, "admin", practices=[mine])
    headers = auth_header(session, admin)
    session.commit()
    before = _user_count(session)
    r = client.post("/api/v1/users", json=_new_user(other.id), headers=headers)
    assert problem(r) == (404, "practice.not_found")
    assert _user_count(session) == before
