"""Database plumbing: declarative Base, engines, sessions and the unit of work.

The adapter (HTTP request, CLI command, job) owns the unit of work: it commits on success and rolls
back on error in exactly one place, :func:`unit_of_work`. Services only ``flush()``.

SQLite note: pysqlite's implicit transactions break SAVEPOINTs and defer locking. We take the
documented SQLAlchemy recipe (driver autocommit off, our own BEGIN) and start every transaction with
``BEGIN IMMEDIATE`` so a read-modify-write on SQLite is serialised just as ``SELECT ... FOR UPDATE``
serialises it on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use revcycle.kit.clock.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: dt.datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, hide_parameters=True, connect_args={"check_same_thread": False}
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        # SQL parameters can hold PHI: keep them out of exception messages and logs.
        hide_parameters=True,
        # A steady pool (overflow connections are closed on return, which under load means a
        # reconnect per request); no pre-ping round trip per checkout: a dead connection fails
        # the request with 503 and is discarded, and pool_recycle retires old ones.
        pool_size=pool_size,
        max_overflow=max(2, pool_size // 4),
        pool_recycle=1800,
        # Money paths must not be acknowledged before they are durable (S6/L12).
        connect_args={"options": "-c synchronous_commit=on -c timezone=UTC"},
    )


def make_session_factory(bind: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error. Refuses to nest."""
    session = factory()
    if session.info.get("in_unit_of_work"):
        raise RuntimeError("unit_of_work() does not nest")
    session.info["in_unit_of_work"] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop("in_unit_of_work", None)
        session.close()


def migrate(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations (shipped inside the package) to the database at ``url``."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["database_url"] = url
    command.upgrade(cfg, revision)
