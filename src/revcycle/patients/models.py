"""Patients: demographics, contact and guarantor."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("practice_id", "account_number"),)

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    # The practice's own patient account number (MRN-like), printed on statements.
    account_number: Mapped[str] = mapped_column(String(20))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))  # F, M, U (X12 DMG03)
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    # The person financially responsible: NULL means the patient themself.
    guarantor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    guarantor_relationship: Mapped[str] = mapped_column(String(10), default="self")
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
