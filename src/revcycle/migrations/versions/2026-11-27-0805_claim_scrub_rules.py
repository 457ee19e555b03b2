"""claims: the scrubber's configurable tables (unbundling edit pairs, per-day unit limits)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 08:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claim_edit_pairs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("column1_code", sa.String(length=5), nullable=False),
        sa.Column("column2_code", sa.String(length=5), nullable=False),
        sa.Column("modifier_bypass", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "column1_code <> column2_code", name=op.f("ck_claim_edit_pairs_codes_differ")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_claim_edit_pairs_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_edit_pairs")),
        sa.UniqueConstraint(
            "practice_id",
            "column1_code",
            "column2_code",
            name=op.f("uq_claim_edit_pairs_practice_id_column1_code_column2_code"),
        ),
    )
    op.create_table(
        "claim_unit_limits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("max_units", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("max_units > 0", name=op.f("ck_claim_unit_limits_max_units_positive")),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_claim_unit_limits_practice_id_practices"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["insurance_plans.id"],
            name=op.f("fk_claim_unit_limits_plan_id_insurance_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_unit_limits")),
    )
    op.create_index(
        "ux_claim_unit_limits_practice_code",
        "claim_unit_limits",
        ["practice_id", "code"],
        unique=True,
        sqlite_where=sa.text("plan_id IS NULL"),
        postgresql_where=sa.text("plan_id IS NULL"),
    )
    op.create_index(
        "ux_claim_unit_limits_plan_code",
        "claim_unit_limits",
        ["plan_id", "code"],
        unique=True,
        sqlite_where=sa.text("plan_id IS NOT NULL"),
        postgresql_where=sa.text("plan_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_claim_unit_limits_plan_code", table_name="claim_unit_limits")
    op.drop_index("ux_claim_unit_limits_practice_code", table_name="claim_unit_limits")
    op.drop_table("claim_unit_limits")
    op.drop_table("claim_edit_pairs")
