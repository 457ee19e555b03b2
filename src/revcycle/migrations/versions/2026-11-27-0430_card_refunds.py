"""card refunds through the payment gateway

A card refund is recorded ``pending`` (no ledger entry yet) before the gateway is called, then
``paid`` (with its entries) or ``failed`` (none): ``entry_id`` becomes nullable, and the refund
keeps the idempotency key sent to the gateway and the gateway's refund id / failure code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.alter_column("entry_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("gateway_idempotency_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("gateway_refund_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("failure_code", sa.String(length=40), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_refunds_gateway_idempotency_key"), ["gateway_idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_constraint(op.f("uq_refunds_gateway_idempotency_key"), type_="unique")
        batch.drop_column("failure_code")
        batch.drop_column("gateway_refund_id")
        batch.drop_column("gateway_idempotency_key")
        batch.alter_column("entry_id", existing_type=sa.Uuid(), nullable=False)
