"""Patients: demographics, contact and guarantor."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.crypto.blind_index import BlindIndex, maintain
from revcycle.crypto.fields import EncryptedDate, EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

# Blind indexes (docs/phi-encryption.md): exact, normalised lookups without decrypting.
LAST_NAME_INDEX = BlindIndex("last_name_bidx", "patients.last_name", ("last_name",))
NAME_DOB_INDEX = BlindIndex(
    "name_dob_bidx", "patients.name_dob", ("last_name", "first_name", "date_of_birth")
)
DOB_INDEX = BlindIndex("dob_bidx", "patients.date_of_birth", ("date_of_birth",))
BIDX_LENGTH = 80


def _phi(column: str) -> EncryptedString:
    return EncryptedString(f"patients.{column}")


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("practice_id", "account_number"),
        Index("ix_patients_last_name_bidx", "last_name_bidx"),
        Index("ix_patients_name_dob_bidx", "name_dob_bidx"),
        Index("ix_patients_dob_bidx", "dob_bidx"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    # The practice's own patient account number (MRN-like), printed on statements.
    account_number: Mapped[str] = mapped_column(String(20))
    # PHI: sealed with AES-256-GCM at rest (revcycle.crypto); plain values in Python.
    first_name: Mapped[str] = mapped_column(_phi("first_name"))
    last_name: Mapped[str] = mapped_column(_phi("last_name"))
    date_of_birth: Mapped[dt.date] = mapped_column(EncryptedDate("patients.date_of_birth"))
    sex: Mapped[str] = mapped_column(String(1))  # F, M, U (X12 DMG03)
    address_line1: Mapped[str | None] = mapped_column(_phi("address_line1"))
    address_line2: Mapped[str | None] = mapped_column(_phi("address_line2"))
    city: Mapped[str | None] = mapped_column(_phi("city"))
    state: Mapped[str | None] = mapped_column(_phi("state"))
    postal_code: Mapped[str | None] = mapped_column(_phi("postal_code"))
    phone: Mapped[str | None] = mapped_column(_phi("phone"))
    email: Mapped[str | None] = mapped_column(_phi("email"))
    # Maintained on every ORM write (crypto.blind_index.maintain); "<key id>:<hex>".
    last_name_bidx: Mapped[str] = mapped_column(String(BIDX_LENGTH))
    name_dob_bidx: Mapped[str] = mapped_column(String(BIDX_LENGTH))
    dob_bidx: Mapped[str] = mapped_column(String(BIDX_LENGTH))
    # The person financially responsible: NULL means the patient themself.
    guarantor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    guarantor_relationship: Mapped[str] = mapped_column(String(10), default="self")
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


maintain(Patient, LAST_NAME_INDEX, NAME_DOB_INDEX, DOB_INDEX)
