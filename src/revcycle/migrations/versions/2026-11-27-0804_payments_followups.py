"""payments: autopay bank debit and client-address velocity

``payments.client_addr_bidx``: a keyed digest (crypto.blind_index, ``<key id>:<32 hex>``) of the
address a payment request came from, never the address itself; the card-testing rule counts
small declines per address with it (docs/fraud.md). Autopay by bank debit needs no schema change
(attempt and installment statuses are strings; docs/payment-plans.md).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 08:04:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite): payments keeps its constraints and triggers.
    op.add_column("payments", sa.Column("client_addr_bidx", sa.String(60), nullable=True))
    op.create_index("ix_payments_client_addr", "payments", ["client_addr_bidx", "created_at"])
    # The card-testing counts in one statement over declined card payments only (small: a
    # partial index), instead of three counts of which one scanned the practice's payments.
    op.create_index(
        "ix_payments_card_declines",
        "payments",
        ["practice_id", "created_at"],
        sqlite_where=sa.text("status = 'declined' AND method = 'card'"),
        postgresql_where=sa.text("status = 'declined' AND method = 'card'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_card_declines", table_name="payments")
    op.drop_index("ix_payments_client_addr", table_name="payments")
    op.drop_column("payments", "client_addr_bidx")
