"""receipt numbers and cash drawer reconciliation

``receipt_sequences`` / ``receipts``: one receipt per settled payment (series R) and per paid
refund (series RF), numbered per practice, series and calendar year without gaps; existing
payments and refunds get numbers in created order. ``cash_drawers``, ``cash_drawer_items`` and
``bank_deposits`` for the front desk; two ledger accounts (1020 bank, 6300 cash over/short) are
added to every existing practice's chart (docs/front-desk.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 05:02:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_ACCOUNTS = [("1020", "Bank — operating", "asset"), ("6300", "Cash over/short", "expense")]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "receipt_sequences",
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("series", sa.String(length=4), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        _fk("receipt_sequences", "practice_id", "practices"),
        sa.PrimaryKeyConstraint("practice_id", "series", "year", name=op.f("pk_receipt_sequences")),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("series", sa.String(length=4), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("display_number", sa.String(length=24), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("refund_id", sa.Uuid(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number > 0", name=op.f("ck_receipts_number_positive")),
        sa.CheckConstraint(
            "(payment_id IS NULL) <> (refund_id IS NULL)", name=op.f("ck_receipts_one_source")
        ),
        _fk("receipts", "practice_id", "practices"),
        _fk("receipts", "patient_id", "patients"),
        _fk("receipts", "payment_id", "payments"),
        _fk("receipts", "refund_id", "refunds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint(
            "practice_id",
            "series",
            "year",
            "number",
            name=op.f("uq_receipts_practice_id_series_year_number"),
        ),
        sa.UniqueConstraint(
            "practice_id", "display_number", name=op.f("uq_receipts_practice_id_display_number")
        ),
        sa.UniqueConstraint("payment_id", name=op.f("uq_receipts_payment_id")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_receipts_refund_id")),
    )
    op.create_index(op.f("ix_receipts_patient_id"), "receipts", ["patient_id"])
    op.create_table(
        "bank_deposits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("deposited_on", sa.Date(), nullable=False),
        sa.Column("bank_reference", sa.String(length=60), nullable=True),
        sa.Column("cash_minor", sa.BigInteger(), nullable=False),
        sa.Column("checks_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("total_minor > 0", name=op.f("ck_bank_deposits_total_positive")),
        sa.CheckConstraint(
            "cash_minor >= 0 AND checks_minor >= 0",
            name=op.f("ck_bank_deposits_parts_nonnegative"),
        ),
        _fk("bank_deposits", "practice_id", "practices"),
        _fk("bank_deposits", "entry_id", "journal_entries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_deposits")),
    )
    op.create_index(
        "ix_bank_deposits_practice_date", "bank_deposits", ["practice_id", "deposited_on"]
    )
    op.create_table(
        "cash_drawers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("practice_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("location", sa.String(length=60), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening_float_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("expected_cash_minor", sa.BigInteger(), nullable=True),
        sa.Column("expected_checks_minor", sa.BigInteger(), nullable=True),
        sa.Column("counted_cash_minor", sa.BigInteger(), nullable=True),
        sa.Column("counted_checks_minor", sa.BigInteger(), nullable=True),
        sa.Column("over_short_minor", sa.BigInteger(), nullable=True),
        sa.Column("denominations", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("over_short_entry_id", sa.Uuid(), nullable=True),
        sa.Column("deposit_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "opening_float_minor >= 0", name=op.f("ck_cash_drawers_float_nonnegative")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'closed')", name=op.f("ck_cash_drawers_status_known")
        ),
        _fk("cash_drawers", "practice_id", "practices"),
        _fk("cash_drawers", "user_id", "users"),
        _fk("cash_drawers", "over_short_entry_id", "journal_entries"),
        _fk("cash_drawers", "deposit_id", "bank_deposits"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_drawers")),
    )
    op.create_index(
        "ux_cash_drawers_open_user",
        "cash_drawers",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index(
        "ix_cash_drawers_practice_date", "cash_drawers", ["practice_id", "business_date"]
    )
    op.create_index(op.f("ix_cash_drawers_deposit_id"), "cash_drawers", ["deposit_id"])
    op.create_table(
        "cash_drawer_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("drawer_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("refund_id", sa.Uuid(), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_cash_drawer_items_amount_nonzero")),
        sa.CheckConstraint(
            "(payment_id IS NULL) <> (refund_id IS NULL)",
            name=op.f("ck_cash_drawer_items_one_source"),
        ),
        sa.CheckConstraint(
            "method IN ('cash', 'check')", name=op.f("ck_cash_drawer_items_method_known")
        ),
        _fk("cash_drawer_items", "drawer_id", "cash_drawers"),
        _fk("cash_drawer_items", "payment_id", "payments"),
        _fk("cash_drawer_items", "refund_id", "refunds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_drawer_items")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_cash_drawer_items_payment_id")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_cash_drawer_items_refund_id")),
    )
    op.create_index(op.f("ix_cash_drawer_items_drawer_id"), "cash_drawer_items", ["drawer_id"])

    bind = op.get_bind()
    # The two new accounts for every existing practice (new practices get them with the chart).
    for code, name, typ in NEW_ACCOUNTS:
        bind.execute(
            sa.text(
                "INSERT INTO accounts (practice_id, code, name, type) "
                "SELECT p.id, :code, :name, :type FROM practices p WHERE NOT EXISTS "
                "(SELECT 1 FROM accounts a WHERE a.practice_id = p.id AND a.code = :same_code)"
            ),
            {"code": code, "same_code": code, "name": name, "type": typ},
        )
    _backfill_receipts(bind)


def _backfill_receipts(bind: sa.Connection) -> None:
    """Number existing settled payments and paid refunds in created order."""
    sources = [
        (
            "R",
            "payment_id",
            "SELECT id, practice_id, patient_id, amount_minor, currency, created_at FROM payments "
            "WHERE status = 'succeeded' AND entry_id IS NOT NULL ORDER BY created_at, id",
        ),
        (
            "RF",
            "refund_id",
            "SELECT id, practice_id, patient_id, amount_minor, currency, created_at FROM refunds "
            "WHERE status = 'paid' ORDER BY created_at, id",
        ),
    ]
    last: dict[tuple[object, str, int], int] = {}
    insert = sa.text(
        "INSERT INTO receipts (id, practice_id, patient_id, series, year, number, display_number, "
        "payment_id, refund_id, amount_minor, currency, issued_at) VALUES (:id, :practice_id, "
        ":patient_id, :series, :year, :number, :display, :payment_id, :refund_id, :amount, "
        ":currency, :issued_at)"
    ).bindparams(
        sa.bindparam("id", type_=sa.Uuid()),
        sa.bindparam("practice_id", type_=sa.Uuid()),
        sa.bindparam("patient_id", type_=sa.Uuid()),
        sa.bindparam("payment_id", type_=sa.Uuid()),
        sa.bindparam("refund_id", type_=sa.Uuid()),
    )
    for series, column, query in sources:
        typed = sa.text(query).columns(id=sa.Uuid(), practice_id=sa.Uuid(), patient_id=sa.Uuid())
        for row in bind.execute(typed):
            year = int(str(row.created_at)[:4])
            key = (row.practice_id, series, year)
            number = last[key] = last.get(key, 0) + 1
            bind.execute(
                insert,
                {
                    "id": uuid.uuid4(),
                    "practice_id": row.practice_id,
                    "patient_id": row.patient_id,
                    "series": series,
                    "year": year,
                    "number": number,
                    "display": f"{series}-{year}-{number:06d}",
                    "payment_id": row.id if column == "payment_id" else None,
                    "refund_id": row.id if column == "refund_id" else None,
                    "amount": row.amount_minor,
                    "currency": row.currency,
                    "issued_at": row.created_at,
                },
            )
    seq = sa.text(
        "INSERT INTO receipt_sequences (practice_id, series, year, last_number) "
        "VALUES (:practice_id, :series, :year, :n)"
    ).bindparams(sa.bindparam("practice_id", type_=sa.Uuid()))
    for (practice_id, series, year), n in last.items():
        bind.execute(seq, {"practice_id": practice_id, "series": series, "year": year, "n": n})


def downgrade() -> None:
    op.drop_table("cash_drawer_items")
    op.drop_table("cash_drawers")
    op.drop_table("bank_deposits")
    op.drop_table("receipts")
    op.drop_table("receipt_sequences")
    bind = op.get_bind()
    for code, _, _ in NEW_ACCOUNTS:
        bind.execute(sa.text("DELETE FROM accounts WHERE code = :code"), {"code": code})
