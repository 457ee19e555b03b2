"""Users, password checks (argon2id) and opaque bearer tokens stored as SHA-256 hashes."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth import errors
from revcycle.auth.models import ApiToken, User, UserPractice
from revcycle.auth.permissions import Action, Role
from revcycle.auth.principal import Principal
from revcycle.auth.repository import AuthRepository, TokenUser
from revcycle.auth.schemas import UserCreate, UserUpdate
from revcycle.config import Settings
from revcycle.kit.clock import utcnow
from revcycle.patients.repository import PatientRepository
from revcycle.practices.repository import PracticeRepository

# A valid hash of a random password: verifying against it when the user does not exist keeps
# the response time the same, so usernames cannot be discovered by timing.
_DUMMY_PASSWORD = secrets.token_urlsafe(16)


@functools.lru_cache(maxsize=8)
def _dummy_hash_for(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
    ).hash(_DUMMY_PASSWORD)


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A constant per cost setting (not state): verifying against it costs what a real verify
    costs, so an unknown username takes as long as a wrong password."""
    return _dummy_hash_for(hasher.time_cost, hasher.memory_cost, hasher.parallelism)


def make_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, parallelism=1
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    ttl_seconds: int


def create_user(
    session: Session, actor: Principal, data: UserCreate, hasher: PasswordHasher
) -> User:
    actor.require(Action.USER_MANAGE)
    repo = AuthRepository(session)
    if repo.by_username(data.username) is not None:
        raise errors.UsernameTaken("That username is taken")
    if data.patient_id is not None:
        patient = PatientRepository(session).get(data.patient_id)
        if patient is None or not actor.sees_practice(patient.practice_id):
            raise errors.InvalidUser("No such patient", code="patient.not_found", status=404)
    for pid in data.practice_ids:
        practice = PracticeRepository(session).get(pid)
        if practice is None or not actor.sees_practice(pid):
            raise errors.InvalidUser("No such practice", code="practice.not_found", status=404)
    user = User(
        username=data.username.lower(),
        password_hash=hasher.hash(data.password),
        role=data.role.value,
        patient_id=data.patient_id,
        active=True,
    )
    session.add(user)
    session.flush()
    for pid in data.practice_ids:
        session.add(UserPractice(user_id=user.id, practice_id=pid))
    session.flush()
    audit.record(
        session,
        actor,
        "user:create",
        object_type="user",
        object_id=user.id,
        practice_id=None,
        fields=["username", "role", "patient_id", "practice_ids"],
    )
    return user


def assign_practice(
    session: Session, actor: Principal, user_id: uuid.UUID, practice_id: uuid.UUID
) -> None:
    actor.require(Action.USER_MANAGE)
    user = AuthRepository(session).get(user_id)
    if user is None:
        raise errors.UserNotFound("No such user")
    if user.role == Role.PATIENT.value:
        raise errors.InvalidUser("Patient logins are scoped by their patient record")
    if PracticeRepository(session).get(practice_id) is None or not actor.sees_practice(practice_id):
        raise errors.InvalidUser("No such practice", code="practice.not_found", status=404)
    if practice_id not in AuthRepository(session).practice_ids(user_id):
        session.add(UserPractice(user_id=user_id, practice_id=practice_id))
        audit.record(
            session,
            actor,
            "user:assign_practice",
            object_type="user",
            object_id=user_id,
            practice_id=practice_id,
            fields=["practice_ids"],
        )


def login(
    session: Session,
    username: str,
    password: str,
    hasher: PasswordHasher,
    *,
    ttl_minutes: int,
    client_addr: str | None = None,
) -> IssuedToken:
    repo = AuthRepository(session)
    user = repo.by_username(username)
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            hasher.verify(_dummy_hash(hasher), password)
        raise errors.InvalidCredentials("Incorrect username or password")
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise errors.InvalidCredentials("Incorrect username or password") from None
    now = utcnow()
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = now
    token = secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG
    expires = now + dt.timedelta(minutes=ttl_minutes)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), expires_at=expires))
    actor = principal_for(session, user, client_addr=client_addr)
    audit.record(
        session, actor, "auth:login", object_type="user", object_id=user.id, practice_id=None
    )
    return IssuedToken(token, expires, ttl_minutes * 60)


def principal_for(
    session: Session,
    user: User | TokenUser,
    *,
    request_id: str | None = None,
    client_addr: str | None = None,
) -> Principal:
    role = Role(user.role)
    if role is Role.PATIENT:
        assert user.patient_id is not None
        patient_repo = PatientRepository(session)
        patient = patient_repo.get(user.patient_id)
        assert patient is not None
        ids = frozenset({patient.id, *patient_repo.dependant_ids(patient.id)})
        return Principal(
            user.id,
            user.username,
            role,
            frozenset({patient.practice_id}),
            ids,
            request_id,
            client_addr,
        )
    return Principal(
        user.id,
        user.username,
        role,
        AuthRepository(session).practice_ids(user.id),
        frozenset(),
        request_id,
        client_addr,
    )


def authenticate(
    session: Session,
    token: str | None,
    *,
    request_id: str | None = None,
    client_addr: str | None = None,
) -> Principal:
    if not token:
        raise errors.InvalidToken(
            "Sign in first: send 'Authorization: Bearer <token>'", code="auth.unauthenticated"
        )
    found = AuthRepository(session).user_and_practices_for_token(hash_token(token), utcnow())
    if found is None:
        raise errors.InvalidToken("The access token is invalid, expired or revoked")
    user, practice_ids = found
    if Role(user.role) is not Role.PATIENT:
        return Principal(
            user.id,
            user.username,
            Role(user.role),
            practice_ids,
            frozenset(),
            request_id,
            client_addr,
        )
    return principal_for(session, user, request_id=request_id, client_addr=client_addr)


def logout(session: Session, actor: Principal, token: str) -> None:
    AuthRepository(session).revoke(hash_token(token), utcnow())
    audit.record(
        session, actor, "auth:logout", object_type="user", object_id=actor.user_id, practice_id=None
    )


def practice_ids_of(session: Session, user: User) -> frozenset[uuid.UUID]:
    return AuthRepository(session).practice_ids(user.id)


def _visible_user(session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    """Admins manage users who share a practice with them (or any, for the operator)."""
    actor.require(Action.USER_MANAGE)
    repo = AuthRepository(session)
    user = repo.get(user_id)
    if user is None:
        raise errors.UserNotFound("No such user")
    if actor.practice_ids is None:
        return user
    if user.role == Role.PATIENT.value and user.patient_id is not None:
        patient = PatientRepository(session).get(user.patient_id)
        scope = frozenset({patient.practice_id}) if patient else frozenset()
    else:
        scope = repo.practice_ids(user.id)
    if not scope & actor.practice_ids and user.id != actor.user_id:
        raise errors.UserNotFound("No such user")
    return user


def get_user(session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    return _visible_user(session, actor, user_id)


def update_user(
    session: Session, actor: Principal, user_id: uuid.UUID, data: UserUpdate, hasher: PasswordHasher
) -> User:
    user = _visible_user(session, actor, user_id)
    changes = data.model_dump(exclude_unset=True)
    if data.active is False and user.id == actor.user_id:
        raise errors.InvalidUser(
            "You cannot deactivate your own account", code="user.cannot_deactivate_self"
        )
    if data.active is not None:
        user.active = data.active
    if data.password is not None:
        user.password_hash = hasher.hash(data.password)
    if data.active is False or data.password is not None:
        AuthRepository(session).revoke_all(user.id, utcnow())  # sessions die with the change
    audit.record(
        session,
        actor,
        "user:update",
        object_type="user",
        object_id=user.id,
        practice_id=None,
        fields=changes,
    )
    return user


def list_users(session: Session, actor: Principal) -> list[User]:
    actor.require(Action.USER_MANAGE)
    users = []
    for user in AuthRepository(session).list_users():
        try:
            users.append(_visible_user(session, actor, user.id))
        except errors.UserNotFound:
            continue
    return users
