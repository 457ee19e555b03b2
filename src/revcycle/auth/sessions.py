"""Server-side web sessions (ASVS 5.0 V7): a 256-bit random token in an HttpOnly, Secure,
SameSite=Strict cookie, only its SHA-256 in ``web_sessions``; idle and absolute timeouts checked
on every request; a new token at every sign-in step (no fixation); logout revokes the row.

CSRF: the synchronizer token of a session is HMAC(csrf key, session token): bound to the session,
never stored, compared in constant time. Before sign-in, the login form is bound the same way to
a random pre-session cookie.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth import keys
from revcycle.auth.models import User, WebSession
from revcycle.auth.service import hash_token
from revcycle.config import Settings

SESSION_COOKIE = "__Host-revcycle_session"
PRE_SESSION_COOKIE = "__Host-revcycle_pre"

FULL = "full"
MFA_PENDING = "mfa"


class State(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no such token, or revoked
    IDLE_EXPIRED = "idle_timeout"
    ABSOLUTE_EXPIRED = "absolute_timeout"


@dataclass(frozen=True)
class Resolved:
    state: State
    row: WebSession | None = None
    user: User | None = None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def start(
    session: Session,
    user: User,
    *,
    stage: str,
    mfa: bool,
    settings: Settings,
    now: dt.datetime,
    client_addr: str | None,
    replaces: str | None = None,
) -> str:
    """A new session (and token) for ``user``; the session it replaces (a pre-MFA one, or any
    session cookie the browser still had) is revoked, so a planted token never gets signed in."""
    if replaces:
        end(session, replaces, now)
    token = new_token()
    lifetime = (
        settings.web_mfa_step_minutes
        if stage == MFA_PENDING
        else settings.web_session_absolute_minutes
    )
    session.add(
        WebSession(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=hash_token(token),
            stage=stage,
            mfa=mfa,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(minutes=lifetime),
            client_addr=client_addr,
        )
    )
    if stage == FULL:
        user.last_login_at = now
    session.flush()
    return token


def resolve(
    session: Session, token: str | None, settings: Settings, now: dt.datetime, *, touch: bool
) -> Resolved:
    """The live session for ``token``. An expired one is revoked on the spot. ``touch`` moves the
    idle deadline (not done before a CSRF check has passed: a refused post writes nothing)."""
    if not token:
        return Resolved(State.MISSING)
    row = session.scalar(
        select(WebSession).where(
            WebSession.token_hash == hash_token(token), WebSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return Resolved(State.MISSING)
    idle = dt.timedelta(minutes=settings.web_session_idle_minutes)
    state = State.OK
    if now >= row.expires_at:
        state = State.ABSOLUTE_EXPIRED
    elif now - row.last_seen_at >= idle:
        state = State.IDLE_EXPIRED
    if state is not State.OK:
        row.revoked_at = now
        session.flush()
        return Resolved(state, row)
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        row.revoked_at = now
        session.flush()
        return Resolved(State.MISSING)
    if touch:
        row.last_seen_at = now
        session.flush()
    return Resolved(State.OK, row, user)


def end(session: Session, token: str, now: dt.datetime) -> None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.flush()


def csrf_token(settings: Settings, token: str) -> str:
    return keys.mac(settings, "csrf", token)


def csrf_ok(settings: Settings, token: str | None, submitted: str | None) -> bool:
    if not token or not submitted:
        return False
    return hmac.compare_digest(csrf_token(settings, token), submitted)


def login_csrf_token(settings: Settings, pre_token: str) -> str:
    return keys.mac(settings, "login-csrf", pre_token)


def login_csrf_ok(settings: Settings, pre_token: str | None, submitted: str | None) -> bool:
    if not pre_token or not submitted:
        return False
    return hmac.compare_digest(login_csrf_token(settings, pre_token), submitted)
