"""insurance: payers, plans, fee schedules, coverages, prior authorisations, estimates

Payers (one row per practice and payer), their plans with benefit parameters and fee schedule
rows; patients' coverages (member id and subscriber sealed like patient PHI, member id with a
blind index), their dated priority history and benefit-year accumulators; prior authorisations
with their services and the charge-level usage record; stored estimates and per-practice
estimate settings. New tables only (docs/insurance.md).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 05:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "estimate_settings",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("self_pay_discount_bp", sa.Integer(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "self_pay_discount_bp BETWEEN 0 AND 10000",
            name=op.f("ck_estimate_settings_discount_range"),
        ),
        sa.CheckConstraint(
            "valid_days BETWEEN 1 AND 365", name=op.f("ck_estimate_settings_valid_days_range")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_estimate_settings_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("practice_id", name=op.f("pk_estimate_settings")),
    )
    op.create_table(
        "payers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("edi_payer_id", sa.String(length=20), nullable=False),
        sa.Column("claims_address_line1", sa.String(length=200), nullable=True),
        sa.Column("claims_address_line2", sa.String(length=200), nullable=True),
        sa.Column("claims_city", sa.String(length=100), nullable=True),
        sa.Column("claims_state", sa.String(length=2), nullable=True),
        sa.Column("claims_postal_code", sa.String(length=10), nullable=True),
        sa.Column("eligibility_address_line1", sa.String(length=200), nullable=True),
        sa.Column("eligibility_address_line2", sa.String(length=200), nullable=True),
        sa.Column("eligibility_city", sa.String(length=100), nullable=True),
        sa.Column("eligibility_state", sa.String(length=2), nullable=True),
        sa.Column("eligibility_postal_code", sa.String(length=10), nullable=True),
        sa.Column("timely_filing_days", sa.Integer(), nullable=False),
        sa.Column("appeal_deadline_days", sa.Integer(), nullable=False),
        sa.Column("secondary_crossover", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "appeal_deadline_days > 0", name=op.f("ck_payers_appeal_deadline_positive")
        ),
        sa.CheckConstraint("timely_filing_days > 0", name=op.f("ck_payers_timely_filing_positive")),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_payers_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payers")),
        sa.UniqueConstraint(
            "practice_id", "edi_payer_id", name=op.f("uq_payers_practice_id_edi_payer_id")
        ),
    )
    op.create_index(op.f("ix_payers_practice_id"), "payers", ["practice_id"], unique=False)
    op.create_table(
        "insurance_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("product_type", sa.String(length=20), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=True),
        sa.Column("in_network", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("family_deductible_minor", sa.BigInteger(), nullable=True),
        sa.Column("oop_max_minor", sa.BigInteger(), nullable=True),
        sa.Column("family_oop_max_minor", sa.BigInteger(), nullable=True),
        sa.Column("coinsurance_bp", sa.Integer(), nullable=False),
        sa.Column("copays", sa.JSON(), nullable=False),
        sa.Column("cost_share_order", sa.String(length=30), nullable=False),
        sa.Column("benefit_year_start_month", sa.Integer(), nullable=False),
        sa.Column("auth_required_codes", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "benefit_year_start_month BETWEEN 1 AND 12",
            name=op.f("ck_insurance_plans_benefit_month_range"),
        ),
        sa.CheckConstraint(
            "coinsurance_bp BETWEEN 0 AND 10000", name=op.f("ck_insurance_plans_coinsurance_range")
        ),
        sa.CheckConstraint(
            "deductible_minor >= 0", name=op.f("ck_insurance_plans_deductible_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_insurance_plans_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_insurance_plans_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_plans")),
    )
    op.create_index(
        op.f("ix_insurance_plans_payer_id"), "insurance_plans", ["payer_id"], unique=False
    )
    op.create_index(
        op.f("ix_insurance_plans_practice_id"), "insurance_plans", ["practice_id"], unique=False
    )
    op.create_table(
        "coverages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=False),
        sa.Column("member_id_bidx", sa.String(length=80), nullable=False),
        sa.Column("group_number", sa.String(length=30), nullable=True),
        sa.Column("relationship", sa.String(length=2), nullable=False),
        sa.Column("subscriber_first_name", sa.Text(), nullable=True),
        sa.Column("subscriber_last_name", sa.Text(), nullable=True),
        sa.Column("subscriber_date_of_birth", sa.Text(), nullable=True),
        sa.Column("subscriber_patient_id", sa.Uuid(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_reason", sa.String(length=300), nullable=True),
        sa.Column("card_image_ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from",
            name=op.f("ck_coverages_window_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_coverages_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_coverages_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["insurance_plans.id"], name=op.f("fk_coverages_plan_id_insurance_plans")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_coverages_practice_id_practices")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_patient_id"],
            ["patients.id"],
            name=op.f("fk_coverages_subscriber_patient_id_patients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverages")),
    )
    op.create_index("ix_coverages_member_id_bidx", "coverages", ["member_id_bidx"], unique=False)
    op.create_index("ix_coverages_patient", "coverages", ["patient_id", "id"], unique=False)
    op.create_table(
        "fee_schedule_rows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("modifier", sa.String(length=2), nullable=False),
        sa.Column("allowed_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "allowed_minor >= 0", name=op.f("ck_fee_schedule_rows_allowed_nonnegative")
        ),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from",
            name=op.f("ck_fee_schedule_rows_window_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["insurance_plans.id"],
            name=op.f("fk_fee_schedule_rows_plan_id_insurance_plans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_schedule_rows")),
        sa.UniqueConstraint(
            "plan_id",
            "code",
            "modifier",
            "effective_from",
            name=op.f("uq_fee_schedule_rows_plan_id_code_modifier_effective_from"),
        ),
    )
    op.create_table(
        "coverage_accumulators",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_year_start", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("deductible_met_minor", sa.BigInteger(), nullable=False),
        sa.Column("oop_met_minor", sa.BigInteger(), nullable=False),
        sa.Column("family_deductible_met_minor", sa.BigInteger(), nullable=True),
        sa.Column("family_oop_met_minor", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "deductible_met_minor >= 0 AND oop_met_minor >= 0",
            name=op.f("ck_coverage_accumulators_met_nonnegative"),
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["coverages.id"],
            name=op.f("fk_coverage_accumulators_coverage_id_coverages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_accumulators")),
    )
    op.create_index(
        "ix_coverage_accumulators_year",
        "coverage_accumulators",
        ["coverage_id", "benefit_year_start", "as_of"],
        unique=False,
    )
    op.create_table(
        "coverage_priorities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "priority BETWEEN 1 AND 3", name=op.f("ck_coverage_priorities_priority_range")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["coverages.id"],
            name=op.f("fk_coverage_priorities_coverage_id_coverages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_priorities")),
        sa.UniqueConstraint(
            "coverage_id",
            "effective_from",
            name=op.f("uq_coverage_priorities_coverage_id_effective_from"),
        ),
    )
    op.create_table(
        "estimates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("allowed_minor", sa.BigInteger(), nullable=False),
        sa.Column("insurance_minor", sa.BigInteger(), nullable=False),
        sa.Column("patient_minor", sa.BigInteger(), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('insurance', 'good_faith')", name=op.f("ck_estimates_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"], ["coverages.id"], name=op.f("fk_estimates_coverage_id_coverages")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_estimates_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_estimates_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_estimates")),
    )
    op.create_index("ix_estimates_patient", "estimates", ["patient_id", "id"], unique=False)
    op.create_index(op.f("ix_estimates_practice_id"), "estimates", ["practice_id"], unique=False)
    op.create_table(
        "prior_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=False),
        sa.Column("coverage_id", sa.Uuid(), nullable=True),
        sa.Column("number", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("unit_kind", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("notes", sa.String(length=500), nullable=True),
        sa.Column("decision_reason", sa.String(length=300), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'denied', 'expired', 'cancelled')",
            name=op.f("ck_prior_authorizations_status_known"),
        ),
        sa.CheckConstraint(
            "valid_to >= valid_from", name=op.f("ck_prior_authorizations_window_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["coverage_id"],
            ["coverages.id"],
            name=op.f("fk_prior_authorizations_coverage_id_coverages"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_prior_authorizations_patient_id_patients"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"], ["payers.id"], name=op.f("fk_prior_authorizations_payer_id_payers")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_prior_authorizations_practice_id_practices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_authorizations")),
    )
    op.create_index(
        "ix_prior_authorizations_patient",
        "prior_authorizations",
        ["patient_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_prior_authorizations_practice_status",
        "prior_authorizations",
        ["practice_id", "status", "id"],
        unique=False,
    )
    op.create_table(
        "estimate_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("estimate_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("modifier", sa.String(length=2), nullable=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("allowed_minor", sa.BigInteger(), nullable=False),
        sa.Column("copay_minor", sa.BigInteger(), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("coinsurance_minor", sa.BigInteger(), nullable=False),
        sa.Column("insurance_minor", sa.BigInteger(), nullable=False),
        sa.Column("patient_minor", sa.BigInteger(), nullable=False),
        sa.Column("reasoning", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["estimate_id"], ["estimates.id"], name=op.f("fk_estimate_lines_estimate_id_estimates")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_estimate_lines")),
    )
    op.create_index(
        op.f("ix_estimate_lines_estimate_id"), "estimate_lines", ["estimate_id"], unique=False
    )
    op.create_table(
        "prior_authorization_services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("authorization_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("units_authorized", sa.Integer(), nullable=False),
        sa.Column("units_used", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "units_authorized > 0", name=op.f("ck_prior_authorization_services_authorized_positive")
        ),
        sa.CheckConstraint(
            "units_used >= 0 AND units_used <= units_authorized",
            name=op.f("ck_prior_authorization_services_used_range"),
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["prior_authorizations.id"],
            name=op.f("fk_prior_authorization_services_authorization_id_prior_authorizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_authorization_services")),
    )
    op.create_index(
        "ix_prior_authorization_services_auth",
        "prior_authorization_services",
        ["authorization_id", "code"],
        unique=False,
    )
    op.create_table(
        "prior_authorization_usages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("charge_ref", sa.String(length=80), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("hold_reason", sa.String(length=40), nullable=True),
        sa.Column("authorization_id", sa.Uuid(), nullable=True),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('consumed', 'held', 'released')",
            name=op.f("ck_prior_authorization_usages_status_known"),
        ),
        sa.CheckConstraint("units > 0", name=op.f("ck_prior_authorization_usages_units_positive")),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["prior_authorizations.id"],
            name=op.f("fk_prior_authorization_usages_authorization_id_prior_authorizations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_prior_authorization_usages_patient_id_patients"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_prior_authorization_usages_practice_id_practices"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["prior_authorization_services.id"],
            name=op.f("fk_prior_authorization_usages_service_id_prior_authorization_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_authorization_usages")),
        sa.UniqueConstraint("charge_ref", name=op.f("uq_prior_authorization_usages_charge_ref")),
    )
    op.create_index(
        op.f("ix_prior_authorization_usages_authorization_id"),
        "prior_authorization_usages",
        ["authorization_id"],
        unique=False,
    )
    op.create_index(
        "ix_prior_authorization_usages_patient",
        "prior_authorization_usages",
        ["patient_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("prior_authorization_usages")
    op.drop_table("prior_authorization_services")
    op.drop_table("estimate_lines")
    op.drop_table("prior_authorizations")
    op.drop_table("estimates")
    op.drop_table("coverage_priorities")
    op.drop_table("coverage_accumulators")
    op.drop_table("fee_schedule_rows")
    op.drop_table("coverages")
    op.drop_table("insurance_plans")
    op.drop_table("payers")
    op.drop_table("estimate_settings")
