"""ICD-10-CM code releases (reserved)

Placeholder (no schema change yet): the revision number is reserved so that work on parallel
branches keeps one linear history.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 05:07:00
"""

from collections.abc import Sequence

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
