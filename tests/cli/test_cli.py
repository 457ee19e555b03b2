"""The `revcycle` command line against a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import get_settings
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    monkeypatch.setenv("REVCYCLE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("REVCYCLE_ARGON2_MEMORY_KIB", "8")
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def _counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as s:
        return (
            int(s.execute(text("select count(*) from users")).scalar_one()),
            int(s.execute(text("select count(*) from journal_entries")).scalar_one()),
        )


def test_users_create_and_refusals(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]
) -> None:
    factory = committed_db[2]
    r = cli.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "Alice",
            "--role",
            "admin",
            "--password",
            "a long enough password",
        ],
    )
    assert r.exit_code == 0, r.output
    assert re.match(r"created admin alice \([0-9a-f-]{36}\)", r.output)
    assert _counts(factory) == (1, 0)
    # duplicate username: a message, exit 1, nothing written
    r = cli.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "alice",
            "--role",
            "admin",
            "--password",
            "a long enough password",
        ],
    )
    assert r.exit_code == 1
    assert "user.username_taken" in r.output
    # refused by the password policy: exit 1 with the stable code, nothing written, and the
    # password itself never printed
    for password, code in [
        ("tiny-pw", "password.too_short"),
        ("qwertyuiop123", "password.common"),
        ("bobbobbobbobbob", "password.same_as_username"),
    ]:
        r = cli.invoke(
            app,
            ["users", "create", "--username", "bob", "--role", "billing_staff"]
            + ["--password", password],
        )
        assert r.exit_code == 1
        assert f"[{code}]" in r.output
        assert password not in r.output
    # a password read from the prompt (confirmed twice)
    r = cli.invoke(
        app,
        ["users", "create", "--username", "carol", "--role", "billing_staff"],
        input="prompted password 1\nprompted password 1\n",
    )
    assert r.exit_code == 0, r.output
    assert _counts(factory) == (2, 0)


def test_check_trial_balance_and_invoice_commands(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]
) -> None:
    factory = committed_db[2]
    with factory() as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        inv = make_invoice(s, patient)
        draft = make_invoice(s, patient, issue=False)
        s.commit()
        practice_id, inv_id, draft_id, patient_id = practice.id, inv.id, draft.id, patient.id

    r = cli.invoke(app, ["check"])
    assert r.exit_code == 0, r.output
    assert "ledger balanced; no drift" in r.output

    r = cli.invoke(app, ["invoices", "issue", str(draft_id)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("issued INV-000002, due ")

    r = cli.invoke(app, ["invoices", "void", str(inv_id), "--reason", "entered twice"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["invoices", "void", str(inv_id), "--reason", "again"])
    assert r.exit_code == 1
    assert "invoice.already_void" in r.output

    r = cli.invoke(app, ["invoices", "void", "not-a-uuid", "--reason", "x"])
    assert r.exit_code == 2

    r = cli.invoke(app, ["ledger", "trial-balance", str(practice_id)])
    assert r.exit_code == 0, r.output
    assert r.output.rstrip().endswith("balanced")
    assert "1200 Patient accounts receivable" in r.output

    r = cli.invoke(app, ["ledger", "trial-balance", str(practice_id), "--from", "2026-13-01"])
    assert r.exit_code == 2

    r = cli.invoke(app, ["patients", "statement", str(patient_id)])
    assert r.exit_code == 0, r.output
    assert "amount due 125.00 USD" in r.output

    r = cli.invoke(app, ["check", "--json"])
    assert r.exit_code == 0
    assert '"ok": true' in r.output


def test_check_reports_drift_and_exits_non_zero(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]
) -> None:
    factory = committed_db[2]
    with factory() as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        inv = make_invoice(s, patient)
        s.commit()
        s.execute(
            text("update invoices set status = 'paid' where id = :i"),
            {"i": inv.id.hex if s.get_bind().dialect.name == "sqlite" else inv.id},
        )
        s.commit()
    r = cli.invoke(app, ["check"])
    assert r.exit_code == 1
    assert "is 'paid' but the ledger says 'open'" in r.output
