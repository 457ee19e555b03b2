"""Posted 835 remittances (docs/remittance-posting.md).

* :class:`Remittance` one posted transaction set, unique by its identity (practice, payer,
  payee, trace number, payment amount, payment date) and carrying the set's SHA-256.
* :class:`RemittanceClaim` what one CLP did: the claim it matched (or none), the amounts, the
  ledger entries it posted (``entry_ids``) and the event ``detail`` written on the claim.
* :class:`RemittanceUnmatched` the queue of claims that matched none of ours: their money waits
  in 2300 payer offsets until a person matches them.
* :class:`Underpayment` paid + patient responsibility below the contract's expected allowed.
* :class:`RemittanceQuarantine` a set kept whole with the reason it was not posted (re-sent
  with other content under a posted identity, a reversal of nothing we posted).

No patient names or member ids are stored here: ``summary`` is the PHI-free JSON summary.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

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

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

CLAIM_OUTCOMES = ("adjudicated", "denied", "reversal", "unmatched", "predetermination")
UNMATCHED_STATUSES = ("open", "matched", "reversed")


class Remittance(Base):
    __tablename__ = "remittances"
    __table_args__ = (
        # The identity of a remittance: re-sent, it is recognised; the trace number alone is
        # not a key (real payers reuse it).
        UniqueConstraint(
            "practice_id",
            "payer_identifier",
            "payee_identifier",
            "trace_number",
            "payment_minor",
            "payment_date",
            name="uq_remittances_identity",
        ),
        Index("ix_remittances_practice", "practice_id", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    payer_identifier: Mapped[str] = mapped_column(String(80))  # REF*2U / N1*PR04 / TRN03
    payer_name: Mapped[str] = mapped_column(String(100))
    payee_identifier: Mapped[str] = mapped_column(String(80))  # N1*PE04 (NPI when XX)
    payee_name: Mapped[str] = mapped_column(String(100))
    trace_number: Mapped[str] = mapped_column(String(80))  # TRN02
    payment_minor: Mapped[Minor]  # BPR02
    payment_date: Mapped[dt.date] = mapped_column(Date)  # BPR16
    payment_method: Mapped[str] = mapped_column(String(3))  # BPR04
    currency: Mapped[Currency]
    set_control_number: Mapped[str] = mapped_column(String(9))  # ST02
    sha256: Mapped[str] = mapped_column(String(64))
    # The payer known to us (payers.edi_payer_id = payer_identifier), when there is one.
    payer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payers.id"))
    claim_count: Mapped[int] = mapped_column(Integer)
    unmatched_count: Mapped[int] = mapped_column(Integer)
    provider_adjustment_minor: Mapped[Minor]  # sum of PLB amounts (positive reduced the payment)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)  # the PHI-free era JSON of the set
    posted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = created_at_column()


class RemittanceClaim(Base):
    __tablename__ = "remittance_claims"
    __table_args__ = (
        UniqueConstraint("remittance_id", "position"),
        # A posting is reversed at most once.
        UniqueConstraint("reverses_id"),
        Index("ix_remittance_claims_payer_claim", "practice_id", "payer_claim_number"),
        Index("ix_remittance_claims_claim", "claim_id"),
        CheckConstraint(
            "outcome IN ('adjudicated', 'denied', 'reversal', 'unmatched', 'predetermination')",
            name="outcome_known",
        ),
    )

    id: Mapped[UUIDPk]
    remittance_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("remittances.id"))
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based CLP index within the set
    claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("claims.id"))
    patient_control_number: Mapped[str] = mapped_column(String(38))  # CLP01
    payer_claim_number: Mapped[str] = mapped_column(String(50))  # CLP07
    status_code: Mapped[str] = mapped_column(String(2))  # CLP02
    outcome: Mapped[str] = mapped_column(String(20))
    currency: Mapped[Currency]
    charge_minor: Mapped[Minor]
    paid_minor: Mapped[Minor]
    adjustment_minor: Mapped[Minor]  # CO/OA/PI posted to 4200 (not on a denial)
    patient_responsibility_minor: Mapped[Minor]  # every PR adjustment
    deductible_minor: Mapped[Minor]  # PR-1
    coinsurance_minor: Mapped[Minor]  # PR-2
    copay_minor: Mapped[Minor]  # PR-3
    other_patient_minor: Mapped[Minor]  # any other PR reason
    entry_ids: Mapped[list[str]] = mapped_column(JSON)  # the journal entries this claim posted
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("remittance_claims.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # the claim event detail contract
    created_at: Mapped[dt.datetime] = created_at_column()


class RemittanceUnmatched(Base):
    __tablename__ = "remittance_unmatched"
    __table_args__ = (
        UniqueConstraint("remittance_claim_id"),
        Index("ix_remittance_unmatched_practice_status", "practice_id", "status", "id"),
        CheckConstraint("status IN ('open', 'matched', 'reversed')", name="status_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    remittance_claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("remittance_claims.id"))
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="open")
    held_minor: Mapped[Minor]  # CLP04 held in 2300 payer offsets until matched
    currency: Mapped[Currency]
    matched_claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("claims.id"))
    matched_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    matched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()


class Underpayment(Base):
    __tablename__ = "underpayments"
    __table_args__ = (
        UniqueConstraint("remittance_claim_id"),
        Index("ix_underpayments_practice_status", "practice_id", "status", "id"),
        CheckConstraint("status IN ('open', 'reversed')", name="status_known"),
        CheckConstraint("difference_minor > 0", name="difference_positive"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    remittance_claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("remittance_claims.id"))
    expected_minor: Mapped[int] = mapped_column(BigInteger)  # the claim's expected allowed
    actual_minor: Mapped[int] = mapped_column(BigInteger)  # paid + patient responsibility
    difference_minor: Mapped[int] = mapped_column(BigInteger)  # expected - actual
    currency: Mapped[Currency]
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[dt.datetime] = created_at_column()


class RemittanceQuarantine(Base):
    __tablename__ = "remittance_quarantine"
    __table_args__ = (
        # The same content quarantined twice is kept once.
        UniqueConstraint("practice_id", "sha256"),
        Index("ix_remittance_quarantine_practice", "practice_id", "id"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    # The posted remittance whose identity this set claims, when that is the reason.
    remittance_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("remittances.id"))
    payer_identifier: Mapped[str] = mapped_column(String(80))
    payee_identifier: Mapped[str] = mapped_column(String(80))
    trace_number: Mapped[str] = mapped_column(String(80))
    payment_minor: Mapped[Minor]
    payment_date: Mapped[dt.date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(500))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = created_at_column()
