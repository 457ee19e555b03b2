"""3-D Secure, webhook back-off, card refunds by approval, settlement reconciliation

* ``approval_requests``: status ``failed`` (an approved card refund the gateway refused) and its
  ``failure_code``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 05:04:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = "status IN ('requested', 'approved', 'executed', 'rejected', 'cancelled')"
_NEW_STATUSES = "status IN ('requested', 'approved', 'executed', 'rejected', 'cancelled', 'failed')"


def upgrade() -> None:
    # approval_requests is not append-only: a batch rebuild on SQLite keeps nothing from us.
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("failure_code", sa.String(length=40), nullable=True))
        batch.drop_constraint(op.f("ck_approval_requests_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_approval_requests_status_known"), _NEW_STATUSES)


def downgrade() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.drop_constraint(op.f("ck_approval_requests_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_approval_requests_status_known"), _OLD_STATUSES)
        batch.drop_column("failure_code")
