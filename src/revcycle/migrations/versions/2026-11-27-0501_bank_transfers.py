"""ACH-style bank transfers

revcycle's side: a bank-transfer payment keeps the account's last 4, routing number, type and
bank name (never the account number), its NACHA return code and when it settled / came back.
The built-in test gateway's own tables: ``testgw_bank_tokens`` and ``testgw_bank_debits``.
Columns are added without batch mode (SQLite ALTER TABLE ADD COLUMN): no table is rebuilt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 05:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
PAYMENT_COLUMNS = (
    ("bank_last4", sa.String(4)),
    ("bank_routing_number", sa.String(9)),
    ("bank_account_type", sa.String(10)),
    ("bank_name", sa.String(60)),
    ("return_code", sa.String(4)),
    ("settled_at", TS),
    ("returned_at", TS),
)


def upgrade() -> None:
    for name, type_ in PAYMENT_COLUMNS:
        op.add_column("payments", sa.Column(name, type_, nullable=True))
    op.create_table(
        "testgw_bank_tokens",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("routing_number", sa.String(9), nullable=False),
        sa.Column("bank_name", sa.String(60), nullable=True),
        sa.Column("account_type", sa.String(10), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("scenario", sa.String(30), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_bank_tokens"),
    )
    op.create_index("ix_testgw_bank_tokens_fingerprint", "testgw_bank_tokens", ["fingerprint"])
    op.create_table(
        "testgw_bank_debits",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("return_code", sa.String(4), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("settles_on", sa.Date(), nullable=False),
        sa.Column("returns_on", sa.Date(), nullable=True),
        sa.Column("settled_at", TS, nullable=True),
        sa.Column("returned_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_testgw_bank_debits_amount_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_bank_debits"),
        sa.UniqueConstraint("idempotency_key", name="uq_testgw_bank_debits_idempotency_key"),
    )
    op.create_index("ix_testgw_bank_debits_status", "testgw_bank_debits", ["status"])


def downgrade() -> None:
    op.drop_index("ix_testgw_bank_debits_status", table_name="testgw_bank_debits")
    op.drop_table("testgw_bank_debits")
    op.drop_index("ix_testgw_bank_tokens_fingerprint", table_name="testgw_bank_tokens")
    op.drop_table("testgw_bank_tokens")
    with op.batch_alter_table("payments") as b:  # payments is not append-only
        for name, _ in reversed(PAYMENT_COLUMNS):
            b.drop_column(name)
