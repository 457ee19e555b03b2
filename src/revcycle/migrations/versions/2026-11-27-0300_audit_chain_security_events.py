"""audit events are hash-chained per practice; security events

Adds the chain columns, the category and detail of an event, and the chain heads. Events written
by earlier versions are chained here, in id order, so ``revcycle audit verify`` covers them too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("category", "detail", "chain_key", "chain_seq", "prev_hash", "hash")


def _chain_existing_events() -> None:
    from revcycle.audit.chain import GENESIS, chain_key_for, event_hash
    from revcycle.db import UTCDateTime

    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("actor_user_id", sa.Uuid),
        sa.column("actor_role", sa.String),
        sa.column("practice_id", sa.Uuid),
        sa.column("category", sa.String),
        sa.column("action", sa.String),
        sa.column("object_type", sa.String),
        sa.column("object_id", sa.String),
        sa.column("fields", sa.JSON),
        sa.column("detail", sa.JSON),
        sa.column("request_id", sa.String),
        sa.column("client_addr", sa.String),
        sa.column("chain_key", sa.String),
        sa.column("chain_seq", sa.BigInteger),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    heads: dict[str, tuple[int, str]] = {}
    rows = bind.execute(sa.select(events).order_by(events.c.id)).mappings().all()
    if not rows:
        return
    # Chaining history rewrites those rows once; the append-only trigger is lifted for it.
    _drop_update_trigger(bind.dialect.name)
    for row in rows:
        key = chain_key_for(row["practice_id"])
        seq, prev = heads.get(key, (0, GENESIS))
        values: dict[str, Any] = {**row, "chain_key": key, "chain_seq": seq + 1, "prev_hash": prev}
        values["hash"] = event_hash(values)
        bind.execute(
            sa.update(events)
            .where(events.c.id == row["id"])
            .values(chain_key=key, chain_seq=seq + 1, prev_hash=prev, hash=values["hash"])
        )
        heads[key] = (seq + 1, values["hash"])
    _create_update_trigger(bind.dialect.name)
    op.bulk_insert(
        sa.table(
            "audit_chain_heads",
            sa.column("chain_key", sa.String),
            sa.column("last_seq", sa.BigInteger),
            sa.column("last_hash", sa.String),
        ),
        [{"chain_key": k, "last_seq": s, "last_hash": h} for k, (s, h) in sorted(heads.items())],
    )


def _drop_update_trigger(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")


def _create_update_trigger(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION revcycle_refuse_change()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'revcycle: audit_events is append-only "
            "(UPDATE refused); post a reversal instead'); END"
        )


def upgrade() -> None:
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain_key", sa.String(length=36), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", name=op.f("pk_audit_chain_heads")),
    )
    # Plain ADD COLUMN (not batch mode): on SQLite a batch rebuild would drop the table's
    # append-only triggers.
    op.add_column(
        "audit_events",
        sa.Column("category", sa.String(length=20), server_default="change", nullable=False),
    )
    op.add_column("audit_events", sa.Column("detail", sa.JSON(), nullable=True))
    op.add_column("audit_events", sa.Column("chain_key", sa.String(length=36), nullable=True))
    op.add_column("audit_events", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    op.create_index(
        "uq_audit_events_chain_seq", "audit_events", ["chain_key", "chain_seq"], unique=True
    )
    op.create_index("ix_audit_events_actor_time", "audit_events", ["actor_user_id", "occurred_at"])
    op.create_index("ix_audit_events_category_time", "audit_events", ["category", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_category_time", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_time", table_name="audit_events")
    op.drop_index("uq_audit_events_chain_seq", table_name="audit_events")
    for column in reversed(NEW_COLUMNS):
        op.drop_column("audit_events", column)
    op.drop_table("audit_chain_heads")
