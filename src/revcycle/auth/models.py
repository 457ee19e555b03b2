"""Users, their practice assignments, their bearer tokens and web sessions (both stored hashed),
login throttles and rate-limit counters (database rows, so every API process sees the same)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # One login per patient, enforced by the database (migration 0006); staff rows have no
        # patient, and NULLs never collide in a unique index.
        Index("uq_users_patient_id", "patient_id", unique=True),
    )

    id: Mapped[UUIDPk]
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    # Set for role "patient" only: the one patient record this login belongs to.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # TOTP (RFC 6238): the secret sealed with AES-GCM (see auth.secretbox); enrolled once
    # ``totp_enabled_at`` is set (a secret without it is a pending enrolment). The last accepted
    # time step refuses a replayed code.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(200))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class UserPractice(Base):
    __tablename__ = "user_practices"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), primary_key=True)
    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Whether the sign-in that issued this token passed the second factor.
    mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebSession(Base):
    """A server-side web session; the cookie carries the token, the row only its SHA-256.

    ``stage`` is ``"mfa"`` between a correct password and the TOTP code (that row allows only the
    TOTP step), ``"full"`` once signed in."""

    __tablename__ = "web_sessions"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(10))
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    client_addr: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed sign-ins for one key: ``acct:<hmac of the user name>`` (existing or not, so a lock
    never tells whether an account exists) or ``addr:<client address>``."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # How many times this key has been locked since its last success: the back-off doubles.
    lock_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RateLimitCounter(Base):
    """Requests per bucket per fixed window (an upsert increments it atomically)."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
