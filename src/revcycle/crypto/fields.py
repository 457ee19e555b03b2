"""Sealed values (AES-256-GCM) and the SQLAlchemy column types that store them.

Stored format, version 1 (ASCII text, so it fits a TEXT column on every database)::

    e1:<key id>:<base64url without padding of (nonce[12] || ciphertext || tag[16])>

* ``e1``      format version 1 (AES-256-GCM, HKDF-derived data key, see keyring.py)
* key id      ``[A-Za-z0-9-]{1,32}``: which master key sealed it, readable without decrypting
* nonce       12 random bytes, fresh for every value (also for equal values: no equality leak)
* associated data (authenticated, not stored): ``revcycle|e1|<key id>|<context>`` where the
  context names the column (``patients.last_name``). A value copied into another column, or a
  key id edited in place, fails authentication.

Plaintext is UTF-8 (strings) or ISO 8601 ``YYYY-MM-DD`` (dates). Error messages name the column
and key id, never the value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidTag
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from revcycle.crypto.keyring import KEY_ID_RE, Keyring, KeyringError, installed

VERSION = "e1"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value that cannot be opened: tampered, moved, malformed or unknown key."""


def _ad(key_id: str, context: str) -> bytes:
    return f"revcycle|{VERSION}|{key_id}|{context}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(keyring: Keyring, context: str, plaintext: str) -> str:
    """Encrypt under the active key; ``context`` names the column (bound as associated data)."""
    key_id = keyring.active_key_id
    nonce = os.urandom(NONCE_BYTES)
    ct = keyring.aead(key_id).encrypt(nonce, plaintext.encode("utf-8"), _ad(key_id, context))
    return f"{VERSION}:{key_id}:{_b64(nonce + ct)}"


def key_id_of(token: str) -> str | None:
    """The key id of a sealed value without decrypting it; None if it is not a sealed value."""
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION or not KEY_ID_RE.match(parts[1]):
        return None
    return parts[1]


def is_sealed(token: str) -> bool:
    return key_id_of(token) is not None


def unseal(keyring: Keyring, context: str, token: str) -> str:
    key_id = key_id_of(token)
    if key_id is None:
        raise DecryptionError(f"{context}: stored value is not an {VERSION} sealed value")
    try:
        raw = _unb64(token.split(":", 2)[2])
    except (binascii.Error, ValueError):
        raise DecryptionError(f"{context}: sealed value is not valid base64url") from None
    if len(raw) < NONCE_BYTES + 16:
        raise DecryptionError(f"{context}: sealed value is truncated")
    try:
        aead = keyring.aead(key_id)
    except KeyringError:
        raise DecryptionError(
            f"{context}: sealed with key id {key_id!r}, which is not in the keyring"
        ) from None
    try:
        plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _ad(key_id, context))
    except InvalidTag:
        raise DecryptionError(
            f"{context}: sealed value failed authentication (tampered, or moved from another "
            f"column) under key id {key_id!r}"
        ) from None
    return plain.decode("utf-8")


# column types -------------------------------------------------------------------------------------


class _Encrypted(TypeDecorator[Any]):
    """Base of the encrypted column types: TEXT in the database, plain values in Python.

    ``context`` is the stable name bound into every value (``"patients.last_name"``): never derive
    it from an attribute name, and never change it for existing data. Encrypted columns cannot be
    compared in SQL (each value has a fresh nonce): search through a blind index instead.
    """

    impl = Text
    cache_ok = True
    kind = "str"

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    class comparator_factory(Text.Comparator[Any]):  # noqa: N801 - SQLAlchemy's hook name
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if getattr(op, "__name__", "") in {"is_", "is_not", "isnot"}:
                return super().operate(op, *other, **kwargs)
            raise TypeError(
                "an encrypted column cannot be compared or searched in SQL; use its blind index"
            )

        def reverse_operate(self, *_args: Any, **_kwargs: Any) -> Any:
            raise TypeError(
                "an encrypted column cannot be compared or searched in SQL; use its blind index"
            )

    def to_text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{self.context}: expected str")
        return value

    def from_text(self, text: str) -> Any:
        return text

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None:
            return None
        return seal(installed(), self.context, self.to_text(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:  # noqa: ARG002
        if value is None:
            return None
        return self.from_text(unseal(installed(), self.context, value))

    def copy(self, **kw: Any) -> _Encrypted:  # noqa: ARG002
        return type(self)(self.context)


class EncryptedString(_Encrypted):
    cache_ok = True
    kind = "str"


class EncryptedDate(_Encrypted):
    cache_ok = True
    kind = "date"

    def to_text(self, value: Any) -> str:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise TypeError(f"{self.context}: expected a date")
        return value.isoformat()

    def from_text(self, text: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise DecryptionError(f"{self.context}: decrypted value is not a date") from None


def plaintext_of(kind: str, value: Any) -> str:
    """The text a value of ``kind`` is sealed as (for migrations and rotation)."""
    if kind == "date":
        return EncryptedDate("-").to_text(value)
    return EncryptedString("-").to_text(value)


def is_encrypted_type(type_: Any) -> TypeGuard[_Encrypted]:
    return isinstance(type_, _Encrypted)
