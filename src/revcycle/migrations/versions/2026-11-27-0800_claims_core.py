"""claims: claims, lines, append-only events, per-practice claim numbers and X12 control numbers,
837P batches and submissions; ledger accounts 2300 payer offsets and 4500 interest from payers

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 08:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "claim_events"
NEW_ACCOUNTS = (
    ("2300", "Payer offsets and forward balances", "liability"),
    ("4500", "Interest from payers", "revenue"),
)


def upgrade() -> None:
    op.create_table(
        "claim_batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("interchange_control_number", sa.Integer(), nullable=False),
        sa.Column("batch_reference", sa.String(length=30), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("total_charge_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("clearinghouse", sa.String(length=30), nullable=False),
        sa.Column("file_id", sa.String(length=100), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "status IN ('built', 'submitted', 'failed')", name=op.f("ck_claim_batches_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_claim_batches_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_batches")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_claim_batches_idempotency_key")),
        sa.UniqueConstraint(
            "practice_id",
            "interchange_control_number",
            name=op.f("uq_claim_batches_practice_id_interchange_control_number"),
        ),
    )
    op.create_table(
        "claim_sequences",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_claim_sequences_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_claim_sequences")),
    )
    op.create_table(
        "x12_control_counters",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("last_interchange", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_x12_control_counters_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_x12_control_counters")),
    )
    op.create_table(
        "claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("control_number", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.String(length=10), nullable=False),
        sa.Column("frequency_code", sa.String(length=1), nullable=False),
        sa.Column("primary_claim_id", sa.Uuid(), nullable=True),
        sa.Column("replaces_claim_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=300), nullable=True),
        sa.Column("place_of_service", sa.String(length=2), nullable=False),
        sa.Column("rendering_provider_id", sa.Uuid(), nullable=True),
        sa.Column("referring_provider_id", sa.Uuid(), nullable=True),
        sa.Column("prior_authorization", sa.String(length=50), nullable=True),
        sa.Column("diagnosis_codes", sa.JSON(), nullable=False),
        sa.Column("service_date_from", sa.Date(), nullable=False),
        sa.Column("service_date_to", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_minor", sa.BigInteger(), nullable=False),
        sa.Column("expected_allowed_minor", sa.BigInteger(), nullable=True),
        sa.Column("payer_claim_number", sa.String(length=50), nullable=True),
        sa.Column("billed_entry_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "frequency_code IN ('1', '7', '8')", name=op.f("ck_claims_frequency_known")
        ),
        sa.CheckConstraint(
            "sequence IN ('primary', 'secondary', 'tertiary')",
            name=op.f("ck_claims_sequence_known"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'scrubbed', 'held', 'submitted', 'accepted', 'rejected', 'adjudicated', 'denied', 'appealed', 'closed', 'void')",
            name=op.f("ck_claims_status_known"),
        ),
        sa.CheckConstraint("charge_minor > 0", name=op.f("ck_claims_charge_positive")),
        sa.CheckConstraint(
            "service_date_to >= service_date_from", name=op.f("ck_claims_dates_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["billed_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_claims_billed_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"], ["coverages.id"], name=op.f("fk_claims_coverage_id_coverages")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_claims_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_claims_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_claims_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["insurance_plans.id"], name=op.f("fk_claims_plan_id_insurance_plans")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_claims_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["primary_claim_id"], ["claims.id"], name=op.f("fk_claims_primary_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["referring_provider_id"],
            ["providers.id"],
            name=op.f("fk_claims_referring_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["rendering_provider_id"],
            ["providers.id"],
            name=op.f("fk_claims_rendering_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_claim_id"], ["claims.id"], name=op.f("fk_claims_replaces_claim_id_claims")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint(
            "practice_id", "control_number", name=op.f("uq_claims_practice_id_control_number")
        ),
        sa.UniqueConstraint("practice_id", "number", name=op.f("uq_claims_practice_id_number")),
    )
    op.create_index("ix_claims_invoice", "claims", ["invoice_id"], unique=False)
    op.create_index("ix_claims_patient", "claims", ["patient_id", "id"], unique=False)
    op.create_index(
        "ix_claims_practice_status", "claims", ["practice_id", "status", "id"], unique=False
    )

    op.create_table(
        "claim_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_claim_events_claim_id_claims")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_events")),
    )
    op.create_index("ix_claim_events_claim", "claim_events", ["claim_id", "id"], unique=False)

    op.create_table(
        "claim_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("invoice_line_id", sa.Uuid(), nullable=False),
        sa.Column("procedure", sa.String(length=5), nullable=False),
        sa.Column("modifiers", sa.JSON(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("charge_minor", sa.BigInteger(), nullable=False),
        sa.Column("diagnosis_pointers", sa.JSON(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("expected_allowed_minor", sa.BigInteger(), nullable=True),
        sa.Column("line_control_number", sa.String(length=30), nullable=False),
        sa.CheckConstraint("charge_minor > 0", name=op.f("ck_claim_lines_charge_positive")),
        sa.CheckConstraint("units > 0", name=op.f("ck_claim_lines_units_positive")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_claim_lines_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_line_id"],
            ["invoice_lines.id"],
            name=op.f("fk_claim_lines_invoice_line_id_invoice_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_lines")),
        sa.UniqueConstraint("claim_id", "position", name=op.f("uq_claim_lines_claim_id_position")),
    )
    op.create_index(
        "ix_claim_lines_line_control_number",
        "claim_lines",
        ["line_control_number"],
        unique=False,
    )
    op.create_table(
        "claim_submissions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("set_control_number", sa.String(length=9), nullable=False),
        sa.Column("first_segment", sa.Integer(), nullable=False),
        sa.Column("last_segment", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["claim_batches.id"],
            name=op.f("fk_claim_submissions_batch_id_claim_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_claim_submissions_claim_id_claims")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_submissions")),
        sa.UniqueConstraint(
            "claim_id", "attempt", name=op.f("uq_claim_submissions_claim_id_attempt")
        ),
    )
    op.create_index("ix_claim_submissions_batch", "claim_submissions", ["batch_id"], unique=False)

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
    # The chart grows for existing practices (new practices get it from ledger.chart.CHART).
    bind = op.get_bind()
    accounts = sa.table(
        "accounts",
        sa.column("practice_id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("type", sa.String()),
    )
    practices = sa.table("practices", sa.column("id", sa.Uuid()))
    practice_ids: list[uuid.UUID] = list(bind.execute(sa.select(practices.c.id)).scalars())
    rows = [
        {"practice_id": pid, "code": code, "name": name, "type": typ}
        for pid in practice_ids
        for code, name, typ in NEW_ACCOUNTS
    ]
    if rows:
        op.bulk_insert(accounts, rows)


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE code IN ('2300', '4500')")
    op.drop_index("ix_claim_submissions_batch", table_name="claim_submissions")

    op.drop_table("claim_submissions")
    op.drop_index("ix_claim_lines_line_control_number", table_name="claim_lines")
    op.drop_table("claim_lines")
    op.drop_index("ix_claim_events_claim", table_name="claim_events")

    op.drop_table("claim_events")
    op.drop_index("ix_claims_practice_status", table_name="claims")
    op.drop_index("ix_claims_patient", table_name="claims")
    op.drop_index("ix_claims_invoice", table_name="claims")

    op.drop_table("claims")
    op.drop_table("x12_control_counters")
    op.drop_table("claim_sequences")
    op.drop_table("claim_batches")
