"""The fast 837P set writer against the general one (every element through
``TransactionWriter.add``, the way every set was written before): clean sets take the fast path,
sets whose data holds a glue character take the general one, and for generated free text (lower
case, accents, delimiters, line breaks, glue characters, empty values) under several delimiter
sets both give the same bytes, the same claim positions and the same errors."""

from __future__ import annotations

import dataclasses
import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revcycle.x12 import claim837_general as general
from revcycle.x12.claim837 import (
    _GLUE,
    VERSION,
    Address,
    Adjustment,
    Batch,
    Built837,
    ClaimLocation,
    Party,
    Provider,
    Receiver,
    Submitter,
    _delimiter_chars,
    _Sets,
    build_837p,
)
from revcycle.x12.claim837_check import check_batch
from revcycle.x12.core import Delimiters, X12Error
from revcycle.x12.writer import Envelope, InterchangeWriter
from tests.claims837.golden_batches import GOLDEN, bench_shaped, cob, dependants


def general_only(batch: Batch, envelope: Envelope) -> Built837:
    check_batch(batch)
    writer = InterchangeWriter(envelope, functional_id="HC", version=VERSION)
    locations: list[ClaimLocation] = []
    for t in batch.transactions:
        tx = writer.transaction("837", t.control_number)
        general.write_set(tx, batch, t, locations)
        writer.append(tx)
    return Built837(writer.render(), tuple(locations))


def fast_sets(batch: Batch, envelope: Envelope) -> list[bool]:
    """Per set: written by the fast writer (True) or left to the general one (False)."""
    d = envelope.delimiters
    if set(_GLUE) & _delimiter_chars(d):
        return [False] * len(batch.transactions)
    sets = _Sets(batch, check_batch(batch), d)
    return [sets.write(t, []) is not None for t in batch.transactions]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("dependants", [True]), ("cob", [True, True]), ("dirty", [True, False])],
)
def test_which_sets_the_fast_writer_takes(name: str, expected: list[bool]) -> None:
    batch, envelope = GOLDEN[name]()
    assert fast_sets(batch, envelope) == expected
    assert build_837p(batch, envelope) == general_only(batch, envelope)


def test_a_glue_character_as_delimiter_leaves_every_set_to_the_general_writer() -> None:
    batch, envelope = cob()
    envelope = dataclasses.replace(envelope, delimiters=Delimiters(element="\x1c", segment="\x1e"))
    assert fast_sets(batch, envelope) == [False, False]
    built = build_837p(batch, envelope)
    assert built == general_only(batch, envelope)
    assert built.text.split("\x1e")[3] == "BHT\x1c0019\x1c00\x1cBATCH0001\x1c20261127\x1c0930\x1cCH"


def test_the_benchmark_shape_is_written_by_the_fast_writer() -> None:
    batch, envelope = bench_shaped(12)
    assert fast_sets(batch, envelope) == [True]
    assert build_837p(batch, envelope) == general_only(batch, envelope)


ALPHABET = "aZ09 .-*:~^|>+'\\\r\néß"
DELIMITERS = [
    Delimiters(),
    Delimiters(element="|", component=">", repetition="+", segment="\n"),
    Delimiters(element="^", component="\\", repetition="~", segment="'"),
]


def _varied(texts: list[str], which: int) -> tuple[Batch, Envelope]:
    """The dependants or cob batch with free text replaced by ``texts``."""
    batch, envelope = (dependants, cob)[which % 2]()
    t = iter(texts)
    address = Address(next(t), next(t), next(t), next(t), line2=next(t) or None)
    groups = []
    for k, tx in enumerate(batch.transactions):
        new_groups = []
        for g in tx.groups:
            person = dataclasses.replace(
                g.subscriber.person, last_name=next(t), first_name=next(t), address=address
            )
            sub = dataclasses.replace(
                g.subscriber,
                person=person,
                member_id=next(t) or "M",
                group_number=next(t) or None,
                group_name=next(t) or None,
            )
            payer = dataclasses.replace(g.payer, name=next(t) or "P", address=address)
            claims = []
            for c in g.claims:
                lines = tuple(
                    dataclasses.replace(
                        ln,
                        description=ln.description and (next(t) or None),
                        rendering=ln.rendering
                        and Provider(next(t), next(t), ln.rendering.npi, ln.rendering.taxonomy),
                    )
                    for ln in c.lines
                )
                others = tuple(
                    dataclasses.replace(
                        o,
                        subscriber=Party(next(t), next(t) or None),
                        claim_number=next(t) or None,
                        adjustments=tuple(
                            Adjustment(a.group, next(t), a.amount_minor, a.quantity)
                            for a in o.adjustments
                        ),
                    )
                    for o in c.other_payers
                )
                claims.append(
                    dataclasses.replace(
                        c,
                        lines=lines,
                        other_payers=others,
                        prior_authorization=next(t) or None,
                        medical_record_number=next(t) or None,
                        assignment=next(t),
                    )
                )
            new_groups.append(
                dataclasses.replace(g, subscriber=sub, payer=payer, claims=tuple(claims))
            )
        groups.append(
            dataclasses.replace(tx, groups=tuple(new_groups), batch_reference=next(t) or f"B{k}")
        )
    batch = dataclasses.replace(
        batch,
        transactions=tuple(groups),
        receiver=Receiver(next(t) or "R", next(t) or "R"),
        submitter=Submitter(Party(next(t) or "S"), "SUB", next(t), "2175551234"),
    )
    return batch, dataclasses.replace(envelope, delimiters=DELIMITERS[which % 3])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.text(ALPHABET, max_size=5), min_size=120, max_size=120),
    which=st.integers(0, 5),
    glue=st.none() | st.tuples(st.integers(0, 119), st.sampled_from(_GLUE)),
)
def test_fast_and_general_writers_agree(
    texts: list[str], which: int, glue: tuple[int, str] | None
) -> None:
    if glue is not None:  # one value holding a glue character (usually: that set goes general)
        texts[glue[0]] += glue[1]
    batch, envelope = _varied(texts, which)
    try:
        expected: Built837 | tuple[str, str] = general_only(batch, envelope)
    except X12Error as exc:
        expected = (exc.code, exc.message)
    try:
        got: Built837 | tuple[str, str] = build_837p(batch, envelope)
    except X12Error as exc:
        got = (exc.code, exc.message)
    assert got == expected


def test_the_cycle_collector_is_left_as_it_was() -> None:
    batch, envelope = dependants()
    assert gc.isenabled()
    build_837p(batch, envelope)
    assert gc.isenabled()
    bad = dataclasses.replace(batch, transactions=())
    bad_envelope = dataclasses.replace(envelope, group_control_number=0)
    with pytest.raises(X12Error, match="GS06"):
        build_837p(bad, bad_envelope)
    assert gc.isenabled()
    gc.disable()
    try:
        build_837p(batch, envelope)
        assert not gc.isenabled()
    finally:
        gc.enable()
