"""Stored payment methods: a gateway token a patient agreed to be charged with (autopay).

Never a card number, never a CVC: the token, and what PCI DSS lets us show (brand, last 4,
expiry). ``kind`` is ``card`` (``tok_...`` from the card gateway) or ``bank`` (ACH ``btok_...``,
added by the bank-transfer work); removal is a status change, the row stays for history.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

KINDS = ("card", "bank")


class StoredPaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        CheckConstraint("kind IN ('card', 'bank')", name="kind_known"),
        CheckConstraint("status IN ('active', 'removed')", name="status_known"),
        Index("ix_payment_methods_patient", "patient_id", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(10))  # card | bank
    status: Mapped[str] = mapped_column(String(10), default="active")
    gateway_provider: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(80))  # opaque gateway token; never shown
    # card: brand / last 4 of the card; bank: bank name / last 4 of the account.
    brand: Mapped[str | None] = mapped_column(String(40))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    # The authorisation the patient gave (shown text, when, who recorded it).
    consent_text: Mapped[str] = mapped_column(Text)
    consented_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = created_at_column()
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
