"""835 posting gaps: split claims (every payer claim number kept on the claim), predeterminations
(stored on the claim, a remittance claim outcome of their own) and crossovers read from the 835
(the crossover carrier kept on the COB decision)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES_BEFORE = "outcome IN ('adjudicated', 'denied', 'reversal', 'unmatched')"
OUTCOMES_AFTER = "outcome IN ('adjudicated', 'denied', 'reversal', 'unmatched', 'predetermination')"


def upgrade() -> None:
    op.add_column(
        "claims",
        sa.Column("payer_claim_numbers", sa.JSON(), server_default="[]", nullable=False),
    )
    op.add_column("claims", sa.Column("predetermination", sa.JSON(), nullable=True))
    op.add_column(
        "claim_cob", sa.Column("crossover_payer_name", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "claim_cob", sa.Column("crossover_payer_identifier", sa.String(length=80), nullable=True)
    )
    with op.batch_alter_table("remittance_claims") as batch:
        batch.drop_constraint(op.f("ck_remittance_claims_outcome_known"), type_="check")
        batch.create_check_constraint(
            op.f("ck_remittance_claims_outcome_known"), sa.text(OUTCOMES_AFTER)
        )


def downgrade() -> None:
    with op.batch_alter_table("remittance_claims") as batch:
        batch.drop_constraint(op.f("ck_remittance_claims_outcome_known"), type_="check")
        batch.create_check_constraint(
            op.f("ck_remittance_claims_outcome_known"), sa.text(OUTCOMES_BEFORE)
        )
    with op.batch_alter_table("claim_cob") as batch:
        batch.drop_column("crossover_payer_identifier")
        batch.drop_column("crossover_payer_name")
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("predetermination")
        batch.drop_column("payer_claim_numbers")
