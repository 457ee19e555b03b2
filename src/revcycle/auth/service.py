"""Users, password checks (argon2id) and policy, TOTP second factor, and opaque bearer tokens
stored as SHA-256 hashes. Sign-in with lockout runs through ``auth.flows`` (several short
transactions); the functions here only flush."""

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
from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth import errors, keys, passwords, ratelimit, throttle, totp
from revcycle.auth.models import ApiToken, User, UserPractice, WebSession
from revcycle.auth.permissions import STAFF_ROLES, Action, Role
from revcycle.auth.principal import Principal
from revcycle.auth.repository import AuthRepository, TokenUser
from revcycle.auth.schemas import UserCreate, UserUpdate
from revcycle.config import Settings
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.dberrors import violates_unique
from revcycle.patients.repository import PatientRepository
from revcycle.practices.repository import PracticeRepository
from revcycle.security import events
from revcycle.security.events import SecurityEventKind

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


def check_password_policy(password: str, username: str, settings: Settings | None) -> None:
    if settings is None:
        passwords.check(password, username=username)
    else:
        passwords.check(
            password,
            username=username,
            min_length=settings.password_min_length,
            max_length=settings.password_max_length,
        )


def create_user(
    session: Session,
    actor: Principal,
    data: UserCreate,
    hasher: PasswordHasher,
    settings: Settings | None = None,
) -> User:
    actor.require(Action.USER_MANAGE)
    repo = AuthRepository(session)
    check_password_policy(data.password, data.username, settings)
    if repo.by_username(data.username) is not None:
        raise errors.UsernameTaken("That username is taken")
    if data.patient_id is not None:
        patient = PatientRepository(session).get(data.patient_id)
        if patient is None or not actor.sees_practice(patient.practice_id):
            raise errors.InvalidUser("No such patient", code="patient.not_found", status=404)
        if repo.by_patient(data.patient_id) is not None:
            raise errors.PatientHasLogin("That patient already has a login")
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
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent request passed the same checks and inserted first; the unique index
        # decided (on PostgreSQL this insert waited for that COMMIT). Same answer as the checks.
        if violates_unique(exc, name="uq_users_patient_id", table="users", columns=["patient_id"]):
            raise errors.PatientHasLogin("That patient already has a login") from exc
        if violates_unique(exc, name="uq_users_username", table="users", columns=["username"]):
            raise errors.UsernameTaken("That username is taken") from exc
        raise
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
    if PracticeRepository(session).get(practice_id) is None:
        raise errors.InvalidUser("No such practice", code="practice.not_found", status=404)
    if not actor.sees_practice(practice_id):
        raise out_of_scope(
            errors.InvalidUser("No such practice", code="practice.not_found", status=404),
            "practice",
            practice_id,
        )
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


def verify_password(session: Session, username: str, password: str, hasher: PasswordHasher) -> User:
    """The active user with this name and password, or InvalidCredentials (same time and answer
    for an unknown name, an inactive account and a wrong password)."""
    user = AuthRepository(session).by_username(username)
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            hasher.verify(_dummy_hash(hasher), password)
        exc = errors.InvalidCredentials("Incorrect username or password")
        if user is not None:
            exc.user_id, exc.role = user.id, user.role
        raise exc
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        exc = errors.InvalidCredentials("Incorrect username or password")
        exc.user_id, exc.role = user.id, user.role
        raise exc from None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def totp_enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def _totp_aad(user_id: uuid.UUID) -> str:
    return f"users.totp_secret:{user_id}"


def check_totp(session: Session, settings: Settings, user: User, code: str) -> bool:
    """True when ``code`` is valid now and newer than the last accepted code: the accepted step is
    recorded with a conditional UPDATE, so the same code is refused the second time, even by
    another process at the same moment."""
    if user.totp_secret is None:
        return False
    try:
        secret = keys.unseal(settings, user.totp_secret, aad=_totp_aad(user.id))
    except (InvalidTag, ValueError):
        return False
    step = totp.matching_step(secret, code, utcnow())
    if step is None:
        return False
    taken = session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True


def require_totp(session: Session, settings: Settings, user: User, code: str) -> None:
    if not check_totp(session, settings, user, code):
        exc = errors.InvalidTotp("The two-factor code is wrong, expired or already used")
        exc.user_id, exc.role = user.id, user.role
        raise exc


def issue_token(
    session: Session,
    user: User,
    *,
    ttl_minutes: int,
    mfa: bool,
    client_addr: str | None = None,
    request_id: str | None = None,
) -> IssuedToken:
    now = utcnow()
    user.last_login_at = now
    token = secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG
    expires = now + dt.timedelta(minutes=ttl_minutes)
    session.add(
        ApiToken(user_id=user.id, token_hash=hash_token(token), expires_at=expires, mfa=mfa)
    )
    events.record(
        session,
        SecurityEventKind.LOGIN_SUCCEEDED,
        user_id=user.id,
        role=user.role,
        client_addr=client_addr,
        request_id=request_id,
        detail={"channel": "api", "mfa": mfa},
    )
    return IssuedToken(token, expires, ttl_minutes * 60)


def login(
    session: Session,
    username: str,
    password: str,
    hasher: PasswordHasher,
    *,
    ttl_minutes: int,
    client_addr: str | None = None,
) -> IssuedToken:
    """Password sign-in without the lockout bookkeeping (scripts and tests; the API and the web
    go through ``auth.flows``). Accounts with TOTP need the flow."""
    user = verify_password(session, username, password, hasher)
    if totp_enrolled(user):
        raise errors.TotpRequired("This account also needs its two-factor code")
    return issue_token(session, user, ttl_minutes=ttl_minutes, mfa=False, client_addr=client_addr)


def principal_for(
    session: Session,
    user: User | TokenUser,
    *,
    request_id: str | None = None,
    client_addr: str | None = None,
    mfa: bool = False,
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
            mfa,
        )
    return Principal(
        user.id,
        user.username,
        role,
        AuthRepository(session).practice_ids(user.id),
        frozenset(),
        request_id,
        client_addr,
        mfa,
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
            user.mfa,
        )
    return principal_for(
        session, user, request_id=request_id, client_addr=client_addr, mfa=user.mfa
    )


def logout(session: Session, actor: Principal, token: str) -> None:
    AuthRepository(session).revoke(hash_token(token), utcnow())
    events.record(
        session,
        SecurityEventKind.LOGOUT,
        user_id=actor.user_id,
        role=actor.role.value,
        client_addr=actor.client_addr,
        request_id=actor.request_id,
        detail={"channel": "api"},
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
        raise out_of_scope(errors.UserNotFound("No such user"), "user", user.id)
    return user


def get_user(session: Session, actor: Principal, user_id: uuid.UUID) -> User:
    return _visible_user(session, actor, user_id)


def update_user(
    session: Session,
    actor: Principal,
    user_id: uuid.UUID,
    data: UserUpdate,
    hasher: PasswordHasher,
    settings: Settings | None = None,
) -> User:
    user = _visible_user(session, actor, user_id)
    changes = data.model_dump(exclude_unset=True)
    if data.active is False and user.id == actor.user_id:
        raise errors.InvalidUser(
            "You cannot deactivate your own account", code="user.cannot_deactivate_self"
        )
    if data.password is not None:
        check_password_policy(data.password, user.username, settings)
    if data.active is not None:
        user.active = data.active
    if data.password is not None:
        user.password_hash = hasher.hash(data.password)
        user.password_changed_at = utcnow()
    if data.active is False or data.password is not None:
        repo = AuthRepository(session)  # tokens and sessions die with the change
        repo.revoke_all(user.id, utcnow())
        repo.revoke_sessions(user.id, utcnow())
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


# Own account: password change and TOTP enrolment -------------------------------------------------


def _self(session: Session, actor: Principal) -> User:
    if actor.user_id is None:
        raise InvalidInput("The server operator has no account", code="user.no_account")
    user = AuthRepository(session).get(actor.user_id)
    if user is None or not user.active:
        raise errors.InvalidToken("The access token is invalid, expired or revoked")
    return user


def change_password(
    session: Session,
    actor: Principal,
    *,
    current_password: str,
    new_password: str,
    hasher: PasswordHasher,
    settings: Settings,
    keep_token_hash: str | None = None,
    keep_session_hash: str | None = None,
) -> None:
    """The signed-in user changes their password (the current one is checked again). Every other
    token and web session of the user is revoked; the one making the change stays."""
    user = _self(session, actor)
    verify_password(session, user.username, current_password, hasher)
    check_password_policy(new_password, user.username, settings)
    now = utcnow()
    user.password_hash = hasher.hash(new_password)
    user.password_changed_at = now
    repo = AuthRepository(session)
    repo.revoke_all(user.id, now, except_hash=keep_token_hash)
    repo.revoke_sessions(user.id, now, except_hash=keep_session_hash)
    events.record(
        session,
        SecurityEventKind.PASSWORD_CHANGED,
        user_id=user.id,
        role=user.role,
        client_addr=actor.client_addr,
        request_id=actor.request_id,
    )


@dataclass(frozen=True)
class TotpEnrolment:
    otpauth_uri: str
    qr_svg_data_uri: str


def begin_totp_enrolment(session: Session, actor: Principal, settings: Settings) -> TotpEnrolment:
    """A new secret (pending until confirmed with a code). Shown once: only its sealed form is
    stored. Starting again replaces a pending secret; an enrolled factor must be disabled first."""
    actor.require(Action.MFA_MANAGE)
    user = _self(session, actor)
    if Role(user.role) not in STAFF_ROLES:  # the matrix already says so; belt and braces
        raise errors.TotpState("Two-factor sign-in is for staff accounts")
    if totp_enrolled(user):
        raise errors.TotpState(
            "Two-factor sign-in is already on; disable it first to enrol a new device",
            code="totp.already_enrolled",
        )
    secret = totp.new_secret()
    user.totp_secret = keys.seal(settings, secret, aad=_totp_aad(user.id))
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.flush()
    uri = totp.provisioning_uri(secret, account=user.username, issuer=settings.totp_issuer)
    return TotpEnrolment(uri, totp.qr_svg_data_uri(uri))


def confirm_totp_enrolment(
    session: Session, actor: Principal, code: str, settings: Settings
) -> None:
    actor.require(Action.MFA_MANAGE)
    user = _self(session, actor)
    if user.totp_secret is None or user.totp_enabled_at is not None:
        raise errors.TotpState("There is no pending two-factor enrolment", code="totp.not_pending")
    if not check_totp(session, settings, user, code):
        raise InvalidInput(
            "The code does not match; check the device clock and try the next code",
            code="totp.invalid_code",
        )
    user.totp_enabled_at = utcnow()
    events.record(
        session,
        SecurityEventKind.MFA_ENROLLED,
        user_id=user.id,
        role=user.role,
        client_addr=actor.client_addr,
        request_id=actor.request_id,
    )


def disable_totp(session: Session, actor: Principal, code: str, settings: Settings) -> None:
    """Turn the second factor off; needs a current code (InvalidTotp counts against the lockout
    when called through ``auth.flows``)."""
    actor.require(Action.MFA_MANAGE)
    user = _self(session, actor)
    if not totp_enrolled(user):
        raise errors.TotpState("Two-factor sign-in is not on", code="totp.not_enrolled")
    require_totp(session, settings, user, code)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    events.record(
        session,
        SecurityEventKind.MFA_DISABLED,
        user_id=user.id,
        role=user.role,
        client_addr=actor.client_addr,
        request_id=actor.request_id,
    )


# Administrators: a user's tokens and sessions -------------------------------------------------


@dataclass(frozen=True)
class CredentialView:
    id: uuid.UUID
    kind: str  # "api_token" or "web_session"
    created_at: dt.datetime
    expires_at: dt.datetime
    mfa: bool


def list_credentials(
    session: Session, actor: Principal, user_id: uuid.UUID
) -> list[CredentialView]:
    """The user's live API tokens and web sessions (never the tokens themselves)."""
    user = _visible_user(session, actor, user_id)
    now = utcnow()
    tokens = session.scalars(
        select(ApiToken)
        .where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now
        )
        .order_by(ApiToken.created_at, ApiToken.id)
    ).all()
    web = session.scalars(
        select(WebSession)
        .where(
            WebSession.user_id == user.id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .order_by(WebSession.created_at, WebSession.id)
    ).all()
    return [
        CredentialView(t.id, "api_token", t.created_at, t.expires_at, t.mfa) for t in tokens
    ] + [CredentialView(w.id, "web_session", w.created_at, w.expires_at, w.mfa) for w in web]


def revoke_credentials(session: Session, actor: Principal, user_id: uuid.UUID) -> None:
    """Sign the user out everywhere: every API token and web session is revoked."""
    user = _visible_user(session, actor, user_id)
    now = utcnow()
    repo = AuthRepository(session)
    repo.revoke_all(user.id, now)
    repo.revoke_sessions(user.id, now)
    audit.record(
        session,
        actor,
        "user:revoke_credentials",
        object_type="user",
        object_id=user.id,
        practice_id=None,
        fields=["api_tokens", "web_sessions"],
    )


def unlock_user(session: Session, actor: Principal, user_id: uuid.UUID, settings: Settings) -> None:
    """Lift a sign-in lockout on the user's name before it runs out."""
    user = _visible_user(session, actor, user_id)
    throttle.unlock(session, settings, user.username, utcnow())
    audit.record(
        session,
        actor,
        "user:unlock",
        object_type="user",
        object_id=user.id,
        practice_id=None,
        fields=["lockout"],
    )


@dataclass(frozen=True)
class CounterCutoffs:
    """Sign-in throttles untouched since ``throttles`` (and not locked past it), and rate-limit
    windows that started before ``rate_limits``, can no longer affect any request."""

    throttles: dt.datetime
    rate_limits: dt.datetime


def counter_cutoffs(
    settings: Settings, now: dt.datetime, retention: dt.timedelta
) -> CounterCutoffs:
    """``retention`` ago, but never less than what a row can still matter for: the longest lock
    (``LOCKOUT_MAX_SECONDS``, so forgetting a back-off never lets guesses come faster than the
    capped lock does) and the longest rate-limit window (a day)."""
    return CounterCutoffs(
        throttles=now - max(retention, dt.timedelta(seconds=settings.lockout_max_seconds)),
        rate_limits=now - max(retention, ratelimit.LONGEST_WINDOW),
    )


def purge_counters(
    session: Session, cutoffs: CounterCutoffs, *, batch_size: int
) -> tuple[int, int]:
    """One batch: up to ``batch_size`` stale login throttles and as many stale rate-limit
    counters. Returns how many of each were deleted; the caller commits and repeats until a
    batch comes back short, so each transaction stays small while the API runs."""
    return (
        throttle.purge_stale(session, before=cutoffs.throttles, limit=batch_size),
        ratelimit.purge_stale(session, before=cutoffs.rate_limits, limit=batch_size),
    )
