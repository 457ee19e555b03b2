"""Insurance claims: a claim per (invoice charges, coverage), its service lines, the append-only
history of its states, and the 837P batches it travelled in (docs/claims.md).

Where a claim *is* (``status``: draft, scrubbed, held, submitted, accepted, rejected, adjudicated,
denied, appealed, closed, void) is kept apart from *what was paid* (the remittance postings, in
the remittances domain, and the ledger). Every change of ``status`` writes one
:class:`ClaimEvent` with the actor and the reason in the same transaction.
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
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.crypto.fields import EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

STATUSES = (
    "draft",
    "scrubbed",
    "held",
    "submitted",
    "accepted",
    "rejected",
    "adjudicated",
    "denied",
    "appealed",
    "closed",
    "void",
)
_STATUS_SQL = ", ".join(f"'{s}'" for s in STATUSES)


class ClaimSequence(Base):
    """The last claim number used by a practice (row-locked to allocate, gap-free)."""

    __tablename__ = "claim_sequences"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("practice_id", "number"),
        UniqueConstraint("practice_id", "control_number"),
        Index("ix_claims_practice_status", "practice_id", "status", "id"),
        Index("ix_claims_patient", "patient_id", "id"),
        Index("ix_claims_invoice", "invoice_id"),
        CheckConstraint(f"status IN ({_STATUS_SQL})", name="status_known"),
        CheckConstraint("sequence IN ('primary', 'secondary', 'tertiary')", name="sequence_known"),
        CheckConstraint("frequency_code IN ('1', '7', '8')", name="frequency_known"),
        CheckConstraint("charge_minor > 0", name="charge_positive"),
        CheckConstraint("service_date_to >= service_date_from", name="dates_ordered"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoices.id"))
    coverage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coverages.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payers.id"))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("insurance_plans.id"))
    number: Mapped[int] = mapped_column(Integer)  # per practice, gap-free
    # CLM01, the patient control number the payer echoes in 277CA TRN*2 and 835 CLP01: kept
    # across corrections (a replacement or void carries the original's).
    control_number: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[str] = mapped_column(String(10))  # primary | secondary | tertiary
    frequency_code: Mapped[str] = mapped_column(String(1), default="1")  # 1 | 7 | 8
    # The primary payer's claim this secondary claim follows (COB), and the claim a corrected /
    # void claim replaces.
    primary_claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("claims.id"))
    replaces_claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("claims.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    place_of_service: Mapped[str] = mapped_column(String(2))
    rendering_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("providers.id")
    )
    referring_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("providers.id")
    )
    prior_authorization: Mapped[str | None] = mapped_column(String(50))
    # ICD-10-CM codes without the dot, principal first (HI); lines point into this list.
    diagnosis_codes: Mapped[list[str]] = mapped_column(JSON)
    service_date_from: Mapped[dt.date] = mapped_column(Date)
    service_date_to: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[Currency]
    charge_minor: Mapped[Minor]
    # The contract's allowed amount for the lines (None when a line has no fee-schedule rate).
    expected_allowed_minor: Mapped[int | None] = mapped_column(BigInteger)
    # The payer's claim number (ICN/DCN), from the 277CA or the 835; needed for 7/8 and appeals.
    payer_claim_number: Mapped[str | None] = mapped_column(String(50))
    # Every payer claim number (835 CLP07) the claim was answered under, first first: a payer
    # that splits a claim answers each part under its own number (docs/remittance-posting.md).
    payer_claim_numbers: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # The latest predetermination (835 CLP02 25): the payer's pricing, no payment.
    predetermination: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The ledger entry that moved the charges from patient to insurance receivables when the
    # claim was first submitted (docs/claims.md, "Ledger").
    billed_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("journal_entries.id")
    )
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ClaimLine(Base):
    __tablename__ = "claim_lines"
    __table_args__ = (
        UniqueConstraint("claim_id", "position"),
        Index("ix_claim_lines_line_control_number", "line_control_number"),
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("charge_minor > 0", name="charge_positive"),
    )

    id: Mapped[UUIDPk]
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    position: Mapped[int] = mapped_column(Integer)  # 1-based, LX01
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("invoice_lines.id"))
    procedure: Mapped[str] = mapped_column(String(5))
    modifiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    units: Mapped[int] = mapped_column(Integer)
    charge_minor: Mapped[Minor]
    diagnosis_pointers: Mapped[list[int]] = mapped_column(JSON)  # 1-based into diagnosis_codes
    service_date: Mapped[dt.date] = mapped_column(Date)
    expected_allowed_minor: Mapped[int | None] = mapped_column(BigInteger)
    # REF*6R "C<claim number>L<position>": unique within the practice (a replacement claim, which
    # keeps CLM01, gets new ones), echoed by the 835 (REF*6R under SVC) and the 277CA.
    line_control_number: Mapped[str] = mapped_column(String(30))


class ClaimEvent(Base):
    """Append-only: one row per change of a claim's status (and per note-worthy fact such as a
    scrub run or an acknowledgement), with who (a user, the worker or the payer) and why."""

    __tablename__ = "claim_events"
    __table_args__ = (Index("ix_claim_events_claim", "claim_id", "id"),)

    id: Mapped[UUIDPk]
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    kind: Mapped[str] = mapped_column(String(30))  # transition | scrubbed | note ...
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | system | payer
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[dt.datetime] = created_at_column()


class X12ControlCounter(Base):
    """The last ISA13 interchange control number a practice used for claim files (row-locked to
    allocate; ISA13 is 9 digits, GS06 reuses it, so both are unique per sender)."""

    __tablename__ = "x12_control_counters"

    practice_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("practices.id"), primary_key=True
    )
    last_interchange: Mapped[int] = mapped_column(Integer, default=0)


class ClaimBatch(Base):
    """One 837P interchange sent to the clearinghouse."""

    __tablename__ = "claim_batches"
    __table_args__ = (
        UniqueConstraint("practice_id", "interchange_control_number"),
        UniqueConstraint("idempotency_key"),
        CheckConstraint("status IN ('built', 'submitted', 'failed')", name="status_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    interchange_control_number: Mapped[int] = mapped_column(Integer)  # ISA13 = GS06
    # BHT03 of its transaction set, echoed by the 277CA.
    batch_reference: Mapped[str] = mapped_column(String(30))
    idempotency_key: Mapped[str] = mapped_column(String(64))  # the clearinghouse submit key
    status: Mapped[str] = mapped_column(String(20), default="built")
    claim_count: Mapped[int] = mapped_column(Integer)
    total_charge_minor: Mapped[Minor]
    currency: Mapped[Currency]
    content_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(EncryptedString("claim_batches.content"))  # PHI
    clearinghouse: Mapped[str] = mapped_column(String(30))
    file_id: Mapped[str | None] = mapped_column(String(100))  # the clearinghouse's receipt
    error: Mapped[str | None] = mapped_column(String(300))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ClaimSubmission(Base):
    """A claim's place in a batch: the n-th time it was sent (a rejected claim is corrected and
    sent again), its transaction set and segment range (a 999 IK3 position maps back to it)."""

    __tablename__ = "claim_submissions"
    __table_args__ = (
        UniqueConstraint("claim_id", "attempt"),
        Index("ix_claim_submissions_batch", "batch_id"),
    )

    id: Mapped[UUIDPk]
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claim_batches.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    set_control_number: Mapped[str] = mapped_column(String(9))
    first_segment: Mapped[int] = mapped_column(Integer)
    last_segment: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = created_at_column()
