"""Scratch PostgreSQL databases: a unique name per run, always dropped at the end."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _admin_exec(admin_url: str, *statements: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def db_url(admin_url: str, dbname: str) -> str:
    """SQLAlchemy URL (postgresql+psycopg://...) of ``dbname`` on the admin URL's server."""
    return make_url(admin_url).set(database=dbname).render_as_string(hide_password=False)


def libpq_dsn(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq URL, for psycopg.connect()."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@contextmanager
def _temporary_database(admin_url: str, label: str, template: str | None = None) -> Iterator[str]:
    name = f"revcycle_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    _admin_exec(admin_url, f'CREATE DATABASE "{name}"{copy}')
    try:
        yield db_url(admin_url, name)
    finally:
        _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(admin_url: str, label: str) -> Iterator[str]:
    """Create ``revcycle_bench_<label>_<pid>_<random>``, yield its URL, drop it (FORCE) after."""
    with _temporary_database(admin_url, label) as url:
        yield url


@contextmanager
def clone_database(
    admin_url: str, source_url: str, label: str, *, enabled: bool = True
) -> Iterator[str | None]:
    """A scratch copy of ``source_url``'s database (``CREATE DATABASE ... TEMPLATE``: nobody
    may be connected to it meanwhile), dropped after; yields None when not ``enabled``."""
    if not enabled:
        yield None
        return
    with _temporary_database(admin_url, label, make_url(source_url).database) as url:
        yield url


def checkpoint(admin_url: str) -> None:
    """Flush dirty buffers so a run does not pay for the previous run's checkpoint."""
    _admin_exec(admin_url, "CHECKPOINT")


def server_settings(admin_url: str) -> dict[str, str]:
    names = (
        "server_version",
        "max_connections",
        "shared_buffers",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "commit_delay",
    )
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return {n: str(conn.execute(text(f"SHOW {n}")).scalar()) for n in names}
    finally:
        engine.dispose()


DB_COUNTERS = ("sessions", "xact_commit", "xact_rollback", "deadlocks", "tup_inserted")


def db_counters(admin_url: str, dbname: str) -> dict[str, int]:
    """Cumulative pg_stat_database counters of one database (flushed when backends exit)."""
    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {', '.join(DB_COUNTERS)} FROM pg_stat_database WHERE datname = :d"),
                {"d": dbname},
            ).one()
        return {k: int(v or 0) for k, v in zip(DB_COUNTERS, row, strict=True)}
    finally:
        engine.dispose()
