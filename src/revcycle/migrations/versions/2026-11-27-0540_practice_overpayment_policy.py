"""practices.allow_overpayment: keep money above the open balances as patient credit, or refuse it

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "practices",
        sa.Column("allow_overpayment", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("practices") as batch:
        batch.drop_column("allow_overpayment")
