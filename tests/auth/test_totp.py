"""RFC 6238 TOTP (pure) and the sealed secret."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.exceptions import InvalidTag

from revcycle.auth import keys, totp
from revcycle.config import Settings

RFC_SECRET = b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix", "expected"),
    # RFC 6238 appendix B (SHA-1), last six of the eight digits
    [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924")],
)
def test_rfc6238_vectors(unix: int, expected: str) -> None:
    when = dt.datetime.fromtimestamp(unix, dt.UTC)
    assert totp.code_at(RFC_SECRET, totp.step_at(when)) == expected
    assert totp.matching_step(RFC_SECRET, expected, when) == totp.step_at(when)


def test_drift_window_is_one_step_either_side() -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, 15, tzinfo=dt.UTC)
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now) == (
            step + offset
        )
    for offset in (-2, 2):
        assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5x"])
def test_malformed_codes_never_match(bad: str) -> None:
    assert totp.matching_step(RFC_SECRET, bad, dt.datetime.now(dt.UTC)) is None


def test_provisioning_uri_and_qr() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, account="dana@example.org", issuer="revcycle")
    assert uri == (
        "otpauth://totp/revcycle:dana@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=revcycle&algorithm=SHA1&digits=6&period=30"
    )
    assert totp.qr_svg_data_uri(uri).startswith("data:image/svg+xml")
    assert len(totp.new_secret()) == 20


def test_sealed_secret_is_bound_to_its_row() -> None:
    settings = Settings(environment="test")
    blob = keys.seal(settings, RFC_SECRET, aad="users.totp_secret:a")
    assert RFC_SECRET not in blob
    assert keys.unseal(settings, blob, aad="users.totp_secret:a") == RFC_SECRET
    with pytest.raises(InvalidTag):
        keys.unseal(settings, blob, aad="users.totp_secret:b")
    other = Settings(environment="test", auth_secret_key="another-secret-of-at-least-32-chars!")
    with pytest.raises(InvalidTag):
        keys.unseal(other, blob, aad="users.totp_secret:a")


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValueError, match="AUTH_SECRET_KEY"):
        Settings(environment="production", encryption_keys={"k": "x" * 44})
