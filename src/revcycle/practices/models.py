"""Practices (the billing entity), their providers and their charge master."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class Practice(Base):
    __tablename__ = "practices"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(200))
    npi: Mapped[str] = mapped_column(String(10), unique=True)
    tin: Mapped[str] = mapped_column(String(10))
    taxonomy: Mapped[str] = mapped_column(String(10))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(30))
    currency: Mapped[Currency]
    invoice_prefix: Mapped[str] = mapped_column(String(10))
    default_terms: Mapped[str] = mapped_column(String(20))
    default_terms_days: Mapped[int | None] = mapped_column(Integer)
    # Payments above the open balances become patient credit (True) or are refused (False).
    allow_overpayment: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Provider(Base):
    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("practice_id", "npi"),)

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    npi: Mapped[str] = mapped_column(String(10))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    credential: Mapped[str | None] = mapped_column(String(20))
    taxonomy: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ServiceItem(Base):
    """One charge-master price: a code (+ modifiers) and its price over an effective date window."""

    __tablename__ = "service_items"
    __table_args__ = (UniqueConstraint("practice_id", "code", "modifier_key", "effective_from"),)

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    code: Mapped[str] = mapped_column(String(5))
    # Modifiers joined with ":" in entry order ("" when none): part of the identity of a price.
    modifier_key: Mapped[str] = mapped_column(String(11), default="")
    description: Mapped[str] = mapped_column(String(300))
    price_minor: Mapped[Minor]
    currency: Mapped[Currency]
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def modifiers(self) -> list[str]:
        return self.modifier_key.split(":") if self.modifier_key else []
