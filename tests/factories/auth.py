from __future__ import annotations

import itertools

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from revcycle.auth import service
from revcycle.auth.models import User
from revcycle.auth.principal import Principal
from revcycle.auth.schemas import UserCreate
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice
from tests.factories.practices import SYSTEM

HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"
_n = itertools.count(1)


def make_user(
    session: Session,
    role: str,
    *,
    practices: list[Practice] = (),  # type: ignore[assignment]
    patient: Patient | None = None,
    username: str | None = None,
) -> User:
    return service.create_user(
        session,
        SYSTEM,
        UserCreate(
            username=username or f"{role}{next(_n)}",
            password=PASSWORD,
            role=role,  # type: ignore[arg-type]
            patient_id=patient.id if patient else None,
            practice_ids=[p.id for p in practices],
        ),
        HASHER,
    )


def principal(session: Session, user: User) -> Principal:
    return service.principal_for(session, user)


def token_for(session: Session, user: User) -> str:
    return service.login(session, user.username, PASSWORD, HASHER, ttl_minutes=60).token


def auth_header(session: Session, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(session, user)}"}
