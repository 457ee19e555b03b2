"""999 and 277CA acknowledgements: exact values from synthetic files and the corpus."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from revcycle.x12.acks import iter_277ca, iter_999
from revcycle.x12.core import X12Error

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x12"

ISA = (
    "ISA*00*          *00*          *ZZ*CLEARHOUSE     *ZZ*REVCYCLE       *261127*1200*^*00501*"
    "000000201*0*T*:~"
)


def wrap(functional_id: str, version: str, set_id: str, body: list[str]) -> str:
    segs = [f"ST*{set_id}*0001*{version}", *body]
    segs.append(f"SE*{len(segs) + 1}*0001")
    return (
        ISA
        + f"GS*{functional_id}*CLEARHOUSE*REVCYCLE*20261127*1200*7*X*{version}~"
        + "".join(s + "~" for s in segs)
        + "GE*1*7~IEA*1*000000201~"
    )


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path} (../shared/corpus/x12)")
    return path.read_bytes()


ACK_999 = wrap(
    "FA",
    "005010X231A1",
    "999",
    [
        "AK1*HC*41*005010X222A1",
        "AK2*837*0001*005010X222A1",
        "IK5*A",
        "AK2*837*0002*005010X222A1",
        "IK3*NM1*23*2010BA*8",
        "CTX*CLM01:INV-1002",
        "IK4*9*67*7*ZZZ",
        "IK3*CLM*30*2300*3",
        "IK5*R*5",
        "AK9*P*2*2*1",
    ],
)


def test_999_partially_accepted_group() -> None:
    (ack,) = list(iter_999(ACK_999))
    (group,) = ack.groups
    assert (group.functional_id, group.group_control_number, group.version) == (
        "HC",
        "41",
        "005010X222A1",
    )
    assert (group.status, group.included, group.received, group.accepted_count) == ("P", 2, 2, 1)
    ok, bad = group.sets
    assert (ok.control_number, ok.status, ok.accepted, ok.segment_errors) == ("0001", "A", True, [])
    assert (bad.control_number, bad.status, bad.accepted, bad.codes) == ("0002", "R", False, ["5"])
    first, second = bad.segment_errors
    assert (first.segment_id, first.position, first.loop_id, first.code, first.description) == (
        "NM1",
        23,
        "2010BA",
        "8",
        "Segment has data element errors",
    )
    assert first.claim_id == "INV-1002"
    (element,) = first.elements
    assert (element.position, element.element_reference, element.code, element.bad_value) == (
        "9",
        "67",
        "7",
        "ZZZ",
    )
    assert element.description == "Invalid code value"
    assert (second.segment_id, second.code, second.description, second.claim_id) == (
        "CLM",
        "3",
        "Required segment missing",
        None,
    )


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("IK5*R*5", "IK5 missing for set 0002"),
        ("AK9*P*2*2*1", "AK9 missing for group 41"),
    ],
)
def test_999_without_its_verdicts_is_refused(drop: str, message: str) -> None:
    body = ACK_999.replace(drop + "~", "")
    body = body.replace("SE*12*0001", "SE*11*0001")
    with pytest.raises(X12Error, match=message):
        list(iter_999(body))


def test_999_envelope_errors_refuse_the_set() -> None:
    with pytest.raises(X12Error, match="SE"):
        list(iter_999(ACK_999.replace("SE*12*0001", "SE*99*0001")))


def test_corpus_999_rejected() -> None:
    (ack,) = list(iter_999(corpus("x12_999_rejected.txt")))
    (group,) = ack.groups
    assert (group.group_control_number, group.version, group.status) == ("28", "005010X223A2", "R")
    (s,) = group.sets
    assert (s.control_number, s.status, s.codes) == ("0028", "R", ["5"])
    (err,) = s.segment_errors
    assert (err.segment_id, err.position, err.code) == ("NM", 17, "1")


ACK_277 = wrap(
    "HN",
    "005010X214",
    "277",
    [
        "BHT*0085*08*277REF01*20261127*1200*TH",
        "HL*1**20*1",
        "NM1*PR*2*ACME HEALTH PLAN*****PI*ACME01",
        "TRN*1*RCPT-9",
        "DTP*050*D8*20261126",
        "DTP*009*D8*20261127",
        "HL*2*1*21*1",
        "NM1*41*2*RIVERSIDE CLINIC*****46*REVCYCLE",
        "TRN*2*BATCH-0007",
        "STC*A1:19*20261127*WQ*350",
        "QTY*90*1",
        "QTY*AA*1",
        "HL*3*2*19*1",
        "NM1*85*2*RIVERSIDE CLINIC*****XX*1234567893",
        "HL*4*3*PT",
        "NM1*QC*1*DOE*JANE****MI*W123456789",
        "TRN*2*INV-1001",
        "STC*A2:20:PR*20261127*WQ*200",
        "REF*1K*ICN-555",
        "DTP*472*RD8*20261020-20261021",
        "HL*5*3*PT",
        "NM1*QC*1*ROE*RICHARD****MI*W987654321",
        "TRN*2*INV-1002",
        "STC*A7:562:85*20261127*U*150********NPI CHECK DIGIT",
        "REF*D9*CH-77",
        "DTP*472*D8*20261022",
        "SVC*HC:99213:25*150****1",
        "STC*A7:453*20261127*U*150",
        "REF*FJ*LINE-7",
        "DTP*472*D8*20261022",
    ],
)


def test_277ca_claims_accepted_and_rejected() -> None:
    (ack,) = list(iter_277ca(ACK_277))
    assert (ack.reference, ack.source_name, ack.batch_trace) == (
        "277REF01",
        "ACME HEALTH PLAN",
        "BATCH-0007",
    )
    assert (ack.received_date, ack.processed_date) == (dt.date(2026, 11, 26), dt.date(2026, 11, 27))
    assert [(s.category, s.code, s.amount_minor) for s in ack.batch_statuses] == [
        ("A1", "19", 35000)
    ]
    accepted, rejected = ack.claims
    assert (accepted.patient_control_number, accepted.outcome, accepted.payer_claim_number) == (
        "INV-1001",
        "accepted",
        "ICN-555",
    )
    assert (accepted.service_date, accepted.service_date_to) == (
        dt.date(2026, 10, 20),
        dt.date(2026, 10, 21),
    )
    assert (accepted.billing_provider_npi, accepted.charge_minor) == ("1234567893", 20000)
    assert (rejected.patient_control_number, rejected.outcome, rejected.clearinghouse_trace) == (
        "INV-1002",
        "rejected",
        "CH-77",
    )
    (status,) = rejected.statuses
    assert (status.category, status.code, status.entity, status.message) == (
        "A7",
        "562",
        "85",
        "NPI CHECK DIGIT",
    )
    assert status.category_description == "Acknowledgement/Rejected for Invalid Information"
    assert status.entity_description == "Billing Provider"
    (line,) = rejected.lines
    assert (line.procedure, line.modifiers, line.charge_minor, line.line_control_number) == (
        "99213",
        ["25"],
        15000,
        "LINE-7",
    )
    assert [(s.category, s.code) for s in line.statuses] == [("A7", "453")]


def test_277ca_the_category_decides_not_the_action_code() -> None:
    # The corpus file pairs a rejection category with the "accept" action code WQ.
    (ack,) = list(iter_277ca(corpus("x12_277CA_rejected.txt")))
    (claim,) = ack.claims
    assert (claim.patient_control_number, claim.payer_claim_number) == (
        "3920394930203",
        "1107000000001120",
    )
    (status,) = claim.statuses
    assert (status.category, status.code, status.entity, status.action) == ("A7", "562", "85", "WQ")
    assert claim.outcome == "rejected"
    assert (claim.charge_minor, claim.service_date) == (19914, dt.date(2009, 3, 11))
    assert ack.batch_trace == "11200001"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("TRN*2*INV-1001~", "", r"position 18 has no TRN\*2"),
        ("HL*4*3*PT", "HL*4*3*99", "HL03 '99' is not a 277CA level"),
        (
            "STC*A2:20:PR",
            "STC*:20:PR",
            r"STC01 \(claim status\) is required \(segment STC at position 21\)",
        ),
        ("BHT*0085*08*277REF01*20261127*1200*TH~", "", "starts with BHT"),
    ],
)
def test_277ca_bad_input_names_what_is_wrong(old: str, new: str, message: str) -> None:
    broken = ACK_277.replace(old, new)
    if new == "":
        broken = broken.replace("SE*32*0001", "SE*31*0001")
    with pytest.raises(X12Error, match=message):
        list(iter_277ca(broken))


def test_a_999_is_not_a_277() -> None:
    with pytest.raises(X12Error, match="is not a 277"):
        list(iter_277ca(ACK_999))
