"""The payer simulator's own state (``chsim_*`` tables, like the test gateway's ``testgw_*``).

None of this is revcycle's own data: it is what the simulated clearinghouse and payer keep on
their side. The 837 received and every file generated (999, 277CA, 835) hold PHI and are sealed
(AES-GCM, like the eligibility checks' raw 270/271); member ids are kept only as a blind index.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.crypto.blind_index import BlindIndex
from revcycle.crypto.fields import EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

# payer EDI id + member id -> digest (the simulator never stores a member id in clear).
CHSIM_MEMBER_INDEX = BlindIndex("member_key", "chsim_claims.member_key", ("payer", "member"))
# payer + member + first date of service + codes + charge: what makes a claim a duplicate.
CHSIM_DUPLICATE_INDEX = BlindIndex(
    "duplicate_key", "chsim_claims.duplicate_key", ("payer", "member", "claim")
)

FILE_KINDS = ("837P", "999", "277CA", "835")
CLAIM_STATUSES = ("rejected", "accepted", "paid", "denied", "reversed", "replaced", "voided")


class ChsimFile(Base):
    """A file the simulator received (``in``: an 837) or made for revcycle to poll (``out``)."""

    __tablename__ = "chsim_files"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("sequence"),
        Index("ix_chsim_files_outbox", "direction", "acknowledged_at", "available_at"),
        CheckConstraint("direction IN ('in', 'out')", name="direction_known"),
        CheckConstraint("kind IN ('837P', '837I', '999', '277CA', '835')", name="kind_known"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # chf_<32 hex>
    sequence: Mapped[int] = mapped_column(BigInteger)  # from the counter: the tie-break order
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(120))
    content: Mapped[str] = mapped_column(EncryptedString("chsim_files.content"))
    sha256: Mapped[str] = mapped_column(String(64))
    # Only on submitted files: the caller's retry key (a second submit returns this row).
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    submission_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payer_id: Mapped[str | None] = mapped_column(String(80))  # 835: the payer's EDI id
    payee_npi: Mapped[str | None] = mapped_column(String(10))
    # 835: the sum of the PLB FB amounts written (negative = balance carried forward).
    forward_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()


class ChsimClaim(Base):
    """A claim as the simulated payer knows it: its claim number (ICN), what became of it and
    when revcycle can see that (the 277CA's and the 835's availability)."""

    __tablename__ = "chsim_claims"
    __table_args__ = (
        UniqueConstraint("payer_claim_number"),
        Index("ix_chsim_claims_member", "member_key", "service_date"),
        Index("ix_chsim_claims_duplicate", "duplicate_key"),
        CheckConstraint(
            "status IN ('rejected', 'accepted', 'paid', 'denied', 'reversed', 'replaced', "
            "'voided')",
            name="status_known",
        ),
    )

    id: Mapped[UUIDPk]
    payer_claim_number: Mapped[str] = mapped_column(String(20))  # ICN: 277CA REF*1K, CLP07
    submission_id: Mapped[str] = mapped_column(String(40), index=True)
    payer_id: Mapped[str] = mapped_column(String(80))
    billing_npi: Mapped[str] = mapped_column(String(10))
    patient_control_number: Mapped[str] = mapped_column(String(38))  # CLM01
    member_key: Mapped[str] = mapped_column(String(80))
    duplicate_key: Mapped[str | None] = mapped_column(String(80))
    frequency: Mapped[str] = mapped_column(String(1))
    original_claim_number: Mapped[str | None] = mapped_column(String(50))  # REF*F8 of a 7/8
    status: Mapped[str] = mapped_column(String(10))
    status_category: Mapped[str] = mapped_column(String(2))  # the 277CA's (or 277's) STC01-1
    status_code: Mapped[str] = mapped_column(String(5))  # STC01-2
    denial_reason: Mapped[str | None] = mapped_column(String(5))  # the whole-claim CARC
    service_date: Mapped[dt.date] = mapped_column(Date)
    charge_minor: Mapped[int] = mapped_column(BigInteger)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    patient_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    deductible_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    coverage_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    benefit_year_start: Mapped[dt.date | None] = mapped_column(Date)
    # The 835 claim loop as paid (JSON, sealed: names and member id): a later void or reversal
    # writes its exact negative.
    payment: Mapped[str | None] = mapped_column(EncryptedString("chsim_claims.payment"))
    acknowledged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # 277CA available
    adjudicated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # 835 available
    created_at: Mapped[dt.datetime] = created_at_column()


class ChsimAccumulator(Base):
    """What the simulated payer has applied to a member's deductible and out-of-pocket in one
    benefit year, on top of the coverage's own accumulator (successive claims consume it)."""

    __tablename__ = "chsim_accumulators"
    __table_args__ = (UniqueConstraint("coverage_id", "benefit_year_start"),)

    id: Mapped[UUIDPk]
    coverage_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    benefit_year_start: Mapped[dt.date] = mapped_column(Date)
    deductible_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    oop_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = created_at_column()


class ChsimCounter(Base):
    """Control numbers and claim numbers the simulator hands out (row-locked increments)."""

    __tablename__ = "chsim_counters"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
