"""837P reader: round trip of build_837p output (every field the payer side uses), the corpus
837P samples, errors naming segment and position, and hypothesis fuzz (only X12Error)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revcycle.x12.claim837_reader import CasAdjustment, iter_837, read_837
from revcycle.x12.core import X12Error
from tests.x12.claim_samples import DOS, sample_837
from tests.x12.helpers import corpus_file

TEXT = sample_837()


def test_round_trip_of_the_builder() -> None:
    sets = read_837(TEXT)
    assert [(s.control_number, s.batch_reference, s.implementation) for s in sets] == [
        ("0001", "BATCH0001", "005010X222A1"),
        ("0002", "BATCH0002", "005010X222A1"),
    ]
    first = sets[0]
    assert (first.submitter_id, first.submitter_name) == ("REVCYCLE", "RIVERSIDE FAMILY CLINIC")
    assert (first.receiver_id, first.group_control_number) == ("CLEARHOUSE", "7")
    visit, replacement = first.claims
    assert (visit.claim_id, visit.charge_minor, visit.place_of_service, visit.frequency) == (
        "INV-1001",
        20000,
        "11",
        "1",
    )
    assert (visit.first_segment, visit.last_segment) == (19, 29)
    assert (visit.billing_provider_npi, visit.payer_id, visit.member_id) == (
        "1234567893",
        "ACME01",
        "W123456789",
    )
    assert visit.subscriber.birth_date == dt.date(1980, 4, 2)
    assert visit.prior_authorization == "AUTH-77"
    assert visit.group_number == "G-55"
    assert visit.diagnoses == [("ABK", "E1165"), ("ABF", "I10")]
    assert [
        (
            ln.procedure,
            ln.modifiers,
            ln.charge_minor,
            ln.units,
            ln.diagnosis_pointers,
            ln.service_date,
            ln.line_control_number,
        )
        for ln in visit.lines
    ] == [
        ("99214", ["25"], 15000, Decimal(1), [1, 2], DOS, "L1"),
        ("83036", [], 5000, Decimal(1), [1], DOS, "L2"),
    ]
    assert visit.patient is None
    assert (replacement.frequency, replacement.original_claim_number) == ("7", "ICN-0099")
    assert replacement.patient is not None
    assert replacement.patient.first_name == "SAM"
    assert replacement.patient_relationship == "19"
    assert (replacement.rendering_npi, replacement.referring_npi) == ("1679576722", "1245319599")
    drug = replacement.lines[1]
    assert (drug.ndc, drug.units, drug.service_date_to) == (
        "00409734501",
        Decimal(2),
        dt.date(2026, 11, 21),
    )
    (secondary,) = sets[1].claims
    assert (secondary.responsibility, secondary.payer_id, secondary.member_id) == (
        "S",
        "SEC02",
        "S-445",
    )
    (other,) = secondary.other_payers
    assert (other.payer_id, other.member_id, other.paid_minor, other.claim_number) == (
        "ACME01",
        "W123456789",
        10000,
        "ICN-0001",
    )
    assert other.remaining_patient_liability_minor == 5000
    svd = secondary.lines[0].prior_payments[0]
    assert (svd.payer_id, svd.paid_minor, svd.procedure, svd.modifiers) == (
        "ACME01",
        8000,
        "99214",
        ["25"],
    )
    assert svd.adjustments == [CasAdjustment("CO", "45", 3000), CasAdjustment("PR", "1", 4000)]
    assert svd.adjudicated_on == dt.date(2026, 11, 25)


def test_streaming_gives_the_same_sets() -> None:
    assert [s.control_number for s in iter_837(TEXT.encode(), chunk_size=13)] == ["0001", "0002"]


@pytest.mark.parametrize(
    ("name", "claim_id", "charge", "lines", "payer"),
    [
        ("demo.example1.837", "26463774", 10000, 4, "999996666"),
        ("demo.cob.example3.B.837", "26407789", 7904, 3, "567890"),
        ("demo.drug.example10.2.837", "CLMNO12345", 223293, 6, "PLANID12345"),
    ],
)
def test_corpus_837p(name: str, claim_id: str, charge: int, lines: int, payer: str) -> None:
    (tx,) = read_837(corpus_file(name).read_bytes())
    (claim,) = tx.claims
    assert (claim.claim_id, claim.charge_minor, len(claim.lines), claim.payer_id) == (
        claim_id,
        charge,
        lines,
        payer,
    )
    assert claim.lines_total_minor == charge


@pytest.mark.parametrize(
    ("old", "new", "code", "segment"),
    [
        ("SV1*HC:83036*50", "SV1*HC:83036*5.001", "x12.bad_amount", "SV1"),
        ("CLM*INV-1001*200***11:B:1", "CLM*INV-1001*200***11", "x12.bad_composite", "CLM"),
        ("SV1*HC:83036*50*UN*1***1", "SV1*HC:83036*50*UN*X***1", "x12.bad_number", "SV1"),
        ("SV1*HC:83036*50*UN*1***1", "SV1*HC:83036*50*UN*1***13", "x12.bad_number", "SV1"),
        # an exponent beyond the decimal context: refused, not a decimal.Overflow crash
        ("SV1*HC:83036*50*UN*1***1", "SV1*HC:83036*50*UN*1E1000000***1", "x12.bad_number", "SV1"),
        ("HL*1**20*1", "HL*1**99*1", "x12.bad_code", "HL"),
        ("DTP*472*D8*20261120~REF*6R*L2", "DTP*472*D8*20261320~REF*6R*L2", "x12.bad_date", "DTP"),
    ],
)
def test_errors_name_segment_and_position(old: str, new: str, code: str, segment: str) -> None:
    assert old in TEXT
    with pytest.raises(X12Error) as exc:
        read_837(TEXT.replace(old, new, 1))
    assert exc.value.code == code
    assert exc.value.segment_id == segment
    assert exc.value.position is not None
    assert exc.value.position > 2


def test_missing_sv1_and_wrong_set() -> None:
    broken = TEXT.replace("SV1*HC:83036*50*UN*1***1~", "NTE*ADD*X~", 1)
    broken = broken.replace("SE*30*0001", "SE*30*0001")
    with pytest.raises(X12Error) as exc:
        read_837(broken)
    assert exc.value.code in ("x12.missing_segment", "x12.se_count")
    with pytest.raises(X12Error, match="is not an 837"):
        read_837(TEXT.replace("ST*837*0001", "ST*835*0001"))


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def consume(data: str | bytes) -> None:
    with contextlib.suppress(X12Error):
        for _ in iter_837(data, chunk_size=11):
            pass


@SETTINGS
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    consume(data)


@SETTINGS
@given(st.integers(0, len(TEXT)), st.text(max_size=8))
def test_fuzz_truncated_and_mutated(cut: int, junk: str) -> None:
    consume(TEXT[:cut])
    consume(TEXT[:cut] + junk + TEXT[cut:])


@SETTINGS
@given(st.integers(0, len(TEXT) - 1), st.sampled_from(list("*:~^0A-. ")))
def test_fuzz_one_character_replaced(at: int, char: str) -> None:
    consume(TEXT[:at] + char + TEXT[at + 1 :])


LINE = st.builds(
    lambda code, charge, mods, units, ptr, day: (code, charge, mods, units, ptr, day),
    st.sampled_from(["99213", "99214", "83036", "J0696", "70553", "G0439"]),
    st.integers(0, 9_999_999),
    st.lists(st.sampled_from(["25", "59", "LT", "RT", "GT"]), max_size=4, unique=True),
    st.decimals(min_value=Decimal("0.5"), max_value=Decimal(99), places=1),
    st.integers(1, 3),
    st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(LINE, min_size=1, max_size=6),
    st.sampled_from(["1", "7", "8"]),
    st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=20),
    st.booleans(),
)
def test_round_trip_of_generated_claims(
    lines: list[tuple[str, int, list[str], Decimal, int, dt.date]],
    frequency: str,
    claim_id: str,
    dependant: bool,
) -> None:
    from revcycle.x12.claim837 import (
        Claim,
        Patient,
        ServiceLine,
        Subscriber,
        SubscriberGroup,
        build_837p,
    )
    from tests.x12.claim_samples import ACME, JANE, SAM, batch, envelope

    service_lines = tuple(
        ServiceLine(code, charge, units, day, (ptr,), f"LC{n}", modifiers=tuple(mods))
        for n, (code, charge, mods, units, ptr, day) in enumerate(lines, 1)
    )
    claim = Claim(
        claim_id,
        sum(ln.charge_minor for ln in service_lines),
        "11",
        ("E11.65", "I10", "J02.9"),
        service_lines,
        frequency=frequency,
        original_claim_number="ICN-1" if frequency != "1" else None,
        prior_authorization="PA-9" if dependant else None,
    )
    group = SubscriberGroup(
        Subscriber(JANE, "M-77"), ACME, (claim,), patient=Patient(SAM, "19") if dependant else None
    )
    text = build_837p(batch(("0001", "B1", (group,))), envelope()).text
    ((read,),) = [s.claims for s in read_837(text)]
    assert (read.claim_id, read.charge_minor, read.frequency) == (
        claim_id,
        claim.charge_minor,
        frequency,
    )
    assert read.original_claim_number == claim.original_claim_number
    assert read.prior_authorization == claim.prior_authorization
    assert (read.patient is not None) == dependant
    assert read.diagnoses == [("ABK", "E1165"), ("ABF", "I10"), ("ABF", "J029")]
    assert [
        (
            ln.procedure,
            ln.charge_minor,
            tuple(ln.modifiers),
            ln.units,
            ln.diagnosis_pointers,
            ln.service_date,
            ln.line_control_number,
        )
        for ln in read.lines
    ] == [
        (
            ln.procedure,
            ln.charge_minor,
            ln.modifiers,
            ln.units.normalize(),
            [ln.diagnosis_pointers[0]],
            ln.service_date,
            ln.line_control_number,
        )
        for ln in service_lines
    ]
