"""The scrubber's configurable tables (docs/claims-scrubber.md): a practice's unbundling edit
pairs and its per-day unit limits (practice-wide or for one plan). Admins maintain them
(``claim_rules:write``); the scrubber reads them on every run, so a change applies to the next
scrub without a restart and every process sees the same rules.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import UUIDPk, created_at_column


class ClaimEditPair(Base):
    """Column 2 code is part of column 1 code when both are billed on the same day: billing both
    is unbundling, unless ``modifier_bypass`` and a line carries 59/XE/XS/XP/XU."""

    __tablename__ = "claim_edit_pairs"
    __table_args__ = (
        UniqueConstraint("practice_id", "column1_code", "column2_code"),
        CheckConstraint("column1_code <> column2_code", name="codes_differ"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    column1_code: Mapped[str] = mapped_column(String(5))
    column2_code: Mapped[str] = mapped_column(String(5))
    modifier_bypass: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ClaimUnitLimit(Base):
    """At most ``max_units`` of ``code`` per patient per date of service on one claim: for every
    plan of the practice (``plan_id`` NULL) or for one plan (which wins over the practice row)."""

    __tablename__ = "claim_unit_limits"
    __table_args__ = (
        # One practice-wide row and one row per plan for a code (NULL plan_id is not equal to
        # itself in a UNIQUE constraint, hence two partial unique indexes).
        Index(
            "ux_claim_unit_limits_practice_code",
            "practice_id",
            "code",
            unique=True,
            sqlite_where=text("plan_id IS NULL"),
            postgresql_where=text("plan_id IS NULL"),
        ),
        Index(
            "ux_claim_unit_limits_plan_code",
            "plan_id",
            "code",
            unique=True,
            sqlite_where=text("plan_id IS NOT NULL"),
            postgresql_where=text("plan_id IS NOT NULL"),
        ),
        CheckConstraint("max_units > 0", name="max_units_positive"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("insurance_plans.id"))
    code: Mapped[str] = mapped_column(String(5))
    max_units: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
