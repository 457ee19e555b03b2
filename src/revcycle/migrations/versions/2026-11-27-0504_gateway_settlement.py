"""3-D Secure, webhook back-off, settlement reconciliation

Placeholder (no schema change yet): the revision number is reserved so that work on parallel
branches keeps one linear history.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 05:04:00
"""

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
