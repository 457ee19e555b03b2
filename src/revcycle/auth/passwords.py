"""Password policy (ASVS 5.0 V6.2): a length range, no composition rules, refusal of common and
breached passwords from a shipped list, no password equal to (or made of) the user name, and no
control characters (they cannot be typed into the sign-in form, and NUL truncates in C libraries).

Errors carry a stable code and never the password itself.
"""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources

from revcycle.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WeakPassword(InvalidInput):
    code = "password.weak"
    title = "Password refused"


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    data = resources.files("revcycle.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(
        line.strip() for line in gzip.decompress(data).decode("utf-8").splitlines() if line
    )


def check(password: str, *, username: str, min_length: int = 12, max_length: int = 128) -> None:
    """Raise WeakPassword (400) with one of the ``password.*`` codes, or return."""
    length = len(password)
    if length < min_length:
        raise WeakPassword(
            f"The password must be at least {min_length} characters long",
            code="password.too_short",
            min_length=min_length,
        )
    if length > max_length:
        raise WeakPassword(
            f"The password must be at most {max_length} characters long",
            code="password.too_long",
            max_length=max_length,
        )
    if _CONTROL.search(password):
        raise WeakPassword(
            "The password must not contain control characters",
            code="password.control_characters",
        )
    folded = password.strip().casefold()
    name = username.strip().casefold()
    if name and (folded == name or folded.replace(name, "") == ""):
        raise WeakPassword(
            "The password must not be the user name", code="password.same_as_username"
        )
    if folded in common_passwords() or "".join(folded.split()) in common_passwords():
        raise WeakPassword(
            "That password is too common (it appears in lists of breached passwords); "
            "choose another",
            code="password.common",
        )
