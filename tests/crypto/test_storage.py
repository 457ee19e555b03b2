"""Encrypted patient columns in the database (SQLite and PostgreSQL): what is stored, what is
refused, and key rotation with `revcycle keys rotate` (committed batches, concurrent runs)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import revcycle.models  # noqa: F401
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import get_settings
from revcycle.crypto import keyring as kr
from revcycle.crypto.fields import DecryptionError
from revcycle.crypto.rotation import census, rotate
from revcycle.db import Base, unit_of_work
from revcycle.patients.models import Patient
from revcycle.patients.schemas import PatientUpdate
from revcycle.patients.service import update_patient
from tests.factories.crypto import (
    KEY_A,
    KEY_A_ID,
    KEY_B,
    KEY_B_ID,
    ONLY_B_KEYRING,
    ROTATED_KEYRING,
    TEST_KEYRING,
)
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

PHI = [
    "first_name",
    "last_name",
    "date_of_birth",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "phone",
    "email",
]
FULL: dict[str, Any] = {
    "first_name": "Rosalind",
    "last_name": "Quillfeather",
    "date_of_birth": dt.date(1966, 7, 25),
    "address_line1": "417 Juniper Hollow",
    "address_line2": "Apt 9",
    "city": "Kenosha",
    "state": "WI",
    "postal_code": "53140",
    "phone": "2625550147",
    "email": "rosalind.q@example.org",
}


def _raw(session: Session, patient_id: uuid.UUID) -> dict[str, Any]:
    id_value = patient_id.hex if session.get_bind().dialect.name == "sqlite" else patient_id
    row = session.execute(text("select * from patients where id = :id"), {"id": id_value})
    return dict(row.mappings().one())


def test_phi_is_sealed_at_rest_and_reads_back_plain(session: Session) -> None:
    practice = make_practice(session)
    p = make_patient(session, practice, **FULL)
    session.flush()
    raw = _raw(session, p.id)
    dump = json.dumps({k: str(v) for k, v in raw.items()})
    for column in PHI:
        assert str(raw[column]).startswith(f"e1:{KEY_A_ID}:"), column
    # (short values such as "WI" can occur by chance inside base64; their columns are checked
    # above and in the round trip below)
    for value in [*FULL.values(), "Quill", "rosalind", "555014"]:
        if len(str(value)) >= 5:
            assert str(value) not in dump
    assert raw["state"] != "WI"
    # unencrypted on purpose: ids, account number, sex
    assert raw["sex"] == "F"
    assert raw["account_number"] == "P0000001"
    for column in ("last_name_bidx", "name_dob_bidx", "dob_bidx"):
        assert str(raw[column]).startswith(f"{KEY_A_ID}:")

    session.expire_all()
    again = session.get_one(Patient, p.id)
    assert {k: getattr(again, k) for k in PHI} == FULL


def test_null_phi_stays_null(session: Session) -> None:
    p = make_patient(session, make_practice(session), email=None)
    session.flush()
    raw = _raw(session, p.id)
    assert [c for c in PHI if raw[c] is None] == [
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "phone",
        "email",
    ]


def test_value_copied_into_another_column_is_refused(session: Session) -> None:
    p = make_patient(session, make_practice(session))
    session.flush()
    session.execute(
        text("update patients set first_name = last_name where account_number = 'P0000001'")
    )
    session.expire_all()
    with pytest.raises(DecryptionError) as err:
        session.get_one(Patient, p.id)
    assert "patients.first_name: sealed value failed authentication" in str(err.value)
    assert "Casey" not in str(err.value)
    assert "Jordan" not in str(err.value)


def test_value_under_a_key_not_in_the_keyring_is_a_clear_error(session: Session) -> None:
    p = make_patient(session, make_practice(session))
    session.flush()
    session.expire_all()
    with kr.using(ONLY_B_KEYRING), pytest.raises(DecryptionError) as err:
        session.get_one(Patient, p.id)
    assert "sealed with key id 'test-a', which is not in the keyring" in str(err.value)


def test_update_reseals_changed_fields_and_refreshes_indexes(session: Session) -> None:
    p = make_patient(session, make_practice(session))
    session.flush()
    before = _raw(session, p.id)
    with kr.using(ROTATED_KEYRING):
        update_patient(session, SYSTEM, p.id, PatientUpdate(last_name="Castellanos"))
        session.flush()
    after = _raw(session, p.id)
    assert after["last_name"].startswith(f"e1:{KEY_B_ID}:")
    assert after["first_name"] == before["first_name"]  # untouched: still under A
    assert after["last_name_bidx"].startswith(f"{KEY_B_ID}:")
    assert after["last_name_bidx"] != before["last_name_bidx"]
    assert after["name_dob_bidx"].startswith(f"{KEY_B_ID}:")
    assert after["dob_bidx"].startswith(f"{KEY_B_ID}:")  # every index follows the active key


# rotation (real commits) -------------------------------------------------------------------------


def _populate(factory: sessionmaker[Session], n: int) -> list[uuid.UUID]:
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        ids = [make_patient(s, practice, **FULL).id] + [
            make_patient(s, practice, first_name=f"Pat{i}", last_name=f"Doe{i}").id
            for i in range(n - 1)
        ]
    return ids


def _plain(factory: sessionmaker[Session]) -> dict[uuid.UUID, dict[str, Any]]:
    with unit_of_work(factory) as s:
        return {
            p.id: {c: getattr(p, c) for c in [*PHI, "account_number"]}
            for p in s.query(Patient).all()
        }


def _raw_all(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with unit_of_work(factory) as s:
        return [dict(r) for r in s.execute(text("select * from patients")).mappings()]


def test_rotation_from_a_to_b(committed_db: tuple[str, Engine, sessionmaker[Session]]) -> None:
    factory = committed_db[2]
    _populate(factory, 5)  # 1 full record (10 values) + 4 with 4 values each
    before = _plain(factory)
    assert census(factory, Base.metadata) == {KEY_A_ID: 26}

    with kr.using(ROTATED_KEYRING):
        report = rotate(factory, ROTATED_KEYRING, Base.metadata, batch_size=2)
    assert (report.rows, report.values, report.indexes, report.remaining) == (5, 26, 15, 0)

    for row in _raw_all(factory):
        for column in PHI:
            assert row[column] is None or row[column].startswith(f"e1:{KEY_B_ID}:")
        for column in ("last_name_bidx", "name_dob_bidx", "dob_bidx"):
            assert row[column].startswith(f"{KEY_B_ID}:")
    assert census(factory, Base.metadata) == {KEY_B_ID: 26}
    with kr.using(ONLY_B_KEYRING):  # key A can now be retired
        assert _plain(factory) == before

    with kr.using(ROTATED_KEYRING):  # idempotent
        again = rotate(factory, ROTATED_KEYRING, Base.metadata, batch_size=2)
    assert (again.rows, again.values, again.indexes, again.remaining) == (0, 0, 0, 0)


def test_two_rotations_at_once_share_the_work(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    factory = committed_db[2]
    _populate(factory, 12)
    before = _plain(factory)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(rotate(factory, ROTATED_KEYRING, Base.metadata, batch_size=1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with kr.using(ROTATED_KEYRING):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    # every value re-encrypted exactly once between the two of them
    assert sum(r.values for r in reports) == 10 + 11 * 4
    assert sum(r.rows for r in reports) == 12
    assert [r.remaining for r in reports] == [0, 0]
    with kr.using(ONLY_B_KEYRING):
        assert _plain(factory) == before


# the CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", committed_db[0])
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    with kr.using(TEST_KEYRING):  # whatever the CLI installs is undone afterwards
        yield CliRunner()
        runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_cli_generate_rotate_status(
    cli: CliRunner,
    committed_db: tuple[str, Engine, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    factory = committed_db[2]
    _populate(factory, 3)

    r = cli.invoke(app, ["keys", "generate", "--key-id", "k-new"])
    assert r.exit_code == 0, r.output
    entry = json.loads(r.stdout.splitlines()[0])
    assert list(entry) == ["k-new"]
    assert kr.Keyring.from_encoded(entry, None).key_ids == ("k-new",)

    key_file = tmp_path / "keys.json"
    r = cli.invoke(app, ["keys", "generate", "--key-id", "k1", "--key-file", str(key_file)])
    assert (r.exit_code, r.stdout) == (0, f"added key k1 to {key_file}; active key: k1\n")
    r = cli.invoke(app, ["keys", "generate", "--key-id", "k2", "--key-file", str(key_file)])
    assert r.stdout == f"added key k2 to {key_file}; active key: k1\n"
    r = cli.invoke(app, ["keys", "generate", "--key-id", "k2", "--key-file", str(key_file)])
    assert r.exit_code == 1
    data = json.loads(key_file.read_text())
    assert (data["active_key_id"], sorted(data["keys"])) == ("k1", ["k1", "k2"])

    r = cli.invoke(app, ["keys", "status"])
    assert r.stdout == f"keyring: {KEY_A_ID}; active: {KEY_A_ID}\n{KEY_A_ID}: 18 value(s)\n"

    monkeypatch.setenv("REVCYCLE_ENCRYPTION_KEYS", json.dumps({KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}))
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID", KEY_B_ID)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    r = cli.invoke(app, ["keys", "rotate", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    empty = "0 row(s) rewritten, 0 value(s) re-encrypted, 0 blind index value(s) recomputed"
    assert r.stdout.splitlines() == [
        # every table with sealed columns, found from the models (nothing listed by hand)
        f"chsim_claims: {empty}",
        f"chsim_files: {empty}",
        f"claim_batches: {empty}",
        "patients: 3 row(s) rewritten, 18 value(s) re-encrypted, 9 blind index value(s) recomputed",
        f"coverages: {empty}",
        f"eligibility_checks: {empty}",
        f"appeals: {empty}",
        f"appeal_attachments: {empty}",
        f"appeal_events: {empty}",
        f"active key {KEY_B_ID}; 0 row(s) still to rotate",
    ]
    r = cli.invoke(app, ["keys", "rotate"])
    assert (
        "patients: 0 row(s) rewritten, 0 value(s) re-encrypted, 0 blind index value(s) "
        "recomputed" in r.stdout.splitlines()
    )
    r = cli.invoke(app, ["keys", "status"])
    assert r.stdout.splitlines()[1:] == [f"{KEY_B_ID}: 18 value(s)"]


def test_cli_rotate_reports_a_damaged_value(
    cli: CliRunner,
    committed_db: tuple[str, Engine, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factory = committed_db[2]
    _populate(factory, 1)
    with unit_of_work(factory) as s:
        s.execute(text("update patients set email = first_name"))
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_KEYS", json.dumps({KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}))
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID", KEY_B_ID)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    r = cli.invoke(app, ["keys", "rotate"])
    assert r.exit_code == 1
    assert "patients.email: sealed value failed authentication" in r.stderr
    assert "Rosalind" not in r.output
