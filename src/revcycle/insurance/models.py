"""Payers, their plans and fee schedules, and patients' coverages (docs/insurance.md).

A payer row is one practice's record of a payer (its contract): the same real payer appears once
per practice, so every row is scoped by ``practice_id`` like the rest of the practice's data.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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

from revcycle.crypto.blind_index import BlindIndex, maintain
from revcycle.crypto.fields import EncryptedDate, EncryptedString
from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import Currency, Minor, UUIDPk, created_at_column

MEMBER_ID_INDEX = BlindIndex("member_id_bidx", "coverages.member_id", ("member_id",))
BIDX_LENGTH = 80


class Payer(Base):
    __tablename__ = "payers"
    __table_args__ = (
        UniqueConstraint("practice_id", "edi_payer_id"),
        CheckConstraint("timely_filing_days > 0", name="timely_filing_positive"),
        CheckConstraint("appeal_deadline_days > 0", name="appeal_deadline_positive"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The payer id clearinghouses route by (X12 NM109 of the payer loop), e.g. "60054".
    edi_payer_id: Mapped[str] = mapped_column(String(20))
    claims_address_line1: Mapped[str | None] = mapped_column(String(200))
    claims_address_line2: Mapped[str | None] = mapped_column(String(200))
    claims_city: Mapped[str | None] = mapped_column(String(100))
    claims_state: Mapped[str | None] = mapped_column(String(2))
    claims_postal_code: Mapped[str | None] = mapped_column(String(10))
    eligibility_address_line1: Mapped[str | None] = mapped_column(String(200))
    eligibility_address_line2: Mapped[str | None] = mapped_column(String(200))
    eligibility_city: Mapped[str | None] = mapped_column(String(100))
    eligibility_state: Mapped[str | None] = mapped_column(String(2))
    eligibility_postal_code: Mapped[str | None] = mapped_column(String(10))
    timely_filing_days: Mapped[int] = mapped_column(Integer)
    appeal_deadline_days: Mapped[int] = mapped_column(Integer)
    # The payer forwards secondary claims itself (Medicare crossover): no separate secondary claim.
    secondary_crossover: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InsurancePlan(Base):
    """A payer's product as contracted by the practice, with the benefit parameters estimates use
    when no eligibility response is available (docs/insurance.md)."""

    __tablename__ = "insurance_plans"
    __table_args__ = (
        CheckConstraint("coinsurance_bp BETWEEN 0 AND 10000", name="coinsurance_range"),
        CheckConstraint("benefit_year_start_month BETWEEN 1 AND 12", name="benefit_month_range"),
        CheckConstraint("deductible_minor >= 0", name="deductible_nonnegative"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"), index=True)
    payer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the product, e.g. "Choice Plus PPO"
    product_type: Mapped[str] = mapped_column(String(20))  # ppo | hmo | epo | pos | ...
    network: Mapped[str | None] = mapped_column(String(100))
    in_network: Mapped[bool] = mapped_column(Boolean, default=True)
    currency: Mapped[Currency]
    deductible_minor: Mapped[Minor]
    family_deductible_minor: Mapped[int | None] = mapped_column(BigInteger)
    oop_max_minor: Mapped[int | None] = mapped_column(BigInteger)
    family_oop_max_minor: Mapped[int | None] = mapped_column(BigInteger)
    # The patient's share after the deductible, in basis points (2000 = 20%).
    coinsurance_bp: Mapped[int] = mapped_column(Integer)
    # Service category -> copay in minor units (estimates.calc.CATEGORIES).
    copays: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    cost_share_order: Mapped[str] = mapped_column(String(30))
    benefit_year_start_month: Mapped[int] = mapped_column(Integer, default=1)
    # CPT/HCPCS codes this plan pays only with a prior authorisation.
    auth_required_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FeeScheduleRow(Base):
    """The contracted allowed amount for one code (+ optional modifier) over a date window."""

    __tablename__ = "fee_schedule_rows"
    __table_args__ = (
        UniqueConstraint("plan_id", "code", "modifier", "effective_from"),
        CheckConstraint("allowed_minor >= 0", name="allowed_nonnegative"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="window_ordered"
        ),
    )

    id: Mapped[UUIDPk]
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("insurance_plans.id"))
    code: Mapped[str] = mapped_column(String(5))
    modifier: Mapped[str] = mapped_column(String(2), default="")  # "" = any / none
    allowed_minor: Mapped[Minor]
    currency: Mapped[Currency]
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


def _phi(column: str) -> EncryptedString:
    return EncryptedString(f"coverages.{column}")


class Coverage(Base):
    """A patient's insurance: payer, plan, member, subscriber and dates. Its priority (primary,
    secondary, tertiary) over time lives in ``coverage_priorities``."""

    __tablename__ = "coverages"
    __table_args__ = (
        Index("ix_coverages_patient", "patient_id", "id"),
        Index("ix_coverages_member_id_bidx", "member_id_bidx"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="window_ordered"
        ),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patients.id"))
    payer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payers.id"))
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("insurance_plans.id"))
    # PHI, sealed like the patient's (docs/phi-encryption.md); found through its blind index.
    member_id: Mapped[str] = mapped_column(_phi("member_id"))
    member_id_bidx: Mapped[str] = mapped_column(String(BIDX_LENGTH))
    group_number: Mapped[str | None] = mapped_column(String(30))
    # X12 individual relationship code of the patient to the subscriber (18 = self).
    relationship: Mapped[str] = mapped_column(String(2))
    # The subscriber when not the patient (PHI); optionally also a patient of the practice.
    subscriber_first_name: Mapped[str | None] = mapped_column(_phi("subscriber_first_name"))
    subscriber_last_name: Mapped[str | None] = mapped_column(_phi("subscriber_last_name"))
    subscriber_date_of_birth: Mapped[dt.date | None] = mapped_column(
        EncryptedDate("coverages.subscriber_date_of_birth")
    )
    subscriber_patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("patients.id"))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)  # termination date (inclusive)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    termination_reason: Mapped[str | None] = mapped_column(String(300))
    # Card images are not stored here (docs/insurance.md): a reference into a document store.
    card_image_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


maintain(Coverage, MEMBER_ID_INDEX)


class CoveragePriority(Base):
    """Append-only: from ``effective_from`` on, the coverage has this priority (1 primary,
    2 secondary, 3 tertiary) until the coverage's next row."""

    __tablename__ = "coverage_priorities"
    __table_args__ = (
        UniqueConstraint("coverage_id", "effective_from"),
        CheckConstraint("priority BETWEEN 1 AND 3", name="priority_range"),
    )

    id: Mapped[UUIDPk]
    coverage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coverages.id"))
    priority: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class CoverageAccumulator(Base):
    """Deductible and out-of-pocket amounts met in one benefit year, as known on ``as_of``
    (entered by staff, later from 271 responses). Append-only: the latest ``as_of`` wins."""

    __tablename__ = "coverage_accumulators"
    __table_args__ = (
        Index("ix_coverage_accumulators_year", "coverage_id", "benefit_year_start", "as_of"),
        CheckConstraint("deductible_met_minor >= 0 AND oop_met_minor >= 0", name="met_nonnegative"),
    )

    id: Mapped[UUIDPk]
    coverage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("coverages.id"))
    benefit_year_start: Mapped[dt.date] = mapped_column(Date)
    as_of: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[Currency]
    deductible_met_minor: Mapped[Minor]
    oop_met_minor: Mapped[Minor]
    family_deductible_met_minor: Mapped[int | None] = mapped_column(BigInteger)
    family_oop_met_minor: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20), default="manual")  # manual | eligibility
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
