"""Guarded credential checks: sign-in (API and web), the web TOTP step, password change and
turning TOTP off all run here, with the lockout around them.

This is the one place outside the adapters that owns transactions, because a refused attempt must
leave a trace that survives the refusal (the request's own transaction rolls back):

1. reserve the attempt on the lockout keys          (own transaction, committed)
2. ``attempt(session)``: check credentials, do the work, settle the reservation
                                                    (the request's transaction)
3. on a failed check: count the failure, lock the keys that reached their threshold and record
   LOGIN_FAILED / MFA_FAILED (+ LOGIN_LOCKED)       (own transaction, committed)

Never two transactions at once: on SQLite a second writer would wait for the first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth import errors, keys, throttle
from revcycle.auth.throttle import ThrottleKey
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.kit.clock import utcnow
from revcycle.security import events
from revcycle.security.events import SecurityEventKind

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """Where an attempt comes from (for the throttle keys and the security events)."""

    username: str
    client_addr: str | None
    request_id: str | None
    channel: str  # "api" or "web"


class Outcome:
    """Set by the attempt: ``release()`` when it was not a guess (password right, TOTP to come)."""

    def __init__(self) -> None:
        self.released = False

    def release(self) -> None:
        self.released = True


def _event_detail(
    settings: Settings, attempt: Attempt, exc: errors.AuthFailure
) -> dict[str, str | int | bool]:
    detail: dict[str, str | int | bool] = {"code": exc.code, "channel": attempt.channel}
    if exc.user_id is None:
        # Never the attempted name itself (it may be an e-mail address): a keyed hash of it, so
        # repeated attempts on one name can be correlated.
        detail["username_hmac"] = keys.mac(
            settings, "event-username", attempt.username.strip().casefold()
        )[:16]
    return detail


def guarded(
    factory: sessionmaker[Session],
    settings: Settings,
    attempt: Attempt,
    work: Callable[[Session, Outcome], T],
) -> T:
    ks: Sequence[ThrottleKey] = throttle.keys_for(settings, attempt.username, attempt.client_addr)
    with unit_of_work(factory) as s:
        wait = throttle.reserve(s, settings, ks, utcnow())
        if wait is not None:
            events.record(
                s,
                SecurityEventKind.LOGIN_FAILED,
                user_id=None,
                role=None,
                client_addr=attempt.client_addr,
                request_id=attempt.request_id,
                detail={"code": "auth.locked", "channel": attempt.channel, "retry_after": wait},
            )
    if wait is not None:
        raise errors.AccountLocked(wait)
    try:
        with unit_of_work(factory) as s:
            outcome = Outcome()
            result = work(s, outcome)
            if outcome.released:
                throttle.release(s, ks, utcnow())
            else:
                throttle.succeed(s, ks, utcnow())
        return result
    except errors.AuthFailure as exc:
        _record_failure(factory, settings, attempt, ks, exc)
        raise
    except DomainError:
        # Refused for another reason (policy, state): not a guess, give the reservation back.
        with unit_of_work(factory) as s:
            throttle.release(s, ks, utcnow())
        raise


def _record_failure(
    factory: sessionmaker[Session],
    settings: Settings,
    attempt: Attempt,
    ks: Sequence[ThrottleKey],
    exc: errors.AuthFailure,
) -> None:
    kind = (
        SecurityEventKind.MFA_FAILED
        if isinstance(exc, errors.InvalidTotp)
        else SecurityEventKind.LOGIN_FAILED
    )
    with unit_of_work(factory) as s:
        locked = throttle.fail(s, settings, ks, utcnow())
        events.record(
            s,
            kind,
            user_id=exc.user_id,
            role=exc.role,
            client_addr=attempt.client_addr,
            request_id=attempt.request_id,
            detail=_event_detail(settings, attempt, exc),
        )
        for lock in locked:
            events.record(
                s,
                SecurityEventKind.LOGIN_LOCKED,
                user_id=exc.user_id if lock.key.scope == "account" else None,
                role=exc.role if lock.key.scope == "account" else None,
                client_addr=attempt.client_addr,
                request_id=attempt.request_id,
                detail={
                    "scope": lock.key.scope,
                    "seconds": lock.seconds,
                    "lock_count": lock.lock_count,
                    "channel": attempt.channel,
                },
            )
