"""Appointments: the minimum the eligibility re-verification needs (docs/eligibility.md).

In real life appointments come from the practice's EHR / scheduling system (an HL7 SIU feed or
an API pull); revcycle keeps a copy of what it needs: who, with whom, when, under which coverage.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

SCHEDULED, CANCELLED = "scheduled", "cancelled"


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_practice_start", "practice_id", "starts_at"),
        Index("ix_appointments_patient", "patient_id", "id"),
        UniqueConstraint("practice_id", "external_ref"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id"))
    # None: the patient's primary coverage on the day is used.
    coverage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("coverages.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=SCHEDULED)
    # The EHR's own id of the appointment (idempotent imports).
    external_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
