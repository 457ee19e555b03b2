"""999, 277CA, 835 and 276/277 writers: exact values read back by revcycle's own parsers, and
pyx12 validation (the 999, 277CA and 835 against their 5010 maps; claim status against the 4010
X093 maps, see pyx12_maps)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from revcycle.x12.acks import iter_277ca, iter_999
from revcycle.x12.claim_status import (
    StatusAnswer,
    StatusInquiry,
    build_276,
    build_277,
    parse_276,
    parse_277,
)
from revcycle.x12.payer_files import (
    Ack277Input,
    Cas,
    ClaimPaymentOut,
    ClaimStatus,
    ElementNote,
    GroupVerdict,
    LineStatus,
    PayerFileError,
    ProviderAdjustmentOut,
    ProviderClaims,
    Remittance835,
    SegmentNote,
    ServicePayment,
    SetVerdict,
    StatusCode,
    build_277ca,
    build_835,
    build_999,
)
from revcycle.x12.remittance import Reader835, Remittance
from revcycle.x12.writer import Envelope
from tests.x12.pyx12_maps import envelope_errors, validate, validate_claim_status

WHEN = dt.datetime(2026, 11, 27, 10, 0)
ENV = Envelope("CHSIM", "REVCYCLE", 5, 5, WHEN, usage="T")
DOS = dt.date(2026, 11, 20)


def test_999_partial_acceptance_reads_back() -> None:
    note = SegmentNote("SV1", 27, "8", "2400", "INV-1001", (ElementNote("2", "782", "6", "5.001"),))
    text = build_999(
        [
            GroupVerdict(
                "7",
                (
                    SetVerdict("0001", "A"),
                    SetVerdict("0002", "R", codes=("5",), segment_errors=(note,)),
                ),
            )
        ],
        ENV,
    )
    assert "AK9*P*2*2*1~" in text
    (ack,) = list(iter_999(text))
    (group,) = ack.groups
    assert (group.group_control_number, group.status, group.included, group.received) == (
        "7",
        "P",
        2,
        2,
    )
    assert group.accepted_count == 1
    ok, bad = group.sets
    assert (ok.control_number, ok.status, ok.accepted) == ("0001", "A", True)
    assert (bad.control_number, bad.status, bad.codes, bad.accepted) == ("0002", "R", ["5"], False)
    (err,) = bad.segment_errors
    assert (err.segment_id, err.position, err.loop_id, err.code, err.claim_id) == (
        "SV1",
        27,
        "2400",
        "8",
        "INV-1001",
    )
    assert [(e.position, e.element_reference, e.code, e.bad_value) for e in err.elements] == [
        ("2", "782", "6", "5.001")
    ]
    assert validate(text) == []
    assert envelope_errors(text) == []


def test_999_rejecting_everything() -> None:
    text = build_999([GroupVerdict("7", (SetVerdict("0001", "R", codes=("4",)),))], ENV)
    (ack,) = list(iter_999(text))
    assert ack.groups[0].status == "R"
    assert ack.groups[0].accepted_count == 0
    assert validate(text) == []


def _ack277() -> str:
    accepted = ClaimStatus(
        "INV-1001",
        20000,
        (StatusCode("A1", "19", "PR"), StatusCode("A2", "20", "PR")),
        DOS,
        None,
        "DOE",
        "JANE",
        "W123456789",
        payer_claim_number="SIM00000001",
    )
    rejected = ClaimStatus(
        "INV-1002",
        12550,
        (StatusCode("A7", "400", None, "2300 CLM02 CLAIM TOTAL DOES NOT EQUAL LINE CHARGES"),),
        DOS,
        dt.date(2026, 11, 21),
        "DOE",
        "SAM",
        "W123456789",
        lines=(LineStatus("J0696", 3550, "L4", DOS, None, (StatusCode("A7", "454"),), ("JW",)),),
    )
    return build_277ca(
        Ack277Input(
            "CA0001",
            "ACME HEALTH",
            "ACME01",
            "R0001",
            "RIVERSIDE FAMILY CLINIC",
            "REVCYCLE",
            "BATCH0001",
            DOS,
            dt.date(2026, 11, 27),
            (ProviderClaims("RIVERSIDE FAMILY CLINIC", "1234567893", (accepted, rejected)),),
        ),
        ENV,
    )


def test_277ca_reads_back_exactly() -> None:
    text = _ack277()
    (ack,) = list(iter_277ca(text))
    assert (ack.reference, ack.batch_trace, ack.source_name) == (
        "CA0001",
        "BATCH0001",
        "ACME HEALTH",
    )
    assert (ack.received_date, ack.processed_date) == (DOS, dt.date(2026, 11, 27))
    first, second = ack.claims
    assert (first.patient_control_number, first.payer_claim_number, first.outcome) == (
        "INV-1001",
        "SIM00000001",
        "accepted",
    )
    assert [(s.category, s.code, s.entity, s.action) for s in first.statuses] == [
        ("A1", "19", "PR", "WQ"),
        ("A2", "20", "PR", "WQ"),
    ]
    assert first.charge_minor == 20000
    assert first.billing_provider_npi == "1234567893"
    assert (second.patient_control_number, second.outcome, second.payer_claim_number) == (
        "INV-1002",
        "rejected",
        None,
    )
    assert (second.service_date, second.service_date_to) == (DOS, dt.date(2026, 11, 21))
    assert [(s.category, s.code, s.entity, s.action, s.message) for s in second.statuses] == [
        ("A7", "400", "", "U", "2300 CLM02 CLAIM TOTAL DOES NOT EQUAL LINE CHARGES")
    ]
    (line,) = second.lines
    assert (line.procedure, line.modifiers, line.charge_minor, line.line_control_number) == (
        "J0696",
        ["JW"],
        3550,
        "L4",
    )
    assert [(s.category, s.code, s.action) for s in line.statuses] == [("A7", "454", "U")]
    assert validate(text) == []


def _remittance() -> Remittance835:
    paid = ClaimPaymentOut(
        "INV-1001",
        "1",
        20000,
        9000,
        4000,
        "SIM00000001",
        "DOE",
        "JANE",
        "W123456789",
        received_on=DOS,
        lines=(
            ServicePayment(
                "99214",
                ("25",),
                15000,
                7000,
                Decimal(1),
                DOS,
                "L1",
                (Cas("CO", "45", 5000), Cas("PR", "1", 3000)),
                allowed_minor=10000,
            ),
            ServicePayment(
                "83036",
                (),
                5000,
                2000,
                Decimal(1),
                DOS,
                "L2",
                (Cas("CO", "45", 2000), Cas("PR", "2", 1000)),
                allowed_minor=3000,
            ),
        ),
    )
    reversal = ClaimPaymentOut(
        "INV-0900",
        "22",
        -10000,
        -5000,
        -1000,
        "SIM00000000",
        "DOE",
        "JANE",
        "W123456789",
        lines=(
            ServicePayment(
                "99213",
                (),
                -10000,
                -5000,
                Decimal(1),
                DOS,
                "L9",
                (Cas("CO", "45", -4000), Cas("PR", "2", -1000)),
            ),
        ),
    )
    denied = ClaimPaymentOut(
        "INV-1005",
        "4",
        8000,
        0,
        0,
        "SIM00000002",
        "DOE",
        "JANE",
        "W123456789",
        lines=(
            ServicePayment(
                "70553",
                (),
                8000,
                0,
                Decimal(1),
                DOS,
                "L1",
                (Cas("CO", "197", 8000),),
                remarks=("N54",),
            ),
        ),
    )
    return Remittance835(
        "ACME HEALTH",
        "ACME01",
        "123456789",
        "RIVERSIDE FAMILY CLINIC",
        "1234567893",
        "EFT0001",
        dt.date(2026, 11, 28),
        (paid, reversal, denied),
        (
            ProviderAdjustmentOut("L6", "SIM00000001", -125),
            ProviderAdjustmentOut("WO", "SIM00000000", 500),
        ),
    )


def test_835_reads_back_balanced() -> None:
    text = build_835([_remittance()], ENV)
    reader = Reader835(text)
    (rem,) = list(reader)
    assert reader.errors == []
    assert isinstance(rem, Remittance)
    assert rem.balanced, rem.balance_errors
    assert rem.warnings == []
    assert (rem.payment_minor, rem.payment_method, rem.payment_date, rem.trace_number) == (
        3625,
        "ACH",
        dt.date(2026, 11, 28),
        "EFT0001",
    )
    assert (rem.payer_name, rem.payer_id, rem.payee_npi) == (
        "ACME HEALTH",
        "ACME01",
        "1234567893",
    )
    paid, reversal, denied = rem.claims
    assert (paid.patient_control_number, paid.status_code, paid.charge_minor) == (
        "INV-1001",
        "1",
        20000,
    )
    assert (paid.paid_minor, paid.patient_responsibility_minor, paid.payer_claim_number) == (
        9000,
        4000,
        "SIM00000001",
    )
    assert paid.received_date == DOS
    assert [
        (
            ln.procedure,
            ln.modifiers,
            ln.charge_minor,
            ln.paid_minor,
            ln.line_control_number,
            ln.allowed_minor,
            [(a.group, a.reason, a.amount_minor) for a in ln.adjustments],
        )
        for ln in paid.service_lines
    ] == [
        ("99214", ["25"], 15000, 7000, "L1", 10000, [("CO", "45", 5000), ("PR", "1", 3000)]),
        ("83036", [], 5000, 2000, "L2", 3000, [("CO", "45", 2000), ("PR", "2", 1000)]),
    ]
    assert (reversal.status_code, reversal.charge_minor, reversal.paid_minor) == (
        "22",
        -10000,
        -5000,
    )
    assert [(a.group, a.amount_minor) for a in reversal.service_lines[0].adjustments] == [
        ("CO", -4000),
        ("PR", -1000),
    ]
    assert (denied.status_code, denied.paid_minor) == ("4", 0)
    assert denied.service_lines[0].remarks == ["N54"]
    assert [(p.reason, p.reference, p.amount_minor) for p in rem.provider_adjustments] == [
        ("L6", "SIM00000001", -125),
        ("WO", "SIM00000000", 500),
    ]
    assert validate(text) == []
    assert envelope_errors(text) == []


def test_835_refuses_unbalanced_or_negative() -> None:
    rem = _remittance()
    bad_line = rem.claims[0].lines[0]
    broken = dataclasses.replace(
        rem.claims[0],
        lines=(dataclasses.replace(bad_line, paid_minor=7001), rem.claims[0].lines[1]),
    )
    with pytest.raises(PayerFileError, match="claim INV-1001 line 99214"):
        build_835([dataclasses.replace(rem, claims=(broken,))], ENV)
    with pytest.raises(PayerFileError, match="negative"):
        build_835([dataclasses.replace(rem, claims=(rem.claims[1],), provider_adjustments=())], ENV)


def test_835_zero_payment_is_a_notification() -> None:
    rem = _remittance()
    text = build_835(
        [dataclasses.replace(rem, claims=(rem.claims[2],), provider_adjustments=())], ENV
    )
    assert "BPR*H*0*C*NON" in text
    (out,) = list(Reader835(text))
    assert isinstance(out, Remittance)
    assert out.balanced
    assert out.payment_minor == 0
    assert validate(text) == []


INQUIRY = StatusInquiry(
    "TRC1",
    "ACME HEALTH",
    "ACME01",
    "RIVERSIDE FAMILY CLINIC",
    "REVCYCLE",
    "RIVERSIDE FAMILY CLINIC",
    "1234567893",
    "DOE",
    "JANE",
    "W123456789",
    DOS,
    patient_control_number="INV-1001",
    charge_minor=20000,
    birth_date=dt.date(1980, 4, 2),
    gender="F",
)


def test_276_round_trip_and_validation() -> None:
    text = build_276([INQUIRY], ENV)
    assert parse_276(text) == [INQUIRY]
    assert envelope_errors(text) == []
    assert validate_claim_status(text) == []


@pytest.mark.parametrize(
    ("category", "code", "paid"),
    [("F1", "65", 9000), ("F2", "107", 0), ("A4", "35", None), ("P1", "20", None)],
)
def test_277_round_trip_and_validation(category: str, code: str, paid: int | None) -> None:
    answer = StatusAnswer(
        INQUIRY,
        category,
        code,
        dt.date(2026, 11, 28),
        charge_minor=20000 if paid is not None else None,
        paid_minor=paid,
        payer_claim_number="SIM00000001" if paid is not None else None,
    )
    text = build_277([answer], ENV)
    (result,) = parse_277(text)
    assert (result.trace_number, result.category, result.statuses[0][1]) == ("TRC1", category, code)
    assert (result.payer_claim_number, result.patient_control_number) == (
        "SIM00000001" if paid is not None else None,
        "INV-1001",
    )
    assert (result.charge_minor, result.paid_minor) == (20000, paid or 0)
    assert result.service_date == DOS
    assert envelope_errors(text) == []
    assert validate_claim_status(text) == []
