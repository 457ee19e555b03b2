"""Key material for identity: sub-keys derived from ``Settings.auth_secret_key`` with HKDF-SHA256
(one purpose, one key), and the one function pair that seals small secrets (TOTP seeds) with
AES-256-GCM.

``seal``/``unseal`` are the only place TOTP secrets are encrypted: they can be switched to the PHI
key ring (``revcycle.crypto``) without touching their callers. The blob is
``b"v1" + nonce(12) + ciphertext+tag``; the associated data binds it to its row and column, so a
sealed value copied onto another user does not open.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from revcycle.config import Settings

_VERSION = b"v1"


@functools.lru_cache(maxsize=32)
def _derive(secret: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"revcycle-identity", info=purpose.encode()
    ).derive(secret.encode())


def subkey(settings: Settings, purpose: str) -> bytes:
    return _derive(settings.auth_secret_key.get_secret_value(), purpose)


def mac(settings: Settings, purpose: str, message: str) -> str:
    """HMAC-SHA256 under the purpose's sub-key, hex."""
    return hmac.new(subkey(settings, purpose), message.encode(), hashlib.sha256).hexdigest()


def seal(settings: Settings, plaintext: bytes, *, aad: str) -> bytes:
    nonce = os.urandom(12)
    sealed = AESGCM(subkey(settings, "totp-secret")).encrypt(nonce, plaintext, aad.encode())
    return _VERSION + nonce + sealed


def unseal(settings: Settings, blob: bytes, *, aad: str) -> bytes:
    """Raises ``cryptography.exceptions.InvalidTag`` when the blob was altered or moved."""
    if blob[:2] != _VERSION:
        raise ValueError("unknown sealed-secret version")
    return AESGCM(subkey(settings, "totp-secret")).decrypt(blob[2:14], blob[14:], aad.encode())
