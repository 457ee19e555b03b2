"""receipt numbers and cash drawer reconciliation

Placeholder (no schema change yet): the revision number is reserved so that work on parallel
branches keeps one linear history.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 05:02:00
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
