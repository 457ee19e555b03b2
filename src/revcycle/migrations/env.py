"""Alembic environment: the URL comes from the caller's Config or from REVCYCLE_DATABASE_URL."""

from __future__ import annotations

from alembic import context

import revcycle.models  # noqa: F401  (registers every table on Base.metadata)
from revcycle.config import get_settings
from revcycle.db import Base, make_engine

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url
connection = config.attributes.get("connection")


def run_migrations_online() -> None:
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
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
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
