"""PHI fields encrypted at rest with blind indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:01:00

The patient PHI columns become TEXT holding sealed values (``e1:<key id>:...``, see
docs/phi-encryption.md) and three blind-index columns are added. Rows already in the database
(a deployment of an earlier version) are encrypted here, in batches, with the configured keyring
(in development: ./var/keys.json, generated if missing); without rows no key is needed.
Downgrade decrypts them back. The contexts and index names below are frozen copies of the
model's: stored data depends on them, not on the current model code.
"""

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from revcycle.crypto import blind_index
from revcycle.crypto.fields import is_sealed, seal, unseal
from revcycle.crypto.keyring import Keyring, installed_or_none, load_keyring

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# column -> (type before, nullable)
PHI_STRINGS: dict[str, tuple[sa.types.TypeEngine[Any], bool]] = {
    "first_name": (sa.String(100), False),
    "last_name": (sa.String(100), False),
    "address_line1": (sa.String(200), True),
    "address_line2": (sa.String(200), True),
    "city": (sa.String(100), True),
    "state": (sa.String(2), True),
    "postal_code": (sa.String(10), True),
    "phone": (sa.String(30), True),
    "email": (sa.String(254), True),
}
PHI_COLUMNS = [*PHI_STRINGS, "date_of_birth"]
INDEXES = (
    blind_index.BlindIndex("last_name_bidx", "patients.last_name", ("last_name",)),
    blind_index.BlindIndex(
        "name_dob_bidx", "patients.name_dob", ("last_name", "first_name", "date_of_birth")
    ),
    blind_index.BlindIndex("dob_bidx", "patients.date_of_birth", ("date_of_birth",)),
)
BATCH = 500

patients = sa.table(
    "patients",
    sa.column("id", sa.Uuid()),
    *[sa.column(c, sa.Text()) for c in PHI_COLUMNS],
    *[sa.column(i.column, sa.Text()) for i in INDEXES],
)


def _keyring() -> Keyring:
    found = installed_or_none()
    if found is not None:
        return found
    from revcycle.config import get_settings

    return load_keyring(get_settings())


def _batches(conn: sa.Connection, columns: list[str]) -> Iterator[list[sa.Row[Any]]]:
    after = None
    while True:
        q = (
            sa.select(patients.c.id, *[patients.c[c] for c in columns])
            .order_by(patients.c.id)
            .limit(BATCH)
        )
        if after is not None:
            q = q.where(patients.c.id > after)
        rows = list(conn.execute(q).all())
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _encrypt_existing(conn: sa.Connection) -> None:
    keyring: Keyring | None = None
    for rows in _batches(conn, PHI_COLUMNS):
        keyring = keyring or _keyring()
        for row in rows:
            values: dict[str, Any] = {}
            plain: dict[str, Any] = {}
            for column in PHI_COLUMNS:
                stored = row._mapping[column]
                if stored is None:
                    plain[column] = None
                    continue
                context = f"patients.{column}"
                if is_sealed(stored):  # an interrupted earlier run: keep it, index it
                    text = unseal(keyring, context, stored)
                else:
                    text = str(stored)[:10] if column == "date_of_birth" else stored
                    values[column] = seal(keyring, context, text)
                plain[column] = dt.date.fromisoformat(text) if column == "date_of_birth" else text
            values.update(blind_index.values_for(keyring, INDEXES, plain))
            conn.execute(sa.update(patients).where(patients.c.id == row.id).values(**values))


def _decrypt_existing(conn: sa.Connection) -> None:
    keyring: Keyring | None = None
    for rows in _batches(conn, PHI_COLUMNS):
        keyring = keyring or _keyring()
        for row in rows:
            values = {
                c: unseal(keyring, f"patients.{c}", row._mapping[c])
                for c in PHI_COLUMNS
                if row._mapping[c] is not None and is_sealed(row._mapping[c])
            }
            if values:
                conn.execute(sa.update(patients).where(patients.c.id == row.id).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        for column, (before, nullable) in PHI_STRINGS.items():
            batch_op.alter_column(
                column, type_=sa.Text(), existing_type=before, existing_nullable=nullable
            )
        batch_op.alter_column(
            "date_of_birth",
            type_=sa.Text(),
            existing_type=sa.Date(),
            existing_nullable=False,
            postgresql_using="to_char(date_of_birth, 'YYYY-MM-DD')",
        )
        for idx in INDEXES:
            batch_op.add_column(sa.Column(idx.column, sa.String(length=80), nullable=True))

    _encrypt_existing(op.get_bind())

    with op.batch_alter_table("patients", schema=None) as batch_op:
        for idx in INDEXES:
            batch_op.alter_column(idx.column, existing_type=sa.String(length=80), nullable=False)
            batch_op.create_index(f"ix_patients_{idx.column}", [idx.column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        for idx in INDEXES:
            batch_op.drop_index(f"ix_patients_{idx.column}")
            batch_op.drop_column(idx.column)

    _decrypt_existing(op.get_bind())

    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("patients", schema=None) as batch_op:
        for column, (before, nullable) in PHI_STRINGS.items():
            batch_op.alter_column(
                column, type_=before, existing_type=sa.Text(), existing_nullable=nullable
            )
        if not sqlite:
            batch_op.alter_column(
                "date_of_birth",
                type_=sa.Date(),
                existing_type=sa.Text(),
                existing_nullable=False,
                postgresql_using="date_of_birth::date",
            )
        else:
            # A batch type change would CAST('1971-03-04' AS DATE), which SQLite turns into 1971
            # (NUMERIC affinity); copy the text into a DATE column instead (stored unchanged).
            batch_op.add_column(sa.Column("date_of_birth_old", sa.Date(), nullable=True))
    if sqlite:
        op.execute("UPDATE patients SET date_of_birth_old = date_of_birth")
        with op.batch_alter_table("patients", schema=None) as batch_op:
            batch_op.drop_column("date_of_birth")
            batch_op.alter_column(
                "date_of_birth_old",
                new_column_name="date_of_birth",
                existing_type=sa.Date(),
                nullable=False,
            )
