from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from revcycle.auth.permissions import Role
from revcycle.kit.schemas import ReadSchema, Schema

Username = Annotated[str, Field(min_length=3, max_length=150, pattern=r"^[A-Za-z0-9._@+-]+$")]
# Length and strength are the password policy's (auth.passwords: stable ``password.*`` codes);
# the schema only bounds the size. Passwords are taken as typed (not stripped).
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=1024)]
TotpCodeStr = Annotated[str, StringConstraints(min_length=6, max_length=10)]


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
    # Whether this token's sign-in passed the second factor.
    mfa: bool = False


class PasswordChange(Schema):
    current_password: Password
    new_password: Password


class TotpCode(Schema):
    code: TotpCodeStr


class TotpEnrolmentRead(ReadSchema):
    """Shown once: the secret is not retrievable afterwards."""

    otpauth_uri: str
    qr_svg_data_uri: str


class CredentialRead(ReadSchema):
    id: uuid.UUID
    kind: str
    created_at: dt.datetime
    expires_at: dt.datetime
    mfa: bool
