"""The CARC -> action table (docs/denials-appeals.md, "What to do about an adjustment"): which
follow-up a billing office takes for an adjustment, by group code, reason code (CARC) and
optionally a remark code (RARC). Rows with no practice are the defaults the migration ships;
a practice's own row with the same key replaces the default for that practice. Administrators
maintain the practice rows (``claim_rules:write``).

An empty string in ``group_code`` / ``reason_code`` / ``remark_code`` means "any" (a UNIQUE key
cannot hold NULLs that compare equal).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.columns import UUIDPk, created_at_column

# The follow-up actions, in the order the docs explain them.
ACTIONS = (
    "write_off",
    "patient",
    "correct_resubmit",
    "appeal",
    "check_eligibility",
    "timely_filing",
    "duplicate",
    "coordinate_benefits",
    "review",
)
DEFAULT_ACTION = "review"
GROUP_CODES = ("CO", "PR", "OA", "PI", "CR")

_ACTIONS_SQL = ", ".join(f"'{a}'" for a in ACTIONS)
_GROUPS_SQL = ", ".join(f"'{g}'" for g in ("", *GROUP_CODES))


class CarcAction(Base):
    """One key -> action row. Keys: group + CARC + RARC, group + CARC, CARC, or group."""

    __tablename__ = "carc_actions"
    __table_args__ = (
        Index(
            "ux_carc_actions_default_key",
            "group_code",
            "reason_code",
            "remark_code",
            unique=True,
            sqlite_where=text("practice_id IS NULL"),
            postgresql_where=text("practice_id IS NULL"),
        ),
        Index(
            "ux_carc_actions_practice_key",
            "practice_id",
            "group_code",
            "reason_code",
            "remark_code",
            unique=True,
            sqlite_where=text("practice_id IS NOT NULL"),
            postgresql_where=text("practice_id IS NOT NULL"),
        ),
        CheckConstraint(f"action IN ({_ACTIONS_SQL})", name="action_known"),
        CheckConstraint(f"group_code IN ({_GROUPS_SQL})", name="group_known"),
        CheckConstraint("group_code <> '' OR reason_code <> ''", name="matches_something"),
        CheckConstraint(
            "remark_code = '' OR (group_code <> '' AND reason_code <> '')",
            name="remark_needs_group_and_reason",
        ),
    )

    id: Mapped[UUIDPk]
    # NULL: a default shipped by the migration (every practice); else the practice's own row.
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("practices.id"))
    group_code: Mapped[str] = mapped_column(String(2))
    reason_code: Mapped[str] = mapped_column(String(5))
    remark_code: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
