"""charges: which integration charge (FHIR ChargeItem) became which invoice line

Revision ID: 0029
Revises: 0024
Create Date: 2026-11-27 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charge_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("source_system", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("line_position", sa.Integer(), nullable=True),
        sa.Column("encounter", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_charge_imports_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_charge_imports_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_imports")),
        sa.UniqueConstraint(
            "practice_id",
            "source_system",
            "source_id",
            name=op.f("uq_charge_imports_practice_id_source_system_source_id"),
        ),
    )
    op.create_index(
        op.f("ix_charge_imports_invoice_id"), "charge_imports", ["invoice_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_charge_imports_invoice_id"), table_name="charge_imports")
    op.drop_table("charge_imports")
