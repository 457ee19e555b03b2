"""Prior authorisations, the services (codes) and units each covers, and the charge-level record
of units consumed (or a charge held for a missing/expired/exhausted authorisation)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column


class Authorization(Base):
    __tablename__ = "prior_authorizations"
    __table_args__ = (
        Index("ix_prior_authorizations_patient", "patient_id", "id"),
        Index("ix_prior_authorizations_practice_status", "practice_id", "status", "id"),
        CheckConstraint(
            "status IN ('requested', 'approved', 'denied', 'expired', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("valid_to >= valid_from", name="window_ordered"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payers.id"))
    coverage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("coverages.id"))
    # The payer's authorisation number (given when approved; a reference may exist before).
    number: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    unit_kind: Mapped[str] = mapped_column(String(10))  # units | visits
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(String(500))
    decision_reason: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuthorizationService(Base):
    """One code an authorisation covers, with the units (or visits) authorised and used."""

    __tablename__ = "prior_authorization_services"
    __table_args__ = (
        CheckConstraint("units_authorized > 0", name="authorized_positive"),
        CheckConstraint("units_used >= 0 AND units_used <= units_authorized", name="used_range"),
        Index("ix_prior_authorization_services_auth", "authorization_id", "code"),
    )

    id: Mapped[UUIDPk]
    authorization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prior_authorizations.id"))
    code: Mapped[str] = mapped_column(String(5))
    units_authorized: Mapped[int] = mapped_column(Integer)
    units_used: Mapped[int] = mapped_column(Integer, default=0)


class AuthorizationUsage(Base):
    """A charge checked against authorisations: ``consumed`` (units taken from one service row),
    ``held`` (the plan requires an authorisation and none is usable: the claims issue refuses to
    submit it), or ``released`` (the charge was voided; its units were given back).
    ``charge_ref`` identifies the charge (``invoice_line:<id>``) and makes the check idempotent."""

    __tablename__ = "prior_authorization_usages"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("status IN ('consumed', 'held', 'released')", name="status_known"),
        Index("ix_prior_authorization_usages_patient", "patient_id", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    charge_ref: Mapped[str] = mapped_column(String(80), unique=True)
    code: Mapped[str] = mapped_column(String(5))
    service_date: Mapped[dt.date] = mapped_column(Date)
    units: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    hold_reason: Mapped[str | None] = mapped_column(String(40))  # missing | expired | exhausted
    authorization_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("prior_authorizations.id"), index=True
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("prior_authorization_services.id")
    )
    created_at: Mapped[dt.datetime] = created_at_column()
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
