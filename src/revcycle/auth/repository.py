"""All SQL for users, practice assignments and tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from revcycle.auth.models import ApiToken, User, UserPractice, WebSession


@dataclass(frozen=True)
class TokenUser:
    id: uuid.UUID
    username: str
    role: str
    patient_id: uuid.UUID | None
    mfa: bool = False


class AuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_username(self, username: str) -> User | None:
        if "\x00" in username:
            return None  # no name holds NUL, and PostgreSQL refuses it in a text parameter
        return self.session.scalar(select(User).where(User.username == username.lower()))

    def by_patient(self, patient_id: uuid.UUID) -> User | None:
        return self.session.scalar(select(User).where(User.patient_id == patient_id).limit(1))

    def get(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)

    def practice_ids(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(
            self.session.scalars(
                select(UserPractice.practice_id).where(UserPractice.user_id == user_id)
            ).all()
        )

    def user_for_token(self, token_hash: str, now: dt.datetime) -> User | None:
        return self.session.scalar(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
                User.active.is_(True),
            )
        )

    def user_and_practices_for_token(
        self, token_hash: str, now: dt.datetime
    ) -> tuple[TokenUser, frozenset[uuid.UUID]] | None:
        """One round trip: the token's active user and the practices they are assigned to
        (plain columns, no ORM identity: this runs on every request)."""
        rows = self.session.execute(
            select(
                User.id,
                User.username,
                User.role,
                User.patient_id,
                ApiToken.mfa,
                UserPractice.practice_id,
            )
            .join(ApiToken, ApiToken.user_id == User.id)
            .outerjoin(UserPractice, UserPractice.user_id == User.id)
            .where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
                User.active.is_(True),
            )
        ).all()
        if not rows:
            return None
        first = rows[0]
        user = TokenUser(first.id, first.username, first.role, first.patient_id, first.mfa)
        return user, frozenset(r.practice_id for r in rows if r.practice_id is not None)

    def revoke(self, token_hash: str, now: dt.datetime) -> None:
        self.session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    def revoke_all(
        self, user_id: uuid.UUID, now: dt.datetime, *, except_hash: str | None = None
    ) -> None:
        stmt = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        if except_hash is not None:
            stmt = stmt.where(ApiToken.token_hash != except_hash)
        self.session.execute(stmt.values(revoked_at=now))

    def revoke_sessions(
        self, user_id: uuid.UUID, now: dt.datetime, *, except_hash: str | None = None
    ) -> None:
        stmt = update(WebSession).where(
            WebSession.user_id == user_id, WebSession.revoked_at.is_(None)
        )
        if except_hash is not None:
            stmt = stmt.where(WebSession.token_hash != except_hash)
        self.session.execute(stmt.values(revoked_at=now))

    def list_users(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.username)).all()
