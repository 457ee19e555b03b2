"""Eligibility checks with their raw 270/271 (sealed: they hold PHI), the per-practice
interchange control number counter, and the daily re-verification claims (docs/eligibility.md)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.crypto.fields import EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

PENDING, ACTIVE, INACTIVE, ERROR, REJECTED = "pending", "active", "inactive", "error", "rejected"
STATUSES = (PENDING, ACTIVE, INACTIVE, ERROR, REJECTED)


def _sealed(column: str) -> EncryptedString:
    return EncryptedString(f"eligibility_checks.{column}")


class EligibilityCheck(Base):
    """One 270 sent and the 271 (or the failure) that came back."""

    __tablename__ = "eligibility_checks"
    __table_args__ = (
        UniqueConstraint("practice_id", "interchange_control_number"),
        UniqueConstraint("request_key"),
        Index("ix_eligibility_checks_coverage", "coverage_id", "requested_at"),
        Index("ix_eligibility_checks_patient", "patient_id", "id"),
        CheckConstraint(
            "status IN ('pending', 'active', 'inactive', 'error', 'rejected')",
            name="status_known",
        ),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    coverage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coverages.id"))
    service_date: Mapped[dt.date] = mapped_column(Date)
    service_types: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    # ISA13 of the 270, from the practice's counter; the TRN02 trace is derived from it.
    interchange_control_number: Mapped[int] = mapped_column(Integer)
    trace_number: Mapped[str] = mapped_column(String(50))
    clearinghouse: Mapped[str] = mapped_column(String(30))
    # sha256 of "<user>:<Idempotency-Key>": a retried request finds its check.
    request_key: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # None: the worker / CLI
    requested_by_name: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = created_at_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # PHI: the raw interchanges and the parsed benefits (JSON text), sealed.
    x270: Mapped[str] = mapped_column(_sealed("x270"))
    x271: Mapped[str | None] = mapped_column(_sealed("x271"))
    summary: Mapped[str | None] = mapped_column(_sealed("summary"))
    # AAA03 reject reason codes (no PHI), and why a check ended in error.
    aaa_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_segment: Mapped[str | None] = mapped_column(String(3))
    error_position: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(_sealed("error_message"))


class EligibilityCounter(Base):
    """The last interchange control number used by a practice (row-locked to allocate)."""

    __tablename__ = "eligibility_counters"
    __table_args__ = (CheckConstraint("last_number >= 0", name="nonnegative"),)

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class EligibilityReverification(Base):
    """One appointment claimed by the daily re-verification run: at most once per day."""

    __tablename__ = "eligibility_reverifications"
    __table_args__ = (UniqueConstraint("appointment_id", "run_date"),)

    id: Mapped[UUIDPk]
    appointment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("appointments.id"))
    run_date: Mapped[dt.date] = mapped_column(Date)
    check_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("eligibility_checks.id"))
    outcome: Mapped[str] = mapped_column(String(20))  # claimed | checked | fresh | no_coverage
    created_at: Mapped[dt.datetime] = created_at_column()
