"""Payments received and how each was applied to invoices (the rest is patient credit)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_payments_patient", "patient_id", "id"),
        Index("ix_payments_card_fingerprint", "card_fingerprint", "created_at"),
        Index("ix_payments_client_addr", "client_addr_bidx", "created_at"),
        # The card-testing counts (fraud): declined card payments only, by practice and time.
        Index(
            "ix_payments_card_declines",
            "practice_id",
            "created_at",
            sqlite_where=text("status = 'declined' AND method = 'card'"),
            postgresql_where=text("status = 'declined' AND method = 'card'"),
        ),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    method: Mapped[str] = mapped_column(String(20))  # cash | check | card | bank_transfer
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    received_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(60))  # cheque number, terminal ref
    unapplied_minor: Mapped[Minor] = mapped_column(default=0)  # part that became patient credit
    # None while a gateway payment is pending, and for declined/failed attempts.
    entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("journal_entries.id"))
    # succeeded | pending (gateway outcome unknown) | requires_action (3-D Secure) | declined |
    # failed (docs/payments.md) | returned (a bank transfer the bank returned:
    # docs/bank-transfers.md)
    status: Mapped[str] = mapped_column(String(20), default="succeeded", server_default="succeeded")
    # Gateway card payments: only what PCI DSS lets us keep (never the number, never the CVC).
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    # The gateway's fingerprint of the card (same card, same value; never the number): fraud.
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # A keyed digest of the address the request came from (crypto.blind_index; never the
    # address): the card-testing rule's per-address count (docs/fraud.md). None: no address.
    client_addr_bidx: Mapped[str | None] = mapped_column(String(60))
    gateway_provider: Mapped[str | None] = mapped_column(String(20))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    # The key revcycle sent to the gateway: derived from the caller and their Idempotency-Key,
    # so a retry (even after a crash) finds this row and the gateway answers with the same charge.
    gateway_idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    decline_code: Mapped[str | None] = mapped_column(String(40))
    # status requires_action: the gateway's 3-D Secure page for the cardholder
    next_action_url: Mapped[str | None] = mapped_column(String(300))
    # The allocations asked for (JSON), applied when a pending payment completes.
    allocation_request: Mapped[str | None] = mapped_column(Text)
    # Gateway bank transfers (docs/bank-transfers.md): never the account number. ``returned``
    # payments carry the NACHA ``return_code``; a settled one that came back has its entry reversed.
    bank_last4: Mapped[str | None] = mapped_column(String(4))
    bank_routing_number: Mapped[str | None] = mapped_column(String(9))
    bank_account_type: Mapped[str | None] = mapped_column(String(10))
    bank_name: Mapped[str | None] = mapped_column(String(60))
    return_code: Mapped[str | None] = mapped_column(String(4))
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class PaymentAllocation(Base):
    __tablename__ = "payment_allocations"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[UUIDPk]
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[Minor]
    currency: Mapped[Currency]
    position: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # order applied (oldest due first)
