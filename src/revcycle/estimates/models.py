"""Stored estimates (insurance patient-responsibility and self-pay good-faith) and the practice's
estimate settings."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class EstimateSettings(Base):
    __tablename__ = "estimate_settings"
    __table_args__ = (
        CheckConstraint("self_pay_discount_bp BETWEEN 0 AND 10000", name="discount_range"),
        CheckConstraint("valid_days BETWEEN 1 AND 365", name="valid_days_range"),
    )

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    # Self-pay discount off the charge master, basis points (1500 = 15%).
    self_pay_discount_bp: Mapped[int] = mapped_column(Integer, default=0)
    valid_days: Mapped[int] = mapped_column(Integer, default=30)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Estimate(Base):
    __tablename__ = "estimates"
    __table_args__ = (
        Index("ix_estimates_patient", "patient_id", "id"),
        CheckConstraint("kind IN ('insurance', 'good_faith')", name="kind_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    coverage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("coverages.id"))
    kind: Mapped[str] = mapped_column(String(20))
    service_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[Currency]
    allowed_minor: Mapped[Minor]
    insurance_minor: Mapped[Minor]
    patient_minor: Mapped[Minor]
    # The inputs the maths ran on (benefits and accumulators), for the record.
    basis: Mapped[dict[str, object]] = mapped_column(JSON)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    lines: Mapped[list[EstimateLine]] = relationship(lazy="raise", order_by="EstimateLine.position")


class EstimateLine(Base):
    __tablename__ = "estimate_lines"

    id: Mapped[UUIDPk]
    estimate_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("estimates.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(5))
    modifier: Mapped[str | None] = mapped_column(String(2))
    units: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    allowed_minor: Mapped[Minor]
    copay_minor: Mapped[Minor]
    deductible_minor: Mapped[Minor]
    coinsurance_minor: Mapped[Minor]
    insurance_minor: Mapped[Minor]
    patient_minor: Mapped[Minor]
    reasoning: Mapped[list[str]] = mapped_column(JSON)
