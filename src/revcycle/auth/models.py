"""Users, their practice assignments and their bearer tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column


class User(Base):
    __tablename__ = "users"

    id: Mapped[UUIDPk]
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    # Set for role "patient" only: the one patient record this login belongs to.
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


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
