"""The password policy (pure)."""

from __future__ import annotations

import pytest

from revcycle.auth import passwords
from revcycle.auth.passwords import WeakPassword


def test_the_shipped_list_is_djangos() -> None:
    common = passwords.common_passwords()
    assert len(common) == 19_640
    assert {"password", "123456", "qwertyuiop123", "password1234"} <= common


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("", "password.too_short"),
        ("a" * 11, "password.too_short"),
        ("a" * 129, "password.too_long"),
        ("qwertyuiop123", "password.common"),
        ("QwertyUiop123", "password.common"),  # case-folded
        ("  password1234  ", "password.common"),  # trimmed
        ("qwerty uiop 123", "password.common"),  # spaces removed
        ("dana.smith.example", "password.same_as_username"),
        ("DANA.SMITH.EXAMPLE", "password.same_as_username"),
        ("dana.smith.exampledana.smith.example", "password.same_as_username"),
    ],
)
def test_refusals_carry_a_stable_code_and_never_the_password(password: str, code: str) -> None:
    with pytest.raises(WeakPassword) as exc:
        passwords.check(password, username="dana.smith.example")
    assert (exc.value.code, exc.value.status) == (code, 400)
    if password.strip():
        assert password.strip() not in exc.value.message
        assert password.strip() not in str(exc.value.data)


@pytest.mark.parametrize(
    "password",
    [
        "a" * 12,
        "a" * 128,
        "correct horse battery staple",
        "dana.smith.example!",
        "ünïcödé pässwörd",
    ],
)
def test_acceptable_passwords(password: str) -> None:
    passwords.check(password, username="dana.smith.example")


def test_lengths_come_from_the_caller() -> None:
    passwords.check("abcdefgh-xyz", username="u", min_length=8, max_length=64)
    with pytest.raises(WeakPassword) as exc:
        passwords.check("abcdefgh-xyz", username="u", min_length=13)
    assert exc.value.data == {"min_length": 13}
