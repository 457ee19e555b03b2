"""claims: the CARC -> action table (with its default rows); appeals: the later 835 that paid
an appeal and the amount it recovered

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27 11:00:00

See docs/denials-appeals.md ("What to do about an adjustment", "When the payer pays").
"""

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = (
    "write_off",
    "patient",
    "correct_resubmit",
    "appeal",
    "check_eligibility",
    "timely_filing",
    "duplicate",
    "coordinate_benefits",
    "review",
)
_ACTIONS_SQL = ", ".join(f"'{a}'" for a in ACTIONS)

# The default rows (group, CARC, RARC, action, note): our own short wording. "" = any.
DEFAULTS: tuple[tuple[str, str, str, str, str], ...] = (
    # Group only: who owes it decides when no reason row matches.
    ("PR", "", "", "patient", "The patient's share: it is on the patient's balance"),
    ("CR", "", "", "review", "A correction of an earlier decision: compare with the original"),
    # Contract terms: nothing to do.
    ("CO", "45", "", "write_off", "Above the contracted amount: the contract reduction"),
    ("CO", "24", "", "write_off", "Paid under a capitation agreement"),
    ("CO", "59", "", "write_off", "Multiple-procedure reduction under the contract"),
    ("CO", "131", "", "write_off", "A negotiated discount"),
    ("CO", "253", "", "write_off", "Sequestration reduction of a federal payment"),
    ("CO", "97", "M15", "write_off", "Bundled into another service that was paid"),
    # Something on the claim is wrong or missing: fix it and send a corrected claim.
    ("CO", "4", "", "correct_resubmit", "Fix the modifier and resubmit"),
    ("CO", "5", "", "correct_resubmit", "Fix the place of service or bill type and resubmit"),
    ("CO", "11", "", "correct_resubmit", "Check the diagnosis coding; correct or appeal"),
    ("CO", "15", "", "correct_resubmit", "Add or fix the authorisation number and resubmit"),
    ("CO", "16", "", "correct_resubmit", "Add the missing information and resubmit"),
    (
        "CO",
        "97",
        "",
        "correct_resubmit",
        "Bundled: resubmit with a distinct-service modifier "
        "if the services were separate, else write off",
    ),
    ("CO", "146", "", "correct_resubmit", "Use a diagnosis code valid on the date of service"),
    ("CO", "181", "", "correct_resubmit", "Use a procedure code valid on the date of service"),
    ("CO", "182", "", "correct_resubmit", "Use a modifier valid on the date of service"),
    ("CO", "189", "", "correct_resubmit", "Bill the specific code instead of the unlisted one"),
    ("CO", "199", "", "correct_resubmit", "Match the revenue code to the procedure code"),
    ("CO", "16", "N4", "coordinate_benefits", "Send the prior payer's explanation of benefits"),
    ("", "4", "", "correct_resubmit", "Fix the modifier and resubmit"),
    ("", "16", "", "correct_resubmit", "Add the missing information and resubmit"),
    # The payer disputes the service itself: appeal with the records.
    ("CO", "50", "", "appeal", "Appeal with the records that show medical necessity"),
    ("PI", "50", "", "appeal", "Appeal with the records that show medical necessity"),
    ("CO", "55", "", "appeal", "Appeal with the evidence that the treatment is accepted"),
    ("CO", "150", "", "appeal", "Appeal with the documentation of the level of service"),
    ("CO", "151", "", "appeal", "Appeal with the records that justify the frequency"),
    ("CO", "167", "", "appeal", "Check the diagnosis; appeal if it is right"),
    ("CO", "197", "", "appeal", "Appeal with proof of the authorisation, or a retro-auth"),
    ("PI", "197", "", "appeal", "Appeal with proof of the authorisation, or a retro-auth"),
    # Coverage: check the patient's eligibility and bill the right coverage.
    ("", "26", "", "check_eligibility", "Coverage had not started: check eligibility"),
    ("", "27", "", "check_eligibility", "Coverage had ended: check eligibility"),
    ("", "31", "", "check_eligibility", "Not found as a member: check the member id"),
    ("", "32", "", "check_eligibility", "Not an eligible dependant: check the coverage"),
    ("", "33", "", "check_eligibility", "No dependant coverage: check the coverage"),
    ("CO", "140", "", "check_eligibility", "Check the health plan identifier"),
    # Filed too late.
    ("", "29", "", "timely_filing", "Filed late: prove timely filing or write off"),
    # Already received.
    ("", "18", "", "duplicate", "A duplicate: find the original claim's decision"),
    # Another payer first.
    ("", "22", "", "coordinate_benefits", "Another payer may be primary: bill it first"),
    ("OA", "23", "", "coordinate_benefits", "Prior payers' payments: check the COB figures"),
    ("CO", "19", "", "coordinate_benefits", "A work injury: bill workers' compensation"),
    ("CO", "109", "", "coordinate_benefits", "Send it to the right payer or contractor"),
)


def upgrade() -> None:
    op.create_table(
        "carc_actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=True),
        sa.Column("group_code", sa.String(length=2), nullable=False),
        sa.Column("reason_code", sa.String(length=5), nullable=False),
        sa.Column("remark_code", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            f"action IN ({_ACTIONS_SQL})", name=op.f("ck_carc_actions_action_known")
        ),
        sa.CheckConstraint(
            "group_code IN ('', 'CO', 'PR', 'OA', 'PI', 'CR')",
            name=op.f("ck_carc_actions_group_known"),
        ),
        sa.CheckConstraint(
            "group_code <> '' OR reason_code <> ''", name=op.f("ck_carc_actions_matches_something")
        ),
        sa.CheckConstraint(
            "remark_code = '' OR (group_code <> '' AND reason_code <> '')",
            name=op.f("ck_carc_actions_remark_needs_group_and_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_carc_actions_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carc_actions")),
    )
    op.create_index(
        "ux_carc_actions_default_key",
        "carc_actions",
        ["group_code", "reason_code", "remark_code"],
        unique=True,
        sqlite_where=sa.text("practice_id IS NULL"),
        postgresql_where=sa.text("practice_id IS NULL"),
    )
    op.create_index(
        "ux_carc_actions_practice_key",
        "carc_actions",
        ["practice_id", "group_code", "reason_code", "remark_code"],
        unique=True,
        sqlite_where=sa.text("practice_id IS NOT NULL"),
        postgresql_where=sa.text("practice_id IS NOT NULL"),
    )
    table = sa.table(
        "carc_actions",
        sa.column("id", sa.Uuid()),
        sa.column("practice_id", sa.Uuid()),
        sa.column("group_code", sa.String()),
        sa.column("reason_code", sa.String()),
        sa.column("remark_code", sa.String()),
        sa.column("action", sa.String()),
        sa.column("note", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    written = dt.datetime(2026, 11, 27, 11, 0, tzinfo=dt.UTC)  # when these defaults were written
    op.bulk_insert(
        table,
        [
            {
                # Stable ids: the same default has the same id in every database.
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"revcycle:carc_actions:{g}-{r}-{m}"),
                "practice_id": None,
                "group_code": g,
                "reason_code": r,
                "remark_code": m,
                "action": action,
                "note": note,
                "created_at": written,
            }
            for g, r, m, action, note in DEFAULTS
        ],
    )
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("remittance_claim_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("recovered_minor", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_appeals_remittance_claim_id_remittance_claims"),
            "remittance_claims",
            ["remittance_claim_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.drop_constraint(
            op.f("fk_appeals_remittance_claim_id_remittance_claims"), type_="foreignkey"
        )
        batch.drop_column("recovered_minor")
        batch.drop_column("remittance_claim_id")
    op.drop_index("ux_carc_actions_practice_key", table_name="carc_actions")
    op.drop_index("ux_carc_actions_default_key", table_name="carc_actions")
    op.drop_table("carc_actions")
