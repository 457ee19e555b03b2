"""payment gateway: card and bank tokens, gateway charges and webhook events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 04:00:00

revcycle's side: payment status and card details (brand, last 4, expiry; never the number),
gateway charge and idempotency keys, and ``gateway_events`` (each webhook event processed once).
The built-in test gateway's own tables (``testgw_*``): tokens, charges, refunds, webhook outbox.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as b:
        b.alter_column("entry_id", existing_type=sa.Uuid(), nullable=True)
        b.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="succeeded"))
        b.add_column(sa.Column("card_brand", sa.String(20), nullable=True))
        b.add_column(sa.Column("card_last4", sa.String(4), nullable=True))
        b.add_column(sa.Column("card_exp_month", sa.Integer(), nullable=True))
        b.add_column(sa.Column("card_exp_year", sa.Integer(), nullable=True))
        b.add_column(sa.Column("gateway_provider", sa.String(20), nullable=True))
        b.add_column(sa.Column("gateway_charge_id", sa.String(40), nullable=True))
        b.add_column(sa.Column("gateway_idempotency_key", sa.String(80), nullable=True))
        b.add_column(sa.Column("decline_code", sa.String(40), nullable=True))
        b.add_column(sa.Column("allocation_request", sa.Text(), nullable=True))
        b.create_unique_constraint("uq_payments_gateway_charge_id", ["gateway_charge_id"])
        b.create_unique_constraint(
            "uq_payments_gateway_idempotency_key", ["gateway_idempotency_key"]
        )

    op.create_table(
        "gateway_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_events"),
        sa.UniqueConstraint("provider", "event_id", name="uq_gateway_events_provider"),
    )
    op.create_index("ix_gateway_events_charge_id", "gateway_events", ["charge_id"])

    op.create_table(
        "testgw_tokens",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("brand", sa.String(20), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("scenario", sa.String(30), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_tokens"),
    )
    op.create_index("ix_testgw_tokens_fingerprint", "testgw_tokens", ["fingerprint"])
    op.create_table(
        "testgw_charges",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decline_code", sa.String(40), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("captured_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_testgw_charges_amount_positive"),
        sa.CheckConstraint(
            "captured_minor <= amount_minor", name="ck_testgw_charges_captured_le_amount"
        ),
        sa.CheckConstraint(
            "refunded_minor <= captured_minor", name="ck_testgw_charges_refunded_le_captured"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_charges"),
        sa.UniqueConstraint("idempotency_key", name="uq_testgw_charges_idempotency_key"),
    )
    op.create_table(
        "testgw_refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_testgw_refunds_amount_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_refunds"),
        sa.UniqueConstraint("idempotency_key", name="uq_testgw_refunds_idempotency_key"),
    )
    op.create_index("ix_testgw_refunds_charge_id", "testgw_refunds", ["charge_id"])
    op.create_table(
        "testgw_webhook_outbox",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_testgw_webhook_outbox"),
    )


def downgrade() -> None:
    op.drop_table("testgw_webhook_outbox")
    op.drop_index("ix_testgw_refunds_charge_id", table_name="testgw_refunds")
    op.drop_table("testgw_refunds")
    op.drop_table("testgw_charges")
    op.drop_index("ix_testgw_tokens_fingerprint", table_name="testgw_tokens")
    op.drop_table("testgw_tokens")
    op.drop_index("ix_gateway_events_charge_id", table_name="gateway_events")
    op.drop_table("gateway_events")
    with op.batch_alter_table("payments", schema=None) as b:
        b.drop_constraint("uq_payments_gateway_idempotency_key", type_="unique")
        b.drop_constraint("uq_payments_gateway_charge_id", type_="unique")
        for col in (
            "allocation_request",
            "decline_code",
            "gateway_idempotency_key",
            "gateway_charge_id",
            "gateway_provider",
            "card_exp_year",
            "card_exp_month",
            "card_last4",
            "card_brand",
            "status",
        ):
            b.drop_column(col)
        b.alter_column("entry_id", existing_type=sa.Uuid(), nullable=False)
