"""eligibility checks, their control-number counter, appointments and daily re-verifications

Eligibility checks keep the raw 270/271, the parsed benefits and the error text sealed (PHI,
docs/phi-encryption.md); each check's ISA13 is unique per practice (from eligibility_counters).
A minimal appointments table (copied from the EHR) feeds the daily re-verification, claimed at
most once per appointment and day. New tables only (docs/eligibility.md).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 05:06:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eligibility_counters",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("last_number >= 0", name=op.f("ck_eligibility_counters_nonnegative")),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_eligibility_counters_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_eligibility_counters")),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("external_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "status IN ('scheduled', 'cancelled')", name=op.f("ck_appointments_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"], ["coverages.id"], name=op.f("fk_appointments_coverage_id_coverages")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_appointments_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_appointments_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_appointments_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint(
            "practice_id", "external_ref", name=op.f("uq_appointments_practice_id_external_ref")
        ),
    )
    op.create_index("ix_appointments_patient", "appointments", ["patient_id", "id"], unique=False)
    op.create_index(
        "ix_appointments_practice_start", "appointments", ["practice_id", "starts_at"], unique=False
    )
    op.create_table(
        "eligibility_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("service_types", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("interchange_control_number", sa.Integer(), nullable=False),
        sa.Column("trace_number", sa.String(length=50), nullable=False),
        sa.Column("clearinghouse", sa.String(length=30), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("requested_by_name", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("x270", sa.Text(), nullable=False),
        sa.Column("x271", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("aaa_reasons", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error_segment", sa.String(length=3), nullable=True),
        sa.Column("error_position", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'inactive', 'error', 'rejected')",
            name=op.f("ck_eligibility_checks_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["coverages.id"],
            name=op.f("fk_eligibility_checks_coverage_id_coverages"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_eligibility_checks_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_eligibility_checks_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_checks")),
        sa.UniqueConstraint(
            "practice_id",
            "interchange_control_number",
            name=op.f("uq_eligibility_checks_practice_id_interchange_control_number"),
        ),
        sa.UniqueConstraint("request_key", name=op.f("uq_eligibility_checks_request_key")),
    )
    op.create_index(
        "ix_eligibility_checks_coverage",
        "eligibility_checks",
        ["coverage_id", "requested_at"],
        unique=False,
    )
    op.create_index(
        "ix_eligibility_checks_patient", "eligibility_checks", ["patient_id", "id"], unique=False
    )
    op.create_table(
        "eligibility_reverifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("check_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_eligibility_reverifications_appointment_id_appointments"),
        ),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["eligibility_checks.id"],
            name=op.f("fk_eligibility_reverifications_check_id_eligibility_checks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eligibility_reverifications")),
        sa.UniqueConstraint(
            "appointment_id",
            "run_date",
            name=op.f("uq_eligibility_reverifications_appointment_id_run_date"),
        ),
    )


def downgrade() -> None:
    op.drop_table("eligibility_reverifications")
    op.drop_index("ix_eligibility_checks_patient", table_name="eligibility_checks")
    op.drop_index("ix_eligibility_checks_coverage", table_name="eligibility_checks")
    op.drop_table("eligibility_checks")
    op.drop_index("ix_appointments_practice_start", table_name="appointments")
    op.drop_index("ix_appointments_patient", table_name="appointments")
    op.drop_table("appointments")
    op.drop_table("eligibility_counters")
