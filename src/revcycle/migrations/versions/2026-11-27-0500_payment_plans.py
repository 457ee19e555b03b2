"""payment plans, installments, stored payment methods, notification outbox

``payment_methods`` (stored gateway tokens for autopay, card or bank), ``payment_plans`` with
``plan_invoices`` (a partial UNIQUE index keeps an invoice "in plan" in at most one plan),
``plan_installments`` (the schedule), ``plan_charge_attempts`` (UNIQUE per installment + attempt),
``plan_events`` (append-only by trigger: the plan's history) and ``notifications`` (the patient
notification outbox). See docs/payment-plans.md.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "plan_events"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("template", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notifications_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_notifications_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_notifications_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_patient", "notifications", ["patient_id", "id"], unique=False)
    op.create_index("ix_notifications_status", "notifications", ["status", "id"], unique=False)
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("gateway_provider", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=80), nullable=False),
        sa.Column("brand", sa.String(length=40), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("kind IN ('card', 'bank')", name=op.f("ck_payment_methods_kind_known")),
        sa.CheckConstraint(
            "status IN ('active', 'removed')", name=op.f("ck_payment_methods_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_payment_methods_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_payment_methods_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    op.create_index(
        "ix_payment_methods_patient", "payment_methods", ["patient_id", "id"], unique=False
    )
    op.create_table(
        "payment_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("first_due_date", sa.Date(), nullable=False),
        sa.Column("installment_count", sa.Integer(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("method_id", sa.Uuid(), nullable=True),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "frequency IN ('weekly', 'biweekly', 'monthly')",
            name=op.f("ck_payment_plans_frequency_known"),
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'completed', 'paid_off', 'defaulted', 'cancelled')",
            name=op.f("ck_payment_plans_status_known"),
        ),
        sa.CheckConstraint("total_minor > 0", name=op.f("ck_payment_plans_total_positive")),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["payment_methods.id"],
            name=op.f("fk_payment_plans_method_id_payment_methods"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_payment_plans_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_payment_plans_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_plans")),
    )
    op.create_index("ix_payment_plans_patient", "payment_plans", ["patient_id", "id"], unique=False)
    op.create_index(
        "ix_payment_plans_practice", "payment_plans", ["practice_id", "status", "id"], unique=False
    )
    op.create_table(
        "plan_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plans.id"], name=op.f("fk_plan_events_plan_id_payment_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_events")),
    )
    op.create_index("ix_plan_events_plan", "plan_events", ["plan_id", "id"], unique=False)
    op.create_table(
        "plan_installments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("next_attempt_on", sa.Date(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_decline_code", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'processing', 'paid', 'missed', 'cancelled')",
            name=op.f("ck_plan_installments_status_known"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_plan_installments_amount_positive")),
        sa.CheckConstraint(
            "paid_minor >= 0 AND paid_minor <= amount_minor",
            name=op.f("ck_plan_installments_paid_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["payment_plans.id"],
            name=op.f("fk_plan_installments_plan_id_payment_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_installments")),
        sa.UniqueConstraint(
            "plan_id", "version", "seq", name=op.f("uq_plan_installments_plan_id_version_seq")
        ),
    )
    op.create_index(
        "ix_plan_installments_due", "plan_installments", ["status", "next_attempt_on"], unique=False
    )
    op.create_index(
        op.f("ix_plan_installments_plan_id"), "plan_installments", ["plan_id"], unique=False
    )
    op.create_table(
        "plan_invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("in_plan", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_plan_invoices_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plans.id"], name=op.f("fk_plan_invoices_plan_id_payment_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_invoices")),
        sa.UniqueConstraint(
            "plan_id", "invoice_id", name=op.f("uq_plan_invoices_plan_id_invoice_id")
        ),
    )
    op.create_index(op.f("ix_plan_invoices_plan_id"), "plan_invoices", ["plan_id"], unique=False)
    op.create_index(
        "uq_plan_invoices_in_plan",
        "plan_invoices",
        ["invoice_id"],
        unique=True,
        sqlite_where=sa.text("in_plan"),
        postgresql_where=sa.text("in_plan"),
    )
    op.create_table(
        "plan_charge_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("installment_id", sa.Uuid(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("method_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decline_code", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["plan_installments.id"],
            name=op.f("fk_plan_charge_attempts_installment_id_plan_installments"),
        ),
        sa.ForeignKeyConstraint(
            ["method_id"],
            ["payment_methods.id"],
            name=op.f("fk_plan_charge_attempts_method_id_payment_methods"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_plan_charge_attempts_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["payment_plans.id"],
            name=op.f("fk_plan_charge_attempts_plan_id_payment_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_charge_attempts")),
        sa.UniqueConstraint(
            "installment_id", "attempt", name=op.f("uq_plan_charge_attempts_installment_id_attempt")
        ),
        sa.UniqueConstraint("payment_id", name=op.f("uq_plan_charge_attempts_payment_id")),
    )
    op.create_index(
        op.f("ix_plan_charge_attempts_plan_id"), "plan_charge_attempts", ["plan_id"], unique=False
    )

    if op.get_bind().dialect.name == "postgresql":
        # revcycle_refuse_change() comes from the foundation migration.
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY} "
            "FOR EACH ROW EXECUTE FUNCTION revcycle_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {APPEND_ONLY}_no_{verb.lower()} BEFORE {verb} ON {APPEND_ONLY} "
                f"BEGIN SELECT RAISE(ABORT, 'revcycle: {APPEND_ONLY} is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "plan_charge_attempts",
        "plan_invoices",
        "plan_installments",
        "plan_events",
        "payment_plans",
        "payment_methods",
        "notifications",
    ):
        op.drop_table(table)
