"""The payer simulator's batch exchange on both databases: submit an 837, poll the 999, 277CA
and 835 it answers with, exact adjudication by the plan's fee schedule and benefits, the member
accumulators consumed claim after claim, the denial and payment scenarios, voids and
replacements, idempotency, acknowledgement, delays and claim status (276/277)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.clearinghouse.base import ClearinghouseRejected, InboundFile
from revcycle.clearinghouse.models import ChsimClaim, ChsimFile
from revcycle.clearinghouse.payer import Delays
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.x12.acks import iter_277ca, iter_999
from revcycle.x12.claim837 import (
    Claim,
    Payer,
    ServiceLine,
    Subscriber,
    SubscriberGroup,
    build_837p,
)
from revcycle.x12.claim_status import StatusInquiry, build_276, parse_277
from revcycle.x12.remittance import Reader835, Remittance
from revcycle.x12.writer import Envelope
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.x12.claim_samples import JANE, batch

NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
DOS = dt.date(2026, 11, 20)
ACME = Payer("ACME HEALTH", "ACME01")
KINDS = ("999", "277CA", "835")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


def setup_member(session: Session, member_id: str = "W100001", **coverage: object) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    payer = make_payer(session, practice, edi_payer_id="ACME01", timely_filing_days=90)
    plan = make_plan(
        session,
        payer,
        rates={"99214": "120.00", "83036": "30.00", "70553": "800.00"},
        deductible="50.00",
        auth_required_codes=["70553"],
    )
    make_coverage(session, patient, plan, member_id=member_id, **coverage)


def line(n: int, code: str, charge: int, *mods: str, day: dt.date = DOS) -> ServiceLine:
    return ServiceLine(code, charge, Decimal(1), day, (1,), f"L{n}", modifiers=mods)


VISIT = Claim(
    "INV-1001",
    20000,
    "11",
    ("E11.65",),
    (line(1, "99214", 15000, "25"), line(2, "83036", 5000)),
    prior_authorization="AUTH-77",
)


def x837(member_id: str, *claims: Claim, isa13: int = 101) -> bytes:
    group = SubscriberGroup(Subscriber(JANE, member_id), ACME, claims)
    env = Envelope("REVCYCLE", "CHSIM", isa13, isa13, NOW.replace(tzinfo=None), usage="T")
    return build_837p(batch(("0001", f"BATCH{isa13}", (group,))), env).text.encode()


def sim(
    session: Session, clock: Clock | None = None, delays: Delays | None = None
) -> SimulatorClearinghouse:
    return SimulatorClearinghouse(session=session, clock=clock or Clock(), delays=delays)


def remits(files: list[InboundFile]) -> list[Remittance]:
    out = []
    for f in files:
        if f.kind == "835":
            for r in Reader835(f.content):
                assert isinstance(r, Remittance), r
                assert r.balanced, r.balance_errors
                out.append(r)
    return out


def lines_of(rem: Remittance, n: int = 0) -> list[tuple[object, ...]]:
    return [
        (
            ln.procedure,
            ln.charge_minor,
            ln.paid_minor,
            ln.allowed_minor,
            ln.line_control_number,
            [(a.group, a.reason, a.amount_minor) for a in ln.adjustments],
            ln.remarks,
        )
        for ln in rem.claims[n].service_lines
    ]


def test_one_submission_gives_999_277ca_and_a_balanced_835(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    receipt = ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="batch-1")
    assert receipt.received_at == NOW
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA", "835"]
    assert all(f.available_at == NOW for f in files)
    (ack,) = list(iter_999(files[0].content))
    assert [(g.group_control_number, g.status, g.accepted_count) for g in ack.groups] == [
        ("101", "A", 1)
    ]
    assert [(s.control_number, s.status) for s in ack.groups[0].sets] == [("0001", "A")]
    (ca,) = list(iter_277ca(files[1].content))
    assert ca.batch_trace == "BATCH101"
    (claim,) = ca.claims
    assert (claim.patient_control_number, claim.outcome, claim.charge_minor) == (
        "INV-1001",
        "accepted",
        20000,
    )
    icn = claim.payer_claim_number
    assert icn is not None
    assert icn.startswith("SIM")
    (rem,) = remits(files)
    assert (rem.payer_id, rem.payee_npi, rem.payment_minor) == ("ACME01", "1234567893", 6000)
    paid = rem.claims[0]
    assert (paid.patient_control_number, paid.status_code, paid.payer_claim_number) == (
        "INV-1001",
        "1",
        icn,
    )
    assert (paid.charge_minor, paid.paid_minor, paid.patient_responsibility_minor) == (
        20000,
        6000,
        9000,
    )
    # 99214: allowed 120; copay 25, deductible 50, coinsurance 20% of 45 = 9; the plan pays 36.
    # 83036: allowed 30, deductible met: coinsurance 6, the plan pays 24.
    assert lines_of(rem) == [
        (
            "99214",
            15000,
            3600,
            12000,
            "L1",
            [("CO", "45", 3000), ("PR", "1", 5000), ("PR", "2", 900), ("PR", "3", 2500)],
            [],
        ),
        ("83036", 5000, 2400, 3000, "L2", [("CO", "45", 2000), ("PR", "2", 600)], []),
    ]


def test_the_deductible_is_consumed_across_claims(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    second = Claim("INV-1002", 5000, "11", ("E11.65",), (line(1, "83036", 5000, day=DOS),))
    ch.submit_file(x837("W100001", second), kind="837P", idempotency_key="a")
    ch.submit_file(
        x837(
            "W100001",
            dataclasses.replace(
                second,
                claim_id="INV-1003",
                lines=(line(1, "83036", 5000, day=DOS + dt.timedelta(1)),),
            ),
            isa13=102,
        ),
        kind="837P",
        idempotency_key="b",
    )
    first, then = remits(ch.poll_files(kinds=("835",), limit=10))
    # The first lab test meets 30.00 of the 50.00 deductible; the second takes the last 20.00
    # and 20% of the remaining 10.00.
    assert lines_of(first)[0][2:] == (0, 3000, "L1", [("CO", "45", 2000), ("PR", "1", 3000)], [])
    assert lines_of(then)[0][2:] == (
        800,
        3000,
        "L1",
        [("CO", "45", 2000), ("PR", "1", 2000), ("PR", "2", 200)],
        [],
    )


def test_idempotent_submission_and_acknowledgement(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    one = ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="same")
    two = ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="same")
    assert one == two
    assert session.scalar(select(func.count()).select_from(ChsimFile)) == 4
    files = ch.poll_files(kinds=KINDS, limit=2)
    assert [f.kind for f in files] == ["999", "277CA"]
    ch.acknowledge_file(files[0].file_id)
    ch.acknowledge_file(files[0].file_id)
    assert [f.kind for f in ch.poll_files(kinds=KINDS, limit=10)] == ["277CA", "835"]
    assert [f.kind for f in ch.poll_files(kinds=("835",), limit=10)] == ["835"]
    with pytest.raises(ClearinghouseRejected):
        ch.acknowledge_file("chf_nope")
    with pytest.raises(ClearinghouseRejected):
        ch.submit_file(b"x", kind="270", idempotency_key="k")


def test_delays_hold_files_back(session: Session) -> None:
    setup_member(session)
    clock = Clock()
    ch = sim(session, clock, Delays(ack999=60, ack277=3600, remittance=86400))
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="d")
    assert ch.poll_files(kinds=KINDS, limit=10) == []
    clock.now = NOW + dt.timedelta(hours=1)
    assert [f.kind for f in ch.poll_files(kinds=KINDS, limit=10)] == ["999", "277CA"]
    clock.now = NOW + dt.timedelta(days=1)
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [(f.kind, f.available_at) for f in files] == [
        ("999", NOW + dt.timedelta(seconds=60)),
        ("277CA", NOW + dt.timedelta(hours=1)),
        ("835", NOW + dt.timedelta(days=1)),
    ]


def test_an_unreadable_file_is_rejected_whole(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    text = x837("W100001", VISIT).decode().replace("SV1*HC:83036*50", "SV1*HC:83036*5.001")
    ch.submit_file(text.encode(), kind="837P", idempotency_key="bad")
    (only,) = ch.poll_files(kinds=KINDS, limit=10)
    (ack,) = list(iter_999(only.content))
    (group,) = ack.groups
    assert (group.status, group.accepted_count) == ("R", 0)
    (s,) = group.sets
    assert (s.status, s.codes) == ("R", ["5"])
    (err,) = s.segment_errors
    assert (err.segment_id, err.code, err.claim_id) == ("SV1", "8", "INV-1001")
    assert err.position == 27
    assert [(e.position, e.code, e.bad_value) for e in err.elements] == [("2", "6", "5.001")]
    assert session.scalar(select(func.count()).select_from(ChsimClaim)) == 0
    ch.submit_file(b"garbage", kind="837P", idempotency_key="garbage")
    (g,) = [f for f in ch.poll_files(kinds=KINDS, limit=10) if f.file_id != only.file_id]
    assert list(iter_999(g.content))[0].groups[0].status == "R"


@pytest.mark.parametrize(
    ("claim", "category", "code"),
    [
        (dataclasses.replace(VISIT, charge_minor=20001), "A7", "400"),
        (
            dataclasses.replace(VISIT, frequency="7", original_claim_number="SIM999999999"),
            "A7",
            "21",
        ),
    ],
)
def test_277ca_rejections(session: Session, claim: Claim, category: str, code: str) -> None:
    setup_member(session)
    ch = sim(session)
    text = x837("W100001", dataclasses.replace(claim, charge_minor=20000)).decode()
    if claim.charge_minor != 20000:
        text = text.replace("CLM*INV-1001*200*", "CLM*INV-1001*200.01*")
    ch.submit_file(text.encode(), kind="837P", idempotency_key="r")
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA"]
    (c,) = list(iter_277ca(files[1].content))[0].claims
    assert (c.outcome, c.statuses[0].category, c.statuses[0].code) == ("rejected", category, code)
    assert c.payer_claim_number is None


def test_unknown_member_is_rejected(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    ch.submit_file(x837("NOBODY1", VISIT), kind="837P", idempotency_key="u")
    (c,) = list(iter_277ca(ch.poll_files(kinds=("277CA",), limit=1)[0].content))[0].claims
    assert [(s.category, s.code, s.entity) for s in c.statuses] == [("A7", "33", "IL")]


def test_xrj_member_is_rejected_with_the_location(session: Session) -> None:
    """XRJ: the member is found, but the payer's front end rejects the claim (A7:158:IL) and
    names the 837 loop, segment and element in STC12; no 835 follows."""
    setup_member(session, "W1XRJ")
    ch = sim(session)
    ch.submit_file(x837("W1XRJ", VISIT), kind="837P", idempotency_key="xrj")
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA"]
    assert b"STC*A7:158:IL*20261127*U*200********2010BA DMG02 SUBSCRIBER DATE OF BIRTH" in (
        files[1].content
    )
    (c,) = list(iter_277ca(files[1].content))[0].claims
    assert c.outcome == "rejected"
    assert c.payer_claim_number is None
    assert [(s.category, s.code, s.entity, s.message) for s in c.statuses] == [
        (
            "A7",
            "158",
            "IL",
            "2010BA DMG02 SUBSCRIBER DATE OF BIRTH DOES NOT MATCH PAYER RECORDS",
        )
    ]
    row = session.scalars(select(ChsimClaim)).one()
    assert (row.status, row.status_category, row.status_code) == ("rejected", "A7", "158")


@pytest.mark.parametrize(
    ("member", "claim", "status", "paid", "first_line_cas", "remarks"),
    [
        ("W1XDN", VISIT, "4", 0, [("CO", "50", 15000)], []),
        ("W1XPP", VISIT, "1", 3600, None, []),
        (
            "W1",
            dataclasses.replace(
                VISIT,
                prior_authorization=None,
                lines=(line(1, "70553", 90000),),
                charge_minor=90000,
            ),
            "4",
            0,
            [("CO", "197", 90000)],
            ["M62"],
        ),
        (
            "W1",
            dataclasses.replace(VISIT, lines=(line(1, "99999", 9000),), charge_minor=9000),
            "4",
            0,
            [("CO", "96", 9000)],
            ["N130"],
        ),
        (
            "W1",
            dataclasses.replace(
                VISIT, lines=(line(1, "83036", 5000, day=dt.date(2026, 7, 1)),), charge_minor=5000
            ),
            "4",
            0,
            [("CO", "29", 5000)],
            [],
        ),
    ],
)
def test_denials(
    session: Session,
    member: str,
    claim: Claim,
    status: str,
    paid: int,
    first_line_cas: list[tuple[str, str, int]] | None,
    remarks: list[str],
) -> None:
    setup_member(session, member)
    ch = sim(session)
    ch.submit_file(x837(member, claim), kind="837P", idempotency_key="x")
    (rem,) = remits(ch.poll_files(kinds=("835",), limit=1))
    c = rem.claims[0]
    assert (c.status_code, c.paid_minor) == (status, paid)
    if first_line_cas is not None:
        assert lines_of(rem)[0][5] == first_line_cas
        assert lines_of(rem)[0][6] == remarks
    if member == "W1XPP":
        assert lines_of(rem)[1][5] == [("CO", "97", 5000)]
        assert lines_of(rem)[1][6] == ["M15"]


def test_coverage_ended_and_duplicate(session: Session) -> None:
    setup_member(session, effective_to=dt.date(2026, 11, 15))
    ch = sim(session)
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="x")
    (rem,) = remits(ch.poll_files(kinds=("835",), limit=1))
    assert lines_of(rem)[0][5] == [("CO", "27", 15000)]
    assert lines_of(rem)[0][6] == ["N30"]


def test_duplicate_claim_is_denied(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="1")
    ch.submit_file(x837("W100001", VISIT, isa13=102), kind="837P", idempotency_key="2")
    first, second = remits(ch.poll_files(kinds=("835",), limit=5))
    assert first.claims[0].status_code == "1"
    assert (second.claims[0].status_code, second.claims[0].paid_minor) == ("4", 0)
    assert lines_of(second)[0][5:] == ([("CO", "18", 15000)], ["N522"])


def test_interest_and_recoupment_plb(session: Session) -> None:
    setup_member(session, "W1XIT")
    ch = sim(session)
    ch.submit_file(x837("W1XIT", VISIT), kind="837P", idempotency_key="i")
    (rem,) = remits(ch.poll_files(kinds=("835",), limit=1))
    icn = rem.claims[0].payer_claim_number
    assert [(p.reason, p.reference, p.amount_minor) for p in rem.provider_adjustments] == [
        ("L6", icn, -60)
    ]
    assert rem.payment_minor == 6060


def test_pay_then_reverse_and_forward_balance(session: Session) -> None:
    setup_member(session, "W1XRV")
    ch = sim(session)
    ch.submit_file(x837("W1XRV", VISIT), kind="837P", idempotency_key="rv")
    first, later = remits(ch.poll_files(kinds=("835",), limit=5))
    assert (first.claims[0].status_code, first.claims[0].paid_minor) == ("1", 6000)
    reversal, corrected = later.claims
    icn = first.claims[0].payer_claim_number
    assert (reversal.status_code, reversal.paid_minor, reversal.payer_claim_number) == (
        "22",
        -6000,
        icn,
    )
    assert [(a.group, a.reason, a.amount_minor) for a in reversal.service_lines[0].adjustments] == [
        ("CO", "45", -3000),
        ("PR", "1", -5000),
        ("PR", "2", -900),
        ("PR", "3", -2500),
    ]
    # Re-adjudicated at 90% of the rate: 99214 allowed 108 (copay 25, deductible 50,
    # coinsurance 6.60: paid 26.40); 83036 allowed 27 (coinsurance 5.40: paid 21.60).
    assert (corrected.status_code, corrected.paid_minor) == ("1", 4800)
    # -60.00 + 48.00 = -12.00: carried forward (PLB FB negative), nothing paid.
    assert [(p.reason, p.amount_minor) for p in later.provider_adjustments] == [("FB", -1200)]
    assert later.payment_minor == 0
    # The next remittance to that payee collects it.
    setup_member(session, "W2")
    ch.submit_file(x837("W2", VISIT, isa13=103), kind="837P", idempotency_key="next")
    (nxt,) = remits(ch.poll_files(kinds=("835",), limit=5)[2:])
    assert [(p.reason, p.amount_minor) for p in nxt.provider_adjustments] == [("FB", 1200)]
    assert nxt.payment_minor == 6000 - 1200


def test_a_duplicate_payment_comes_in_the_later_run_without_a_reversal(session: Session) -> None:
    setup_member(session, "W1XDP")
    ch = sim(session)
    ch.submit_file(x837("W1XDP", VISIT), kind="837P", idempotency_key="dp")
    first, later = remits(ch.poll_files(kinds=("835",), limit=5))
    [paid] = first.claims
    [again] = later.claims
    assert (paid.status_code, paid.paid_minor) == ("1", 6000)
    # The same answer under a new claim number: no CLP02 22, no PLB, the money paid again.
    assert (again.status_code, again.paid_minor, again.patient_control_number) == (
        "1",
        6000,
        paid.patient_control_number,
    )
    assert again.payer_claim_number != paid.payer_claim_number
    assert [ln.adjustments for ln in again.service_lines] == [
        ln.adjustments for ln in paid.service_lines
    ]
    assert (later.provider_adjustments, later.payment_minor) == ([], 6000)


def test_void_and_replacement_reverse_the_original(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="o")
    (orig,) = remits(ch.poll_files(kinds=("835",), limit=5))
    icn = orig.claims[0].payer_claim_number
    replacement = dataclasses.replace(
        VISIT,
        frequency="7",
        original_claim_number=icn,
        lines=(line(1, "99214", 15000, "25"),),
        charge_minor=15000,
    )
    ch.submit_file(x837("W100001", replacement, isa13=102), kind="837P", idempotency_key="7")
    _, rep = remits(ch.poll_files(kinds=("835",), limit=5))
    assert [(c.status_code, c.paid_minor, c.payer_claim_number == icn) for c in rep.claims] == [
        ("22", -6000, True),
        ("1", 3600, False),
    ]
    new_icn = rep.claims[1].payer_claim_number
    void = dataclasses.replace(replacement, frequency="8", original_claim_number=new_icn)
    ch.submit_file(x837("W100001", void, isa13=103), kind="837P", idempotency_key="8")
    _, _, gone = remits(ch.poll_files(kinds=("835",), limit=5))
    assert [(c.status_code, c.paid_minor, c.payer_claim_number) for c in gone.claims] == [
        ("22", -3600, new_icn)
    ]
    assert [(p.reason, p.amount_minor) for p in gone.provider_adjustments] == [("FB", -3600)]
    statuses = dict(session.execute(select(ChsimClaim.payer_claim_number, ChsimClaim.status)).all())
    assert (statuses[icn], statuses[new_icn]) == ("replaced", "voided")


def _inquiry(**kw: object) -> str:
    q = StatusInquiry(
        "TRC1",
        "ACME HEALTH",
        "ACME01",
        "RIVERSIDE FAMILY CLINIC",
        "REVCYCLE",
        "RIVERSIDE FAMILY CLINIC",
        "1234567893",
        "DOE",
        "JANE",
        "W100001",
        DOS,
        patient_control_number="INV-1001",
    )
    env = Envelope("REVCYCLE", "CHSIM", 77, 77, NOW.replace(tzinfo=None), usage="T")
    return build_276([dataclasses.replace(q, **kw)], env)  # type: ignore[arg-type]


def test_claim_status(session: Session) -> None:
    setup_member(session)
    clock = Clock()
    ch = sim(session, clock, Delays(ack277=3600, remittance=86400))
    (nf,) = parse_277(ch.claim_status(_inquiry(), timeout_seconds=5))
    assert (nf.trace_number, nf.category, nf.statuses[0][1]) == ("TRC1", "A4", "35")
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="s")
    (received,) = parse_277(ch.claim_status(_inquiry(), timeout_seconds=5))
    assert received.category == "A1"
    clock.now = NOW + dt.timedelta(hours=2)
    (pending,) = parse_277(ch.claim_status(_inquiry(), timeout_seconds=5))
    assert (pending.category, pending.statuses[0][1]) == ("P1", "20")
    clock.now = NOW + dt.timedelta(days=2)
    (paid,) = parse_277(ch.claim_status(_inquiry(), timeout_seconds=5))
    assert (paid.category, paid.statuses[0][1], paid.charge_minor, paid.paid_minor) == (
        "F1",
        "65",
        20000,
        6000,
    )
    assert paid.payer_claim_number is not None
    assert paid.patient_control_number == "INV-1001"
    with pytest.raises(ClearinghouseRejected):
        ch.claim_status("nonsense", timeout_seconds=5)


def test_a_repeated_st02_is_rejected_in_the_999(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    group = SubscriberGroup(Subscriber(JANE, "W100001"), ACME, (VISIT,))
    other = SubscriberGroup(
        Subscriber(JANE, "W100001"), ACME, (dataclasses.replace(VISIT, claim_id="INV-2"),)
    )
    env = Envelope("REVCYCLE", "CHSIM", 5, 5, NOW.replace(tzinfo=None), usage="T")
    text = build_837p(batch(("0001", "B1", (group,)), ("0002", "B2", (other,))), env).text
    text = text.replace("ST*837*0002", "ST*837*0001").replace("SE*30*0002", "SE*30*0001")
    ch.submit_file(text.encode(), kind="837P", idempotency_key="dup-st")
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA", "835"]
    (g,) = list(iter_999(files[0].content))[0].groups
    assert [(s.control_number, s.status, s.codes) for s in g.sets] == [
        ("0001", "A", []),
        ("0001", "R", ["23"]),
    ]
    assert g.status == "P"


def test_replacing_a_denied_claim_reverses_nothing(session: Session) -> None:
    setup_member(session, "W1XDN")
    ch = sim(session)
    ch.submit_file(x837("W1XDN", VISIT), kind="837P", idempotency_key="o")
    (orig,) = remits(ch.poll_files(kinds=("835",), limit=5))
    icn = orig.claims[0].payer_claim_number
    fixed = dataclasses.replace(VISIT, frequency="7", original_claim_number=icn)
    ch.submit_file(x837("W1XDN", fixed, isa13=102), kind="837P", idempotency_key="7")
    _, rep = remits(ch.poll_files(kinds=("835",), limit=5))
    assert [c.status_code for c in rep.claims] == ["4"]


def test_a_wrong_segment_count_rejects_that_set_only(session: Session) -> None:
    setup_member(session)
    ch = sim(session)
    group = SubscriberGroup(Subscriber(JANE, "W100001"), ACME, (VISIT,))
    other = SubscriberGroup(
        Subscriber(JANE, "W100001"), ACME, (dataclasses.replace(VISIT, claim_id="INV-2"),)
    )
    env = Envelope("REVCYCLE", "CHSIM", 5, 5, NOW.replace(tzinfo=None), usage="T")
    text = build_837p(batch(("0001", "B1", (group,)), ("0002", "B2", (other,))), env).text
    ch.submit_file(
        text.replace("SE*30*0002", "SE*31*0002").encode(), kind="837P", idempotency_key="count"
    )
    files = ch.poll_files(kinds=KINDS, limit=10)
    (g,) = list(iter_999(files[0].content))[0].groups
    assert [(s.control_number, s.status, s.codes) for s in g.sets] == [
        ("0001", "A", []),
        ("0002", "R", ["4"]),
    ]
    (ca,) = [list(iter_277ca(f.content))[0] for f in files if f.kind == "277CA"]
    assert [c.patient_control_number for c in ca.claims] == ["INV-1001"]
    # A wrong group count (after the last set) rejects the whole file.
    bad = text.replace("GE*2*5", "GE*3*5")
    ch.submit_file(bad.encode(), kind="837P", idempotency_key="count2")
    new = [
        f
        for f in ch.poll_files(kinds=KINDS, limit=20)
        if f.file_id not in {x.file_id for x in files}
    ]
    assert [f.kind for f in new] == ["999"]
    (g2,) = list(iter_999(new[0].content))[0].groups
    assert (g2.status, [s.status for s in g2.sets]) == ("R", ["R", "R"])
