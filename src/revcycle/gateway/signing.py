"""Stripe-style webhook signatures: header ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``f"{t}.{body}"``. Verification is constant-time and refuses stale timestamps."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Gateway-Signature"


class SignatureError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str | None, *, now: int, tolerance: int) -> int:
    """Return the signed timestamp, or raise SignatureError (codes: webhook.unsigned,
    webhook.bad_signature, webhook.stale)."""
    if not header:
        raise SignatureError("webhook.unsigned", "The request carries no signature")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and len(value) == 64:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("webhook.bad_signature", "The signature header is malformed")
    expected = _mac(secret, timestamp, body)
    # Compare with every v1 (secret rotation sends two); constant time each.
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("webhook.bad_signature", "The signature does not match")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook.stale", "The signature is outside the tolerance window")
    return timestamp
