from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, model_validator

from revcycle.auth.permissions import Role
from revcycle.kit.schemas import ReadSchema, Schema

Username = Annotated[str, Field(min_length=3, max_length=150, pattern=r"^[A-Za-z0-9._@+-]+$")]
Password = Annotated[str, Field(min_length=12, max_length=256)]


class UserCreate(Schema):
    username: Username
    password: Password
    role: Role
    patient_id: uuid.UUID | None = None
    practice_ids: list[uuid.UUID] = []

    @model_validator(mode="after")
    def _patient_link(self) -> UserCreate:
        if self.role is Role.PATIENT and self.patient_id is None:
            raise ValueError("a patient login must be linked to a patient_id")
        if self.role is not Role.PATIENT and self.patient_id is not None:
            raise ValueError("only patient logins are linked to a patient")
        if self.role is Role.PATIENT and self.practice_ids:
            raise ValueError("patient logins are scoped by their patient, not by practice")
        return self


class UserUpdate(Schema):
    active: bool | None = None
    password: Password | None = None


class UserRead(ReadSchema):
    id: uuid.UUID
    username: str
    role: str
    patient_id: uuid.UUID | None
    active: bool
    practice_ids: list[uuid.UUID]
    created_at: dt.datetime


class TokenRead(ReadSchema):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeRead(ReadSchema):
    user_id: uuid.UUID | None
    username: str
    role: str
    practice_ids: list[uuid.UUID] | None
    patient_ids: list[uuid.UUID]
