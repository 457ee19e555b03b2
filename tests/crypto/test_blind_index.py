"""Blind index digests: normalisation, key separation, candidates while keys rotate."""

from __future__ import annotations

import datetime as dt

import pytest

from revcycle.crypto.blind_index import BlindIndex, candidates, compute, normalise
from tests.factories.crypto import KEY_A_ID, KEY_B_ID, ROTATED_KEYRING, TEST_KEYRING

LAST = BlindIndex("last_name_bidx", "patients.last_name", ("last_name",))
OTHER = BlindIndex("member_id_bidx", "coverages.member_id", ("member_id",))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Casey ", "casey"),
        ("CASEY", "casey"),
        ("Straße", "strasse"),
        ("ｃａｓｅｙ", "casey"),  # fullwidth (NFKC)
        ("Mary   Ann", "mary ann"),
        ("Ångström", "ångström"),
        (dt.date(1980, 5, 17), "1980-05-17"),
    ],
)
def test_normalise(raw: str | dt.date, expected: str) -> None:
    assert normalise(raw) == expected


def test_digest_is_deterministic_normalised_and_formatted() -> None:
    d = compute(TEST_KEYRING, LAST, "Casey")
    assert d.startswith(f"{KEY_A_ID}:")
    assert len(d.split(":")[1]) == 32
    assert compute(TEST_KEYRING, LAST, " CASEY ") == d
    assert compute(TEST_KEYRING, LAST, "Casey-") != d
    assert compute(TEST_KEYRING, LAST, "Case") != d


def test_parts_are_separated() -> None:
    two = BlindIndex("x", "t.x", ("a", "b"))
    assert compute(TEST_KEYRING, two, "ab", "c") != compute(TEST_KEYRING, two, "a", "bc")


def test_each_index_and_each_key_has_its_own_digest() -> None:
    assert (
        compute(TEST_KEYRING, LAST, "Casey").split(":")[1]
        != (compute(TEST_KEYRING, OTHER, "Casey").split(":")[1])
    )
    a = compute(ROTATED_KEYRING, LAST, "Casey", key_id=KEY_A_ID)
    b = compute(ROTATED_KEYRING, LAST, "Casey")
    assert a == compute(TEST_KEYRING, LAST, "Casey")
    assert b.startswith(f"{KEY_B_ID}:")
    assert candidates(ROTATED_KEYRING, LAST, "casey") == [a, b]
