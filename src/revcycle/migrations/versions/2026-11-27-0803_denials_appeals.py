"""claims: denial work queue and appeals -- appeals, their append-only events, attachments and
deadline reminders (staff outbox); claim_cob (one secondary-claim or crossover decision per
adjudicated primary claim, with the primary payer's adjudication for the 837 COB loops).
See docs/denials-appeals.md.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 08:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "appeal_events"


def upgrade() -> None:
    op.create_table(
        "claim_cob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("primary_claim_id", sa.Uuid(), nullable=False),
        sa.Column("secondary_claim_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("prior_adjudication", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('secondary', 'crossover', 'none')", name=op.f("ck_claim_cob_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_claim_cob_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["primary_claim_id"], ["claims.id"], name=op.f("fk_claim_cob_primary_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["secondary_claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_cob_secondary_claim_id_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_cob")),
        sa.UniqueConstraint("primary_claim_id", name=op.f("uq_claim_cob_primary_claim_id")),
        sa.UniqueConstraint("secondary_claim_id", name=op.f("uq_claim_cob_secondary_claim_id")),
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("denial_event_id", sa.Uuid(), nullable=False),
        sa.Column("claim_status_before", sa.String(length=20), nullable=False),
        sa.Column("adjudicated_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("late_reason", sa.Text(), nullable=True),
        sa.Column("argument", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at_stake_minor", sa.BigInteger(), nullable=False),
        sa.Column("expected_minor", sa.BigInteger(), nullable=True),
        sa.Column("lost_action", sa.String(length=20), nullable=True),
        sa.Column("outcome_entry_id", sa.Uuid(), nullable=True),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "lost_action IS NULL OR lost_action IN ('none', 'write_off', 'patient')",
            name=op.f("ck_appeals_lost_action_known"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'sent', 'won', 'lost', 'partially_won')",
            name=op.f("ck_appeals_status_known"),
        ),
        sa.CheckConstraint("at_stake_minor >= 0", name=op.f("ck_appeals_at_stake_nonnegative")),
        sa.CheckConstraint(
            "expected_minor IS NULL OR expected_minor >= 0",
            name=op.f("ck_appeals_expected_nonnegative"),
        ),
        sa.CheckConstraint("level IN (1, 2)", name=op.f("ck_appeals_level_known")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_appeals_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["denial_event_id"],
            ["claim_events.id"],
            name=op.f("fk_appeals_denial_event_id_claim_events"),
        ),
        sa.ForeignKeyConstraint(
            ["outcome_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_appeals_outcome_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_appeals_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_appeals_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_appeals_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("claim_id", "level", name=op.f("uq_appeals_claim_id_level")),
    )
    op.create_index(
        "ix_appeals_practice_status", "appeals", ["practice_id", "status", "deadline"], unique=False
    )
    op.create_table(
        "appeal_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_appeal_attachments_size_positive")),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_attachments_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_attachments")),
        sa.UniqueConstraint(
            "appeal_id", "sha256", name=op.f("uq_appeal_attachments_appeal_id_sha256")
        ),
    )
    op.create_table(
        "appeal_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_events_appeal_id_appeals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_events")),
    )
    op.create_index("ix_appeal_events_appeal", "appeal_events", ["appeal_id", "id"], unique=False)
    op.create_table(
        "appeal_reminders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("appeal_id", sa.Uuid(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent')", name=op.f("ck_appeal_reminders_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["appeal_id"], ["appeals.id"], name=op.f("fk_appeal_reminders_appeal_id_appeals")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_appeal_reminders_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_reminders")),
        sa.UniqueConstraint(
            "appeal_id", "days_before", name=op.f("uq_appeal_reminders_appeal_id_days_before")
        ),
    )
    op.create_index(
        "ix_appeal_reminders_practice_status",
        "appeal_reminders",
        ["practice_id", "status", "id"],
        unique=False,
    )
    # ### end Alembic commands ###

    if op.get_bind().dialect.name == "postgresql":
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY}_append_only ON {APPEND_ONLY}")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY}_no_{verb}")
    op.drop_index("ix_appeal_reminders_practice_status", table_name="appeal_reminders")
    op.drop_table("appeal_reminders")
    op.drop_index("ix_appeal_events_appeal", table_name="appeal_events")
    op.drop_table("appeal_events")
    op.drop_table("appeal_attachments")
    op.drop_index("ix_appeals_practice_status", table_name="appeals")
    op.drop_table("appeals")
    op.drop_table("claim_cob")
