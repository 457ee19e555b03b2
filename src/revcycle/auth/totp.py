"""RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps: what authenticator apps implement), pure.

Verification accepts the current step and one either side (clock drift) and returns the matched
step, so the caller can refuse a code whose step is not newer than the last one accepted (replay).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import os
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

DIGITS = 6
PERIOD = 30
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def step_at(when: dt.datetime) -> int:
    return int(when.timestamp()) // PERIOD


def code_at(secret: bytes, step: int) -> str:
    # SHA-1 is what RFC 6238 apps implement; HMAC-SHA-1 is not affected by SHA-1 collisions.
    hotp = HOTP(secret, DIGITS, SHA1(), enforce_key_length=False)  # noqa: S303
    return hotp.generate(step).decode()


def matching_step(secret: bytes, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` belongs to (within the drift window), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant work whichever one matches).
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}", safe="@:")
    params = urlencode(
        {
            "secret": base64.b32encode(secret).decode().rstrip("="),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        }
    )
    return f"otpauth://totp/{label}?{params}"


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth URI as a QR code (an SVG ``data:`` URI for an ``<img>``)."""
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=4))
