"""ICD-10-CM code releases

Reference data loaded by ``revcycle codes load-icd10cm``: one row per release of a code set, one
row per ICD-10-CM header or billable code of that release.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 05:07:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from revcycle.db import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "code_releases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("source_version", sa.String(length=20), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_count", sa.Integer(), nullable=False),
        sa.Column("billable_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_releases")),
        sa.UniqueConstraint("system", "label", name=op.f("uq_code_releases_system_label")),
        sa.UniqueConstraint(
            "system", "effective_from", name=op.f("uq_code_releases_system_effective_from")
        ),
    )
    op.create_table(
        "icd10cm_codes",
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["code_releases.id"],
            name=op.f("fk_icd10cm_codes_release_id_code_releases"),
        ),
        sa.PrimaryKeyConstraint("release_id", "code", name=op.f("pk_icd10cm_codes")),
    )


def downgrade() -> None:
    op.drop_table("icd10cm_codes")
    op.drop_table("code_releases")
