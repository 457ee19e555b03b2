"""837P output pinned byte for byte: the batches of golden_batches.py against the text stored in
golden/ (written by the builder before its speed-up), the benchmark's batch against the digest
of that builder's output, and every invalid batch of bad_batches.py against the exact error it
raised. The stored files keep one segment per line: a newline follows each terminator unless the
terminator is itself a newline."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from revcycle.x12.claim837 import Batch, ClaimBuildError, build_837p
from revcycle.x12.core import X12Error, read_transactions
from revcycle.x12.writer import Envelope
from tests.claims837.bad_batches import BAD, EXPECTED
from tests.claims837.golden_batches import GOLDEN, bench_shaped

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_output_is_byte_identical_to_the_stored_text(name: str) -> None:
    batch, envelope = GOLDEN[name]()
    built = build_837p(batch, envelope)
    term = envelope.delimiters.segment
    stored = (GOLDEN_DIR / f"{name}.x12").read_bytes().decode("utf-8")
    expected = stored if term == "\n" else stored.replace(term + "\n", term)
    assert built.text == expected
    claims = [
        f"{c.claim_id} {c.set_control_number} {c.first_segment} {c.last_segment}"
        for c in built.claims
    ]
    assert claims == (GOLDEN_DIR / f"{name}.claims").read_text().splitlines()
    assert read_transactions(built.text).errors == []


def test_the_benchmark_batch_is_byte_identical() -> None:
    # 10,001 claims in three sets (5,000 per set), digests of the builder's output before.
    built = build_837p(*bench_shaped(10_001))
    assert len(built.text) == 3_966_047
    assert (
        hashlib.sha256(built.text.encode()).hexdigest()
        == "1e8c3a7b12ebaab9f1ce693eb2c36879fa839c4d9f946b6d3ea9983d3f4a039d"
    )
    assert (
        hashlib.sha256(repr(built.claims).encode()).hexdigest()
        == "356ee01742139c04e0c33a2975911ebd63af430f01f9cf1243f4eac56a81a60d"
    )


@pytest.mark.parametrize(("name", "make", "envelope"), BAD, ids=[b[0] for b in BAD])
def test_invalid_batches_raise_the_same_error(
    name: str, make: Callable[[], Batch], envelope: Envelope
) -> None:
    code, claim_id, field_name, message = EXPECTED[name]
    with pytest.raises(X12Error) as exc:
        build_837p(make(), envelope)
    err = exc.value
    assert (err.code, err.message) == (code, message)
    if code == "claim837.invalid":
        assert isinstance(err, ClaimBuildError)
        assert (err.claim_id, err.field_name) == (claim_id, field_name)
    else:
        assert not isinstance(err, ClaimBuildError)


def test_every_invalid_batch_has_its_expected_error() -> None:
    assert sorted(b[0] for b in BAD) == sorted(EXPECTED)
