"""Test plumbing. Every database test runs twice: on SQLite and on PostgreSQL.

* The schema comes from the Alembic migrations (never ``create_all``), once per backend per run.
* Each test runs inside an outer transaction that is rolled back; the code under test commits to
  SAVEPOINTs (``join_transaction_mode="create_savepoint"``), so API tests see real unit-of-work
  behaviour. On PostgreSQL the deferred balance trigger is forced (``SET CONSTRAINTS ALL
  IMMEDIATE``) before the rollback, and on both backends ``revcycle check`` runs after every test:
  a test that leaves the ledger unbalanced or drifted fails.
* Tests marked ``committed`` get a private database with real commits (concurrency tests).

PostgreSQL: ``REVCYCLE_TEST_PG_URL`` (default: the local server as user postgres). Outside CI an
unreachable server skips the PostgreSQL half with a message; with ``CI=true`` it is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from revcycle.app import create_app
from revcycle.config import Settings
from revcycle.crypto import keyring
from revcycle.db import make_engine, migrate
from tests.factories.crypto import TEST_ENV, TEST_KEYRING

# No PHI in logs: every log record of the run is scanned (see tests/phi_log_scan.py).
pytest_plugins = ["tests.phi_log_scan"]

# PHI encryption: the fixed test keyring, for this process and for every Settings() it builds.
os.environ.update(TEST_ENV)
keyring.install(TEST_KEYRING)

PG_ADMIN_URL = os.environ.get(
    "REVCYCLE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgresql"]


def test_settings(url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        db_pool_size=5,
    )


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(dbname: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(hide_password=False)


def _pg_recreate(dbname: str, template: str | None = None) -> None:
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        tpl = f' TEMPLATE "{template}"' if template else ""
        c.execute(text(f'CREATE DATABASE "{dbname}"{tpl}'))
    admin.dispose()


def _pg_drop(dbname: str) -> None:
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """backend -> URL of a freshly migrated database (built lazily, once per run)."""
    urls: dict[str, str] = {}
    created_pg: list[str] = []

    class Lazy(dict[str, str]):
        def __missing__(self, backend: str) -> str:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("db") / "template.db"
                url = f"sqlite:///{path}"
                migrate(url)
            else:
                problem = _pg_reachable()
                if problem:
                    if IN_CI:
                        pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
                    pytest.skip(f"PostgreSQL not reachable ({problem}); set REVCYCLE_TEST_PG_URL")
                name = f"revcycle_test_{_worker()}_{os.getpid()}"
                _pg_recreate(name)
                url = _pg_url(name)
                migrate(url)
                created_pg.append(name)
            self[backend] = url
            return url

    lazy = Lazy(urls)
    yield lazy
    for name in created_pg:
        _pg_drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_ENGINES: dict[str, Engine] = {}


@pytest.fixture
def engine(backend: str, migrated: dict[str, str]) -> Engine:
    url = migrated[backend]
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url, pool_size=2)
    return _ENGINES[url]


@pytest.fixture
def connection(engine: Engine, request: pytest.FixtureRequest) -> Iterator[object]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
        if engine.dialect.name == "postgresql":
            # Fire the deferred "every entry balances" trigger for everything this test posted.
            conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        if "no_integrity_check" not in request.keywords:
            from revcycle.integrity import service as integrity

            with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
                report = integrity.run(s)
            assert report.ok, f"integrity violations after the test: {report.violations}"
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def factory(connection: object) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",  # type: ignore[call-overload]
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    s = factory()
    try:
        yield s
        s.flush()
    finally:
        s.close()


@pytest.fixture
def settings(migrated: dict[str, str], backend: str) -> Settings:
    return test_settings(migrated[backend])


@pytest.fixture
def client(settings: Settings, factory: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(settings, session_factory=factory)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def committed_db(
    backend: str, migrated: dict[str, str], tmp_path: Path
) -> Iterator[tuple[str, Engine, sessionmaker[Session]]]:
    """A private, migrated database with real commits: for concurrency tests."""
    template_url = migrated[backend]
    if backend == "sqlite":
        src = Path(template_url.removeprefix("sqlite:///"))
        dst = tmp_path / "committed.db"
        shutil.copy(src, dst)
        url = f"sqlite:///{dst}"
        dbname = None
    else:
        dbname = f"revcycle_c_{uuid.uuid4().hex[:10]}"
        template = make_url(template_url).database
        assert template is not None
        if template_url in _ENGINES:  # CREATE DATABASE ... TEMPLATE needs it idle
            _ENGINES[template_url].dispose()
        _pg_recreate(dbname, template=template)
        url = _pg_url(dbname)
    eng = make_engine(url, pool_size=25)
    try:
        yield url, eng, sessionmaker(bind=eng, expire_on_commit=False, autoflush=False)
    finally:
        eng.dispose()
        if dbname:
            _pg_drop(dbname)
