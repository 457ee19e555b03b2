"""Migration 0004 on a database that already holds plaintext patients (a deployment of an earlier
version): every PHI value is sealed, blind indexes are filled, references survive, and the
values read back the same; downgrade restores the plaintext."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from revcycle.db import make_engine, migrate
from revcycle.patients.models import Patient
from tests.conftest import IN_CI, _pg_drop, _pg_reachable, _pg_recreate, _pg_url

PRACTICE = uuid.UUID("01900000-0000-7000-8000-000000000001")
ALICE = uuid.UUID("01900000-0000-7000-8000-0000000000a1")
BOBBY = uuid.UUID("01900000-0000-7000-8000-0000000000b2")
NOW = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
PLAIN = {
    ALICE: {
        "first_name": "Alicia",
        "last_name": "Oldversion",
        "date_of_birth": dt.date(1971, 3, 4),
        "address_line1": "12 Legacy Road",
        "address_line2": None,
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62701",
        "phone": "217-555-0101",
        "email": "alicia@example.org",
    },
    BOBBY: {
        "first_name": "Bobby",
        "last_name": "Oldversion",
        "date_of_birth": dt.date(2012, 11, 30),
        "address_line1": None,
        "address_line2": None,
        "city": None,
        "state": None,
        "postal_code": None,
        "phone": None,
        "email": None,
    },
}


@pytest.fixture
def url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'legacy.db'}"
        return
    problem = _pg_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable: {problem}")
        pytest.skip(problem)
    name = f"revcycle_m_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_recreate(name)
    try:
        yield _pg_url(name)
    finally:
        _pg_drop(name)


def _alembic(url: str) -> Config:
    from revcycle import db

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def _legacy_rows(engine: sa.Engine) -> None:
    """Rows as the previous version wrote them (reflected tables: no model types involved)."""
    md = sa.MetaData()
    md.reflect(engine, only=["practices", "patients", "users"])
    practices, patients, users = (md.tables[t] for t in ("practices", "patients", "users"))
    if engine.dialect.name == "sqlite":  # reflected as CHAR(32) there
        for table in (practices, patients, users):
            for col in table.columns:
                if col.name == "id" or col.name.endswith("_id"):
                    col.type = sa.Uuid()
    with engine.begin() as c:
        c.execute(
            practices.insert().values(
                id=PRACTICE,
                name="Legacy Practice",
                npi="1234567893",
                tin="123456789",
                taxonomy="207Q00000X",
                address_line1="1 Main St",
                city="Springfield",
                state="IL",
                postal_code="62701",
                currency="USD",
                invoice_prefix="LEG",
                default_terms="net_30",
                created_at=NOW,
            )
        )
        for pid, number, guarantor in [(ALICE, "P0000001", None), (BOBBY, "P0000002", ALICE)]:
            c.execute(
                patients.insert().values(
                    id=pid,
                    practice_id=PRACTICE,
                    account_number=number,
                    sex="U",
                    guarantor_id=guarantor,
                    guarantor_relationship="parent" if guarantor else "self",
                    created_at=NOW,
                    **PLAIN[pid],
                )
            )
        c.execute(
            users.insert().values(
                id=uuid.uuid4(),
                username="bobby",
                password_hash="x",
                role="patient",
                patient_id=BOBBY,
                active=True,
                created_at=NOW,
            )
        )


def _raw(engine: sa.Engine) -> dict[uuid.UUID, dict[str, object]]:
    with engine.connect() as c:
        rows = c.execute(sa.text("select * from patients order by account_number")).mappings()
        return {uuid.UUID(str(r["id"])): dict(r) for r in rows}


def test_upgrade_encrypts_existing_plaintext_and_downgrade_restores_it(url: str) -> None:
    migrate(url, "0003")
    engine = make_engine(url, pool_size=2)
    try:
        _legacy_rows(engine)
        migrate(url, "head")

        raw = _raw(engine)
        for pid, plain in PLAIN.items():
            row = raw[pid]
            for column, value in plain.items():
                if value is None:
                    assert row[column] is None
                else:
                    assert str(row[column]).startswith("e1:test-a:")
                    assert str(value) not in str(row[column])
            for column in ("last_name_bidx", "name_dob_bidx", "dob_bidx"):
                assert str(row[column]).startswith("test-a:")
        # Same last name, same last-name index; different people, different name+dob index.
        assert raw[ALICE]["last_name_bidx"] == raw[BOBBY]["last_name_bidx"]
        assert raw[ALICE]["name_dob_bidx"] != raw[BOBBY]["name_dob_bidx"]

        with Session(engine) as s:
            for pid, plain in PLAIN.items():
                p = s.get_one(Patient, pid)
                assert {k: getattr(p, k) for k in plain} == plain
            assert s.get_one(Patient, BOBBY).guarantor_id == ALICE
            assert s.scalar(sa.text("select count(*) from users where patient_id is not null")) == 1

        engine.dispose()
        command.downgrade(_alembic(url), "0003")
        raw = _raw(engine)
        for pid, plain in PLAIN.items():
            got = {k: raw[pid][k] for k in plain}
            got["date_of_birth"] = dt.date.fromisoformat(str(got["date_of_birth"])[:10])
            assert got == plain
            assert "last_name_bidx" not in raw[pid]
    finally:
        engine.dispose()
