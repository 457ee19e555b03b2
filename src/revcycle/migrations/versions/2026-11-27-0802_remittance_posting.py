"""remittances: posted 835 sets, claim payments, unmatched and quarantine, underpayments

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 08:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "remittances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("payer_identifier", sa.String(length=80), nullable=False),
        sa.Column("payer_name", sa.String(length=100), nullable=False),
        sa.Column("payee_identifier", sa.String(length=80), nullable=False),
        sa.Column("payee_name", sa.String(length=100), nullable=False),
        sa.Column("trace_number", sa.String(length=80), nullable=False),
        sa.Column("payment_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=False),
        sa.Column("payment_method", sa.String(length=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("set_control_number", sa.String(length=9), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=True),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("unmatched_count", sa.Integer(), nullable=False),
        sa.Column("provider_adjustment_minor", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("posted_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_remittances_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_remittances_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittances")),
        sa.UniqueConstraint(
            "practice_id",
            "payer_identifier",
            "payee_identifier",
            "trace_number",
            "payment_minor",
            "payment_date",
            name="uq_remittances_identity",
        ),
    )
    op.create_index("ix_remittances_practice", "remittances", ["practice_id", "id"], unique=False)
    op.create_table(
        "remittance_quarantine",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("remittance_id", sa.Uuid(), nullable=True),
        sa.Column("payer_identifier", sa.String(length=80), nullable=False),
        sa.Column("payee_identifier", sa.String(length=80), nullable=False),
        sa.Column("trace_number", sa.String(length=80), nullable=False),
        sa.Column("payment_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_date", sa.Date(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_remittance_quarantine_practice_id_practices"),
        ),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittances.id"],
            name=op.f("fk_remittance_quarantine_remittance_id_remittances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_quarantine")),
        sa.UniqueConstraint(
            "practice_id", "sha256", name=op.f("uq_remittance_quarantine_practice_id_sha256")
        ),
    )
    op.create_index(
        "ix_remittance_quarantine_practice",
        "remittance_quarantine",
        ["practice_id", "id"],
        unique=False,
    )
    op.create_table(
        "remittance_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("remittance_id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("patient_control_number", sa.String(length=38), nullable=False),
        sa.Column("payer_claim_number", sa.String(length=50), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("adjustment_minor", sa.BigInteger(), nullable=False),
        sa.Column("patient_responsibility_minor", sa.BigInteger(), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("coinsurance_minor", sa.BigInteger(), nullable=False),
        sa.Column("copay_minor", sa.BigInteger(), nullable=False),
        sa.Column("other_patient_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('adjudicated', 'denied', 'reversal', 'unmatched')",
            name=op.f("ck_remittance_claims_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_remittance_claims_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_remittance_claims_practice_id_practices"),
        ),
        sa.ForeignKeyConstraint(
            ["remittance_id"],
            ["remittances.id"],
            name=op.f("fk_remittance_claims_remittance_id_remittances"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["remittance_claims.id"],
            name=op.f("fk_remittance_claims_reverses_id_remittance_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_claims")),
        sa.UniqueConstraint(
            "remittance_id", "position", name=op.f("uq_remittance_claims_remittance_id_position")
        ),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_remittance_claims_reverses_id")),
    )
    op.create_index("ix_remittance_claims_claim", "remittance_claims", ["claim_id"], unique=False)
    op.create_index(
        "ix_remittance_claims_payer_claim",
        "remittance_claims",
        ["practice_id", "payer_claim_number"],
        unique=False,
    )
    op.create_table(
        "remittance_unmatched",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("remittance_claim_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("held_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("matched_claim_id", sa.Uuid(), nullable=True),
        sa.Column("matched_by", sa.Uuid(), nullable=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'matched', 'reversed')",
            name=op.f("ck_remittance_unmatched_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["matched_claim_id"],
            ["claims.id"],
            name=op.f("fk_remittance_unmatched_matched_claim_id_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_remittance_unmatched_practice_id_practices"),
        ),
        sa.ForeignKeyConstraint(
            ["remittance_claim_id"],
            ["remittance_claims.id"],
            name=op.f("fk_remittance_unmatched_remittance_claim_id_remittance_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remittance_unmatched")),
        sa.UniqueConstraint(
            "remittance_claim_id", name=op.f("uq_remittance_unmatched_remittance_claim_id")
        ),
    )
    op.create_index(
        "ix_remittance_unmatched_practice_status",
        "remittance_unmatched",
        ["practice_id", "status", "id"],
        unique=False,
    )
    op.create_table(
        "underpayments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("remittance_claim_id", sa.Uuid(), nullable=False),
        sa.Column("expected_minor", sa.BigInteger(), nullable=False),
        sa.Column("actual_minor", sa.BigInteger(), nullable=False),
        sa.Column("difference_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'reversed')", name=op.f("ck_underpayments_status_known")
        ),
        sa.CheckConstraint(
            "difference_minor > 0", name=op.f("ck_underpayments_difference_positive")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_underpayments_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_underpayments_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["remittance_claim_id"],
            ["remittance_claims.id"],
            name=op.f("fk_underpayments_remittance_claim_id_remittance_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_underpayments")),
        sa.UniqueConstraint(
            "remittance_claim_id", name=op.f("uq_underpayments_remittance_claim_id")
        ),
    )
    op.create_index(
        "ix_underpayments_practice_status",
        "underpayments",
        ["practice_id", "status", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_underpayments_practice_status", table_name="underpayments")
    op.drop_table("underpayments")
    op.drop_index("ix_remittance_unmatched_practice_status", table_name="remittance_unmatched")
    op.drop_table("remittance_unmatched")
    op.drop_index("ix_remittance_claims_payer_claim", table_name="remittance_claims")
    op.drop_index("ix_remittance_claims_claim", table_name="remittance_claims")
    op.drop_table("remittance_claims")
    op.drop_index("ix_remittance_quarantine_practice", table_name="remittance_quarantine")
    op.drop_table("remittance_quarantine")
    op.drop_index("ix_remittances_practice", table_name="remittances")
    op.drop_table("remittances")
