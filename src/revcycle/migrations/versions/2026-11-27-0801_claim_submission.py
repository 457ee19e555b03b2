"""payer simulator: its own state (chsim_files, chsim_claims, chsim_accumulators, chsim_counters)

The built-in clearinghouse/payer simulator's side of the batch exchange (docs/payer-simulator.md):
files received and answered (sealed: they hold PHI), the claims it adjudicated with their payer
claim numbers, the member accumulators it applied, and its control-number counters.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 08:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chsim_files",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("submission_id", sa.String(40), nullable=True),
        sa.Column("payer_id", sa.String(80), nullable=True),
        sa.Column("payee_npi", sa.String(10), nullable=True),
        sa.Column("forward_balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("available_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_chsim_files_direction_known"),
        sa.CheckConstraint(
            "kind IN ('837P', '837I', '999', '277CA', '835')", name="ck_chsim_files_kind_known"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chsim_files"),
        sa.UniqueConstraint("idempotency_key", name="uq_chsim_files_idempotency_key"),
        sa.UniqueConstraint("sequence", name="uq_chsim_files_sequence"),
    )
    op.create_index(
        "ix_chsim_files_outbox", "chsim_files", ["direction", "acknowledged_at", "available_at"]
    )
    op.create_index("ix_chsim_files_submission_id", "chsim_files", ["submission_id"])
    op.create_table(
        "chsim_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payer_claim_number", sa.String(20), nullable=False),
        sa.Column("submission_id", sa.String(40), nullable=False),
        sa.Column("payer_id", sa.String(80), nullable=False),
        sa.Column("billing_npi", sa.String(10), nullable=False),
        sa.Column("patient_control_number", sa.String(38), nullable=False),
        sa.Column("member_key", sa.String(80), nullable=False),
        sa.Column("duplicate_key", sa.String(80), nullable=True),
        sa.Column("frequency", sa.String(1), nullable=False),
        sa.Column("original_claim_number", sa.String(50), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("status_category", sa.String(2), nullable=False),
        sa.Column("status_code", sa.String(5), nullable=False),
        sa.Column("denial_reason", sa.String(5), nullable=True),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("charge_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("patient_minor", sa.BigInteger(), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=True),
        sa.Column("benefit_year_start", sa.Date(), nullable=True),
        sa.Column("payment", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=False),
        sa.Column("adjudicated_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('rejected', 'accepted', 'paid', 'denied', 'reversed', 'replaced', "
            "'voided')",
            name="ck_chsim_claims_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chsim_claims"),
        sa.UniqueConstraint("payer_claim_number", name="uq_chsim_claims_payer_claim_number"),
    )
    op.create_index("ix_chsim_claims_member", "chsim_claims", ["member_key", "service_date"])
    op.create_index("ix_chsim_claims_duplicate", "chsim_claims", ["duplicate_key"])
    op.create_index("ix_chsim_claims_submission_id", "chsim_claims", ["submission_id"])
    op.create_table(
        "chsim_accumulators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_year_start", sa.Date(), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("oop_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chsim_accumulators"),
        sa.UniqueConstraint(
            "coverage_id",
            "benefit_year_start",
            name="uq_chsim_accumulators_coverage_id_benefit_year_start",
        ),
    )
    op.create_table(
        "chsim_counters",
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_chsim_counters"),
    )


def downgrade() -> None:
    op.drop_table("chsim_counters")
    op.drop_table("chsim_accumulators")
    op.drop_index("ix_chsim_claims_submission_id", table_name="chsim_claims")
    op.drop_index("ix_chsim_claims_duplicate", table_name="chsim_claims")
    op.drop_index("ix_chsim_claims_member", table_name="chsim_claims")
    op.drop_table("chsim_claims")
    op.drop_index("ix_chsim_files_submission_id", table_name="chsim_files")
    op.drop_index("ix_chsim_files_outbox", table_name="chsim_files")
    op.drop_table("chsim_files")
