"""3-D Secure, webhook back-off, card refunds by approval, settlement reconciliation

* ``approval_requests``: status ``failed`` (an approved card refund the gateway refused) and its
  ``failure_code``.
* ``payments.next_action_url``: a card payment waiting for 3-D Secure (status requires_action).
* ``gateway_unmatched_refunds``: gateway refunds revcycle did not make (dashboard refunds).
* ``reconciliation_runs``, ``reconciliation_differences``, ``settlement_payouts``.
* Chart: 1020 "Bank — operating" and 6200 "Card processing fees" for existing practices (only
  where missing, so another revision adding 1020 the same way merges cleanly).
* Test gateway: ``testgw_charges.captured_at`` (the settlement day), ``testgw_webhook_outbox``
  ``status`` (pending / delivered / dead) and ``next_attempt_at`` (back-off and claim lease).

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

TS = sa.DateTime(timezone=True)
NEW_ACCOUNTS = [("1020", "Bank — operating", "asset"), ("6200", "Card processing fees", "expense")]

_OLD_STATUSES = "status IN ('requested', 'approved', 'executed', 'rejected', 'cancelled')"
_NEW_STATUSES = "status IN ('requested', 'approved', 'executed', 'rejected', 'cancelled', 'failed')"


def upgrade() -> None:
    # approval_requests is not append-only: a batch rebuild on SQLite keeps nothing from us.
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("failure_code", sa.String(length=40), nullable=True))
        batch.drop_constraint(op.f("ck_approval_requests_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_approval_requests_status_known"), _NEW_STATUSES)

    op.add_column("payments", sa.Column("next_action_url", sa.String(300), nullable=True))

    op.create_table(
        "gateway_unmatched_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("gateway_refund_id", sa.String(40), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("event_id", sa.String(80), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_unmatched_refunds"),
        sa.UniqueConstraint(
            "provider",
            "gateway_refund_id",
            name="uq_gateway_unmatched_refunds_provider_gateway_refund_id",
        ),
    )
    op.create_index(
        "ix_gateway_unmatched_refunds_practice_id", "gateway_unmatched_refunds", ["practice_id"]
    )

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("payout_id", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("gateway_gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("gateway_refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("gateway_fees_minor", sa.BigInteger(), nullable=False),
        sa.Column("ledger_charges_minor", sa.BigInteger(), nullable=False),
        sa.Column("ledger_refunds_minor", sa.BigInteger(), nullable=False),
        sa.Column("difference_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_runs"),
    )
    op.create_index("ix_reconciliation_runs_day", "reconciliation_runs", ["provider", "day", "id"])
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("item", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("charge_id", sa.String(40), nullable=True),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("gateway_minor", sa.BigInteger(), nullable=True),
        sa.Column("ledger_minor", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name="fk_reconciliation_differences_run_id_reconciliation_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_differences"),
    )
    op.create_index(
        "ix_reconciliation_differences_run_id", "reconciliation_differences", ["run_id"]
    )
    op.create_table(
        "settlement_payouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("payout_id", sa.String(40), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("cleared_minor", sa.BigInteger(), nullable=False),
        sa.Column("fees_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name="fk_settlement_payouts_practice_id_practices"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name="fk_settlement_payouts_entry_id_journal_entries",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name="fk_settlement_payouts_run_id_reconciliation_runs",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_payouts"),
        sa.UniqueConstraint(
            "provider",
            "payout_id",
            "practice_id",
            name="uq_settlement_payouts_provider_payout_id_practice_id",
        ),
    )

    for code, name, typ in NEW_ACCOUNTS:
        op.execute(
            sa.text(
                "INSERT INTO accounts (practice_id, code, name, type) "
                "SELECT p.id, :code, :name, :type FROM practices p WHERE NOT EXISTS "
                "(SELECT 1 FROM accounts a WHERE a.practice_id = p.id AND a.code = :code)"
            ).bindparams(code=code, name=name, type=typ)
        )

    op.add_column("testgw_charges", sa.Column("captured_at", TS, nullable=True))
    op.create_index("ix_testgw_charges_captured_at", "testgw_charges", ["captured_at"])
    op.add_column(
        "testgw_webhook_outbox",
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
    )
    op.add_column("testgw_webhook_outbox", sa.Column("next_attempt_at", TS, nullable=True))
    op.execute(
        "UPDATE testgw_webhook_outbox SET status = 'delivered' WHERE delivered_at IS NOT NULL"
    )
    op.create_index(
        "ix_testgw_webhook_outbox_due", "testgw_webhook_outbox", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_testgw_webhook_outbox_due", table_name="testgw_webhook_outbox")
    with op.batch_alter_table("testgw_webhook_outbox") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("status")
    op.drop_index("ix_testgw_charges_captured_at", table_name="testgw_charges")
    with op.batch_alter_table("testgw_charges") as batch:
        batch.drop_column("captured_at")
    # The 1020 / 6200 accounts stay: chart rows are never deleted (postings may point at them).
    op.drop_table("settlement_payouts")
    op.drop_index("ix_reconciliation_differences_run_id", table_name="reconciliation_differences")
    op.drop_table("reconciliation_differences")
    op.drop_index("ix_reconciliation_runs_day", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")
    op.drop_index(
        "ix_gateway_unmatched_refunds_practice_id", table_name="gateway_unmatched_refunds"
    )
    op.drop_table("gateway_unmatched_refunds")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("next_action_url")
    with op.batch_alter_table("approval_requests") as batch:
        batch.drop_constraint(op.f("ck_approval_requests_status_known"), type_="check")
        batch.create_check_constraint(op.f("ck_approval_requests_status_known"), _OLD_STATUSES)
        batch.drop_column("failure_code")
