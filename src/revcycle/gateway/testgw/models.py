"""The test gateway's own tables (``testgw_*``). No card number and no CVC is stored: a token
keeps the brand, last 4, expiry, a keyed fingerprint and the test scenario its number selects."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.clock import utcnow


class TestgwToken(Base):
    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # tok_...
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)  # HMAC of the number
    scenario: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TestgwCharge(Base):
    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_charges"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("captured_minor <= amount_minor", name="captured_le_amount"),
        CheckConstraint("refunded_minor <= captured_minor", name="refunded_le_captured"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ch_...
    token_id: Mapped[str] = mapped_column(String(40))
    # succeeded | requires_action | declined (pending is never stored: the test gateway decides)
    status: Mapped[str] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # when the money was captured: the day it is settled (settlement_report)
    captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class TestgwRefund(Base):
    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # re_...
    charge_id: Mapped[str] = mapped_column(String(40), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TestgwWebhook(Base):
    """The gateway's outbox: one row per event, written with the change that caused it."""

    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_webhook_outbox"
    __table_args__ = (Index("ix_testgw_webhook_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    # pending -> delivered, or dead after the last attempt (testgw.delivery)
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    # not before this time (back-off after a failure; a lease while a worker is sending)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TestgwBankToken(Base):
    """A bank account exchanged for a ``btok_...``: never the account number (a keyed
    fingerprint and the last 4), never the holder's name (validated, then dropped)."""

    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_bank_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # btok_...
    routing_number: Mapped[str] = mapped_column(String(9))  # public: it names the bank
    bank_name: Mapped[str | None] = mapped_column(String(60))
    account_type: Mapped[str] = mapped_column(String(10))  # checking | savings
    last4: Mapped[str] = mapped_column(String(4))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)  # HMAC of routing+account
    scenario: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TestgwBankDebit(Base):
    """An ACH-style debit: processing -> succeeded (settled) | failed (returned before
    settlement); succeeded -> returned (a late return). ``settles_on`` is when settlement is due;
    ``returns_on`` when a late return is due (scenario return_after_settlement)."""

    __test__ = False  # not a pytest test class

    __tablename__ = "testgw_bank_debits"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # py_...
    token_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), index=True)
    return_code: Mapped[str | None] = mapped_column(String(4))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")
    settles_on: Mapped[dt.date] = mapped_column(Date)
    returns_on: Mapped[dt.date | None] = mapped_column(Date)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
