"""fraud rules and review queue

``fraud_reviews`` (one row per blocked, held or flagged attempt or after-the-fact finding; UNIQUE
``dedupe_key`` makes the periodic job's findings exactly-once), ``fraud_rule_configs`` (a
practice's overrides of a rule's defaults, UNIQUE per practice and rule) and
``payments.card_fingerprint`` (the gateway's fingerprint of the card, never the number), which the
card-testing and "same card, many patients" rules query.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 05:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite): payments keeps its constraints and triggers.
    op.add_column("payments", sa.Column("card_fingerprint", sa.String(64), nullable=True))
    op.create_index("ix_payments_card_fingerprint", "payments", ["card_fingerprint", "created_at"])

    op.create_table(
        "fraud_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("rule_code", sa.String(40), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_note", sa.String(300), nullable=True),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "action IN ('block', 'hold', 'flag')", name=op.f("ck_fraud_reviews_action_known")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'held', 'approved', 'rejected', 'dismissed', 'confirmed')",
            name=op.f("ck_fraud_reviews_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_fraud_reviews_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_fraud_reviews_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_reviews")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_fraud_reviews_dedupe_key")),
    )
    op.create_index(
        "ix_fraud_reviews_practice_status", "fraud_reviews", ["practice_id", "status", "id"]
    )
    op.create_index("ix_fraud_reviews_rule_code", "fraud_reviews", ["rule_code"])

    op.create_table(
        "fraud_rule_configs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("rule_code", sa.String(40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(10), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('block', 'hold', 'flag')",
            name=op.f("ck_fraud_rule_configs_action_known"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_fraud_rule_configs_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_rule_configs")),
        sa.UniqueConstraint(
            "practice_id", "rule_code", name=op.f("uq_fraud_rule_configs_practice_id_rule_code")
        ),
    )


def downgrade() -> None:
    op.drop_table("fraud_rule_configs")
    op.drop_index("ix_fraud_reviews_rule_code", table_name="fraud_reviews")
    op.drop_index("ix_fraud_reviews_practice_status", table_name="fraud_reviews")
    op.drop_table("fraud_reviews")
    op.drop_index("ix_payments_card_fingerprint", table_name="payments")
    op.drop_column("payments", "card_fingerprint")
