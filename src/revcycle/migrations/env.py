"""Alembic environment: the URL comes from the caller's Config or from REVCYCLE_DATABASE_URL."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from alembic import context

import revcycle.models  # noqa: F401  (registers every table on Base.metadata)
from revcycle.config import get_settings
from revcycle.db import Base, make_engine

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url
connection = config.attributes.get("connection")


@contextmanager
def _sqlite_foreign_keys_off(conn: Any) -> Any:
    """Batch migrations rebuild SQLite tables (copy, drop, rename); dropping a table that other
    rows reference fails while foreign keys are enforced. Alembic's documented recipe: turn them
    off around the migrations (outside any transaction, where the PRAGMA takes effect), then
    check every reference with PRAGMA foreign_key_check before turning them back on."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migrations left {len(broken)} broken foreign key reference(s)")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            transaction_per_migration=True,
        )
        with _sqlite_foreign_keys_off(connection), context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=Base.metadata,
            render_as_batch=True,
            transaction_per_migration=True,
        )
        with _sqlite_foreign_keys_off(conn), context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
