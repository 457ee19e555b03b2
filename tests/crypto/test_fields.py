"""Sealed values and keyring loading, without a database."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from revcycle.config import Settings
from revcycle.crypto import keyring as kr
from revcycle.crypto.fields import (
    DecryptionError,
    EncryptedDate,
    EncryptedString,
    key_id_of,
    seal,
    unseal,
)
from revcycle.crypto.keyring import Keyring, KeyringError, load_keyring
from revcycle.patients.models import Patient
from tests.factories.crypto import (
    KEY_A,
    KEY_A_ID,
    KEY_B,
    KEY_B_ID,
    ONLY_B_KEYRING,
    ROTATED_KEYRING,
    TEST_KEYRING,
)

CTX = "patients.last_name"


def test_round_trip_and_format() -> None:
    token = seal(TEST_KEYRING, CTX, "Müller-Øster 李")
    version, kid, body = token.split(":")
    assert (version, kid) == ("e1", KEY_A_ID)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    # 12-byte nonce + UTF-8 plaintext + 16-byte tag
    assert len(raw) == 12 + len("Müller-Øster 李".encode()) + 16
    assert "Müller" not in token
    assert key_id_of(token) == KEY_A_ID
    assert unseal(TEST_KEYRING, CTX, token) == "Müller-Øster 李"


def test_equal_values_seal_differently() -> None:
    a, b = seal(TEST_KEYRING, CTX, "Casey"), seal(TEST_KEYRING, CTX, "Casey")
    assert a != b
    assert unseal(TEST_KEYRING, CTX, a) == unseal(TEST_KEYRING, CTX, b) == "Casey"


def test_value_moved_to_another_column_is_refused() -> None:
    token = seal(TEST_KEYRING, "patients.first_name", "Jordan")
    with pytest.raises(DecryptionError) as err:
        unseal(TEST_KEYRING, "patients.last_name", token)
    assert str(err.value) == (
        "patients.last_name: sealed value failed authentication (tampered, or moved from "
        "another column) under key id 'test-a'"
    )


@pytest.mark.parametrize("position", [3, 20, -1])
def test_tampered_ciphertext_is_refused(position: int) -> None:
    token = seal(TEST_KEYRING, CTX, "Casey")
    prefix = f"e1:{KEY_A_ID}:"
    raw = bytearray(base64.urlsafe_b64decode(token[len(prefix) :] + "=="))
    raw[position] ^= 0x01
    forged = prefix + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(DecryptionError, match="failed authentication") as err:
        unseal(TEST_KEYRING, CTX, forged)
    assert "Casey" not in str(err.value)


def test_key_id_edited_in_place_is_refused() -> None:
    token = seal(ROTATED_KEYRING, CTX, "Casey")  # sealed under B
    forged = token.replace(f"e1:{KEY_B_ID}:", f"e1:{KEY_A_ID}:")
    with pytest.raises(DecryptionError, match="failed authentication"):
        unseal(ROTATED_KEYRING, CTX, forged)


def test_unknown_key_id_is_a_clear_error() -> None:
    token = seal(TEST_KEYRING, CTX, "Casey")
    with pytest.raises(DecryptionError) as err:
        unseal(ONLY_B_KEYRING, CTX, token)
    assert str(err.value) == (
        "patients.last_name: sealed with key id 'test-a', which is not in the keyring"
    )


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("Casey", "patients.last_name: stored value is not an e1 sealed value"),
        ("e1:test-a:", "patients.last_name: sealed value is truncated"),
        ("e1:test-a:!!!!", "patients.last_name: sealed value is not valid base64url"),
        ("e2:test-a:AAAA", "patients.last_name: stored value is not an e1 sealed value"),
    ],
)
def test_malformed_values(stored: str, message: str) -> None:
    with pytest.raises(DecryptionError) as err:
        unseal(TEST_KEYRING, CTX, stored)
    assert str(err.value) == message


def test_column_types_convert_plain_values() -> None:
    dob = EncryptedDate("patients.date_of_birth")
    token = dob.process_bind_param(dt.date(1980, 5, 17), None)  # type: ignore[arg-type]
    assert token is not None
    assert token.startswith("e1:test-a:")
    assert dob.process_result_value(token, None) == dt.date(1980, 5, 17)  # type: ignore[arg-type]
    name = EncryptedString("patients.first_name")
    assert name.process_bind_param(None, None) is None  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        name.process_bind_param(123, None)  # type: ignore[arg-type]


def test_encrypted_columns_refuse_sql_comparison() -> None:
    with pytest.raises(TypeError, match="use its blind index"):
        select(Patient).where(Patient.last_name == "Casey")
    with pytest.raises(TypeError, match="use its blind index"):
        select(Patient).where(Patient.last_name.like("Ca%"))
    # NULL tests stay possible
    assert "IS NULL" in str(select(Patient.id).where(Patient.email.is_(None)))


# keyring loading ---------------------------------------------------------------------------------


def test_keyring_repr_and_errors_never_show_key_material() -> None:
    assert repr(ROTATED_KEYRING) == (
        "Keyring(key_ids=('test-a', 'test-b'), active_key_id='test-b')"
    )
    with pytest.raises(KeyringError) as err:
        Keyring.from_encoded({"k1": "c2hvcnQ="}, None)
    assert str(err.value) == "key 'k1' must be 32 bytes (base64 of 32 random bytes)"
    with pytest.raises(KeyringError, match="set REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID"):
        Keyring.from_encoded({KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}, None)
    with pytest.raises(KeyringError, match="must match"):
        Keyring.from_encoded({"bad:id": KEY_A}, None)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_KEYS", json.dumps({KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}))
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID", KEY_B_ID)
    ring = load_keyring(Settings())
    assert (ring.key_ids, ring.active_key_id) == ((KEY_A_ID, KEY_B_ID), KEY_B_ID)
    token = seal(ROTATED_KEYRING, CTX, "Casey")
    assert unseal(ring, CTX, token) == "Casey"
    assert KEY_A not in repr(Settings())


def test_settings_refuse_an_unknown_active_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID", "nope")
    with pytest.raises(ValueError, match="names no configured key") as err:
        Settings()
    assert KEY_A not in str(err.value)


def test_production_refuses_to_start_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_KEYS")
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID")
    with pytest.raises(ValueError, match="PHI encryption keys are required in production"):
        Settings(environment="production", auth_secret_key="p" * 40)


def test_test_environment_without_keys_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_KEYS")
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID")
    with pytest.raises(KeyringError, match="no PHI encryption keys configured"):
        load_keyring(Settings(environment="test"))


def test_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_KEYS")
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID")
    path = tmp_path / "keys.json"
    kr.write_key_file(path, {KEY_A_ID: KEY_A, KEY_B_ID: KEY_B}, KEY_B_ID)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    prod = Settings(
        environment="production",
        key_file=path,
        auth_secret_key="p" * 40,
        gateway_webhook_secret="whsec_" + "p" * 40,
    )
    ring = load_keyring(prod)
    assert (ring.key_ids, ring.active_key_id) == ((KEY_A_ID, KEY_B_ID), KEY_B_ID)
    path.write_text("{not json")
    with pytest.raises(KeyringError, match="is not readable JSON"):
        load_keyring(Settings(environment="test", key_file=path))
    with pytest.raises(KeyringError, match="does not exist"):
        load_keyring(Settings(environment="test", key_file=tmp_path / "missing.json"))


def test_development_generates_a_key_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_KEYS")
    monkeypatch.delenv("REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING", logger="revcycle.crypto"):
        first = load_keyring(Settings(environment="development"))
    path = tmp_path / "var" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [r.getMessage() for r in caplog.records] == [
        "No PHI encryption key configured: generated a development key in var/keys.json "
        "(mode 0600). Keep it with the database; production refuses to start without "
        "configured keys."
    ]
    data = json.loads(path.read_text())
    assert list(data["keys"]) == [data["active_key_id"]] == [first.active_key_id]
    caplog.clear()
    second = load_keyring(Settings(environment="development"))  # reused, not regenerated
    assert second.active_key_id == first.active_key_id
    assert caplog.records == []
    token = seal(first, CTX, "Casey")
    assert unseal(second, CTX, token) == "Casey"
