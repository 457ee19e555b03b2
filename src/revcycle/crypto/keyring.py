"""The PHI keyring: master keys by key id, one of them active, and the keys derived from them.

Each configured master key (32 random bytes) is a key-encryption root that is never used directly:
HKDF-SHA256 derives from it an AES-256-GCM data key and one HMAC key per blind index. Values are
stored with the id of the key that sealed them, so several keys live side by side while
``revcycle keys rotate`` moves everything to the active one. See docs/phi-encryption.md.

Where keys come from (first match wins):

1. ``REVCYCLE_ENCRYPTION_KEYS`` (JSON object key id -> base64 of 32 bytes) with
   ``REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID`` (optional with a single key);
2. ``REVCYCLE_KEY_FILE``: a JSON file ``{"active_key_id": "...", "keys": {"id": "base64"}}``;
3. in ``environment=development`` only: ``./var/keys.json``, generated (mode 0600) on first use,
   with a warning saying so. Other environments refuse to run without keys.

The process-wide keyring is installed once by the adapters (``create_app``, the CLI, migrations);
the SQLAlchemy column types read it from here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from revcycle.kit import clock

if TYPE_CHECKING:
    from revcycle.config import Settings

log = logging.getLogger("revcycle.crypto")

KEY_BYTES = 32
# Key ids appear in stored values and in SQL LIKE patterns: no separators, no LIKE wildcards.
KEY_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
DEV_KEY_FILE = Path("var") / "keys.json"
_HKDF_SALT = b"revcycle-phi-v1"


class KeyringError(Exception):
    """Keys missing, malformed or unknown. Messages name key ids and settings, never key bytes."""


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_HKDF_SALT, info=info).derive(
        master
    )


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"key {key_id!r} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return raw


class Keyring:
    """Immutable set of master keys; derived keys are computed once and cached."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise KeyringError("the keyring has no keys")
        for key_id, raw in keys.items():
            if not KEY_ID_RE.match(key_id):
                raise KeyringError(f"key id {key_id!r} must match {KEY_ID_RE.pattern}")
            if len(raw) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes")
        if active_key_id not in keys:
            raise KeyringError(f"the active key id {active_key_id!r} is not in the keyring")
        self.active_key_id = active_key_id
        self.key_ids: tuple[str, ...] = tuple(sorted(keys))
        self._aead = {k: AESGCM(_derive(v, b"revcycle/v1/aead")) for k, v in keys.items()}
        self._masters = dict(keys)
        self._index_keys: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(key_ids={self.key_ids!r}, active_key_id={self.active_key_id!r})"

    def aead(self, key_id: str) -> AESGCM:
        try:
            return self._aead[key_id]
        except KeyError:
            raise KeyringError(f"unknown key id {key_id!r}: it is not in the keyring") from None

    def index_key(self, key_id: str, index_name: str) -> bytes:
        """The HMAC key of one blind index under one key id (independent per index)."""
        cache_key = (key_id, index_name)
        found = self._index_keys.get(cache_key)
        if found is None:
            if key_id not in self._masters:
                raise KeyringError(f"unknown key id {key_id!r}: it is not in the keyring")
            found = _derive(
                self._masters[key_id], b"revcycle/v1/blind-index/" + index_name.encode()
            )
            self._index_keys[cache_key] = found
        return found

    # construction -----------------------------------------------------------------------------

    @classmethod
    def from_encoded(cls, keys: Mapping[str, str], active_key_id: str | None) -> Keyring:
        if active_key_id is None:
            if len(keys) != 1:
                raise KeyringError(
                    "several keys are configured: set REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID"
                )
            active_key_id = next(iter(keys))
        return cls({k: _decode_key(k, v) for k, v in keys.items()}, active_key_id)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyringError(f"key file {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise KeyringError(
                f"key file {path} is not readable JSON ({type(exc).__name__})"
            ) from None
        keys = data.get("keys") if isinstance(data, dict) else None
        active = data.get("active_key_id") if isinstance(data, dict) else None
        if not isinstance(keys, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
        ):
            raise KeyringError(f'key file {path} needs {{"keys": {{"<id>": "<base64>"}}}}')
        if active is not None and not isinstance(active, str):
            raise KeyringError(f"key file {path}: active_key_id must be a string")
        return cls.from_encoded(keys, active)


def new_key_id(today: dt.date | None = None) -> str:
    day = (today or clock.today()).strftime("%Y%m%d")
    return f"k{day}-{secrets.token_hex(2)}"


def new_key() -> str:
    """Base64 of 32 random bytes from the OS CSPRNG."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def write_key_file(path: Path, keys: Mapping[str, str], active_key_id: str) -> None:
    """Write (replace) a key file readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"active_key_id": active_key_id, "keys": dict(keys)}, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _create_dev_key_file(path: Path) -> bool:
    """Create the development key file unless it exists (O_EXCL: safe with several workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = new_key_id()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"active_key_id": key_id, "keys": {key_id: new_key()}}, fh, indent=2)
        fh.write("\n")
    return True


def load_keyring(settings: Settings) -> Keyring:
    """The keyring the settings describe (see the module docstring for the order)."""
    if settings.encryption_keys:
        return Keyring.from_encoded(
            {k: v.get_secret_value() for k, v in settings.encryption_keys.items()},
            settings.encryption_active_key_id,
        )
    if settings.key_file is not None:
        return Keyring.from_file(settings.key_file)
    if settings.environment == "development":
        path = DEV_KEY_FILE
        if _create_dev_key_file(path):
            log.warning(
                "No PHI encryption key configured: generated a development key in %s (mode 0600). "
                "Keep it with the database; production refuses to start without configured keys.",
                path,
            )
        return Keyring.from_file(path)
    raise KeyringError(
        "no PHI encryption keys configured: set REVCYCLE_ENCRYPTION_KEYS or REVCYCLE_KEY_FILE"
    )


# the process-wide keyring ------------------------------------------------------------------------

_installed: Keyring | None = None


def install(keyring: Keyring) -> None:
    global _installed
    _installed = keyring


def installed() -> Keyring:
    if _installed is None:
        raise KeyringError(
            "no PHI keyring installed in this process (create_app() and the CLI install one)"
        )
    return _installed


def installed_or_none() -> Keyring | None:
    return _installed


@contextmanager
def using(keyring: Keyring) -> Iterator[Keyring]:
    """Temporarily install another keyring (tests, rotation tooling)."""
    global _installed
    before = _installed
    _installed = keyring
    try:
        yield keyring
    finally:
        _installed = before
