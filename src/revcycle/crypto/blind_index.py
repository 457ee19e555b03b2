"""Blind indexes: deterministic keyed digests that let SQL find a value without decrypting it.

``digest = HMAC-SHA256(index key, normalised parts)[:16]``, stored as ``<key id>:<32 hex>``.

* Normalisation: Unicode NFKC, case folding, trimmed, inner whitespace runs collapsed to one
  space; dates as ``YYYY-MM-DD``. Parts are joined with U+001F (a character the input schemas
  refuse), so ``("ab", "c")`` and ``("a", "bc")`` differ.
* Each index has its own key (HKDF from the master key with the index name), so equal values in
  two indexes (a last name and a member id) do not produce equal digests.
* The stored key id lets a lookup work while keys rotate: :func:`candidates` gives the digest
  under every key in the keyring, and ``revcycle keys rotate`` recomputes stale ones.

Use it for a new field (issue #5 member ids) with :class:`BlindIndex` and :func:`maintain`::

    MEMBER_ID = BlindIndex("member_id_bidx", "coverages.member_id", ("member_id",))
    maintain(Coverage, MEMBER_ID)
    ...  repository: Coverage.member_id_bidx.in_(candidates(installed(), MEMBER_ID, value))

Leakage (docs/phi-encryption.md): anyone reading the table sees which rows share a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from revcycle.crypto.keyring import Keyring, installed

DIGEST_BYTES = 16
SEPARATOR = "\x1f"
_SPACES = re.compile(r"\s+")

Part = str | dt.date


def normalise(value: Part) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    text = unicodedata.normalize("NFKC", value)
    text = unicodedata.normalize("NFKC", text.casefold())
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class BlindIndex:
    column: str  # the column holding the digest, e.g. "last_name_bidx"
    name: str  # the stable index name the key is derived with, e.g. "patients.last_name"
    sources: tuple[str, ...]  # the attributes (plain values) it is computed from, in order


def compute(keyring: Keyring, index: BlindIndex, *parts: Part, key_id: str | None = None) -> str:
    """The digest of ``parts`` under ``key_id`` (default: the active key), as stored."""
    kid = key_id or keyring.active_key_id
    message = SEPARATOR.join(normalise(p) for p in parts).encode("utf-8")
    mac = hmac.new(keyring.index_key(kid, index.name), message, hashlib.sha256).digest()
    return f"{kid}:{mac[:DIGEST_BYTES].hex()}"


def candidates(keyring: Keyring, index: BlindIndex, *parts: Part) -> list[str]:
    """Every stored form ``parts`` can have while keys rotate: one digest per key id."""
    return [compute(keyring, index, *parts, key_id=k) for k in keyring.key_ids]


def key_id_of(digest: str) -> str:
    return digest.split(":", 1)[0]


def values_for(keyring: Keyring, indexes: Sequence[BlindIndex], row: Any) -> dict[str, str | None]:
    """Digest per index column for an object or mapping holding the plain source values."""
    out: dict[str, str | None] = {}
    for idx in indexes:
        parts = [row[s] if isinstance(row, dict) else getattr(row, s) for s in idx.sources]
        out[idx.column] = None if any(p is None for p in parts) else compute(keyring, idx, *parts)
    return out


# ORM maintenance ----------------------------------------------------------------------------------

# table name -> the blind indexes kept on it (read by `revcycle keys rotate`).
REGISTRY: dict[str, tuple[BlindIndex, ...]] = {}


def maintain(model: Any, *indexes: BlindIndex) -> None:
    """Keep ``indexes`` up to date on every ORM insert and update of ``model``."""
    REGISTRY[model.__tablename__] = tuple(indexes)

    def _refresh(_mapper: Any, _connection: Any, target: Any) -> None:
        for column, value in values_for(installed(), indexes, target).items():
            if getattr(target, column) != value:
                setattr(target, column, value)

    event.listen(model, "before_insert", _refresh)
    event.listen(model, "before_update", _refresh)
