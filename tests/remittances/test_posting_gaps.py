"""835 posting of claim splits, crossovers and predeterminations (docs/remittance-posting.md):
exact ledger balances and invoice figures, claim states, events and stored details; what must not
happen (a duplicate, an unmatched claim, a ledger row for a predetermination, an 837 for a crossed-
over claim) is asserted by counting."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.claims import denials, secondary
from revcycle.claims import service as claims_service
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.endpoints import claim_read
from revcycle.claims.models import Claim, ClaimBatch, ClaimEvent, ClaimSubmission
from revcycle.errors import DomainError
from revcycle.ledger.models import JournalEntry
from revcycle.remittances import service as remittances
from revcycle.remittances.models import RemittanceClaim, RemittanceUnmatched, Underpayment
from tests.factories.claims import World, make_world
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.practices import SYSTEM
from tests.remittances.helpers import era_text
from tests.remittances.test_posting import (
    balances,
    count,
    era,
    figures,
    paid_claim,
    post,
    submitted,
)

# -- splits ------------------------------------------------------------------------------------
# The world's claim: 99213 150.00 (expected allowed 100.00) and 80053 60.00 (40.00).


def part_a(pcn: str, number: int = 1, icn: str = "ICNA") -> list[str]:
    """The first line only: paid 80.00, CO-45 50.00, deductible 20.00; REF*6R; MA15."""
    return [
        f"CLP*{pcn}*1*150*80*20*12*{icn}*11*1",
        "MOA***MA15",
        "SVC*HC:99213*150*80**1",
        "DTM*472*20260105",
        "CAS*CO*45*50",
        "CAS*PR*1*20",
        f"REF*6R*C{number}L1",
    ]


def part_b(pcn: str, icn: str = "ICNB") -> list[str]:
    """The second line only (no REF*6R: matched by procedure, date and charge): paid 20.00,
    CO-45 30.00, coinsurance 10.00."""
    return [
        f"CLP*{pcn}*1*60*20*10*12*{icn}*11*1",
        "MOA***MA15",
        "SVC*HC:80053*60*20**1",
        "DTM*472*20260105",
        "CAS*CO*45*30",
        "CAS*PR*2*10",
    ]


def denied_b(pcn: str, icn: str = "ICNB") -> list[str]:
    return [
        f"CLP*{pcn}*4*60*0*0*12*{icn}*11*1",
        "SVC*HC:80053*60*0**1",
        "DTM*472*20260105",
        "CAS*CO*50*60",
        "REF*6R*C1L2",
    ]


def events(session: Session, claim: Claim) -> list[ClaimEvent]:
    session.flush()
    return list(
        session.scalars(
            select(ClaimEvent)
            .where(ClaimEvent.claim_id == claim.id)
            .order_by(ClaimEvent.at, ClaimEvent.id)
        )
    )


def test_a_split_in_one_835_posts_each_part_and_adjudicates_once(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    result = post(session, w, era(w, [part_a(pcn), part_b(pcn)], "100"))
    [s] = result.sets
    assert (s.outcome, s.claims, s.unmatched, result.ok) == ("posted", 2, 0, True)
    # The same money as one whole answer (test_posting: test_full_cycle_posts_exact_amounts).
    assert balances(session, w) == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}
    assert figures(session, w.invoice) == (10000, 8000, 3000, "partially_paid")
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_number, claim.payer_claim_numbers) == (
        "adjudicated",
        "ICNB",
        ["ICNA", "ICNB"],
    )
    rows = session.scalars(select(RemittanceClaim).order_by(RemittanceClaim.position)).all()
    assert [
        (r.payer_claim_number, r.claim_id, r.outcome, r.paid_minor, r.adjustment_minor)
        for r in rows
    ] == [
        ("ICNA", claim.id, "adjudicated", 8000, 5000),
        ("ICNB", claim.id, "adjudicated", 2000, 3000),
    ]
    # Each part posted only its own line.
    assert [[ln["line_control_number"] for ln in r.detail["lines"]] for r in rows] == [
        ["C1L1"],
        ["C1L2"],
    ]
    assert count(session, RemittanceUnmatched) == 0
    evs = [(e.kind, e.from_status, e.to_status) for e in events(session, claim)][-2:]
    assert evs == [("split", "submitted", "submitted"), ("transition", "submitted", "adjudicated")]
    note, moved = events(session, claim)[-2:]
    assert note.detail["split"] == {"answered_lines": ["C1L1"], "pending_lines": ["C1L2"]}
    d = moved.detail
    assert (d["paid_minor"], d["patient_responsibility_minor"], d["charge_minor"]) == (
        10000,
        3000,
        21000,
    )
    assert d["payer_claim_numbers"] == ["ICNA", "ICNB"]
    assert [(x["payer_claim_number"], x["paid_minor"]) for x in d["splits"]] == [
        ("ICNA", 8000),
        ("ICNB", 2000),
    ]
    assert [(ln["line_control_number"], ln["paid_minor"]) for ln in d["lines"]] == [
        ("C1L1", 8000),
        ("C1L2", 2000),
    ]
    assert d["remarks"] == ["MA15"]
    # Underpayments per part: 80.00 + 20.00 meets 100.00; 20.00 + 10.00 is 10.00 below 40.00.
    [under] = session.scalars(select(Underpayment)).all()
    assert (under.remittance_claim_id, under.expected_minor, under.actual_minor) == (
        rows[1].id,
        4000,
        3000,
    )
    assert claim_read(claims_service.view(session, claim)).payer_claim_numbers == ["ICNA", "ICNB"]
    # The COB facts a secondary claim would carry are the whole claim's.
    event = secondary.adjudication_event(session, claim)
    assert event is not None
    assert event.id == moved.id


def test_a_split_across_two_835s_waits_for_every_line(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    first = post(session, w, era(w, [part_a(pcn)], "80"))
    assert [s.outcome for s in first.sets] == ["posted"]
    session.refresh(claim)
    # Line 2 has no answer yet: the claim has not moved; its first part's money is posted.
    assert (claim.status, claim.payer_claim_numbers) == ("submitted", ["ICNA"])
    assert balances(session, w) == {
        "1020": 8000,
        "1200": 2000,
        "1210": 6000,  # line 2 (60.00) is still with the payer
        "4000": -21000,
        "4200": 5000,
    }
    assert figures(session, w.invoice) == (8000, 5000, 8000, "partially_paid")
    assert denials.denial_of(session, claim) is None
    second = post(session, w, era(w, [denied_b(pcn)], "0", method="NON", trace="EFT0002"))
    assert [(s.outcome, s.unmatched) for s in second.sets] == [("posted", 0)]
    session.refresh(claim)
    # One part paid, one denied: adjudicated, with the denied line in the denial queue.
    assert (claim.status, claim.payer_claim_numbers) == ("adjudicated", ["ICNA", "ICNB"])
    assert balances(session, w) == {
        "1020": 8000,
        "1200": 2000,
        "1210": 6000,  # a denial is worked, not written off
        "4000": -21000,
        "4200": 5000,
    }
    assert figures(session, w.invoice) == (8000, 5000, 8000, "partially_paid")
    denial = denials.denial_of(session, claim)
    assert denial is not None
    assert [(ln.line_control_number, ln.at_stake_minor) for ln in denial.lines] == [("C1L2", 6000)]
    assert denial.at_stake_minor == 6000
    # Posting the second 835 again is a duplicate set: nothing changes.
    before = count(session, JournalEntry), count(session, ClaimEvent)
    again = post(session, w, era(w, [denied_b(pcn)], "0", method="NON", trace="EFT0002"))
    assert [s.outcome for s in again.sets] == ["duplicate"]
    assert (count(session, JournalEntry), count(session, ClaimEvent)) == before


def test_every_part_denied_denies_the_claim(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    denied_a = [
        f"CLP*{pcn}*4*150*0*0*12*ICNA*11*1",
        "SVC*HC:99213*150*0**1",
        "CAS*CO*50*150",
        "REF*6R*C1L1",
    ]
    post(session, w, era(w, [denied_a, denied_b(pcn)], "0", method="NON"))
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_numbers) == ("denied", ["ICNA", "ICNB"])
    assert balances(session, w) == {"1210": 21000, "4000": -21000}
    denial = denials.denial_of(session, claim)
    assert denial is not None
    assert denial.at_stake_minor == 21000
    assert count(session, Underpayment) == 0


def test_reversing_one_part_reverses_only_its_money(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [part_a(pcn), part_b(pcn)], "100"))
    reversal = [
        f"CLP*{pcn}*22*-60*-20*-10*12*ICNB*11*1",
        "SVC*HC:80053*-60*-20**-1",
        "CAS*CO*45*-30",
        "CAS*PR*2*-10",
    ]
    correction = [*part_b(pcn, icn="ICNB")]
    correction[0] = f"CLP*{pcn}*1*60*30*10*12*ICNB*11*1"
    correction[2] = "SVC*HC:80053*60*30**1"
    correction[4] = "CAS*CO*45*20"
    result = post(session, w, era(w, [reversal, correction], "10", trace="EFT0003"))
    assert [s.outcome for s in result.sets] == ["posted"], result.sets[0].message
    assert balances(session, w) == {"1020": 11000, "1200": 3000, "4000": -21000, "4200": 7000}
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_numbers) == ("adjudicated", ["ICNA", "ICNB"])
    moved = [e for e in events(session, claim) if e.kind == "transition"][-1]
    assert (moved.detail["paid_minor"], [x["paid_minor"] for x in moved.detail["splits"]]) == (
        11000,
        [8000, 3000],
    )


# -- predeterminations -------------------------------------------------------------------------
def test_a_predetermination_is_kept_on_the_claim_and_posts_no_money(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    clp = [
        f"CLP*{claim.control_number}*25*210*0*30*12*PDT1*11*1",
        "CAS*OA*101*120",
        "CAS*CO*45*60",
        "CAS*PR*1*30",
    ]
    entries, claims_events = count(session, JournalEntry), count(session, ClaimEvent)
    before = balances(session, w)
    result = post(session, w, era(w, [clp], "0", method="NON"))
    assert [(s.outcome, s.unmatched) for s in result.sets] == [("posted", 0)]
    assert count(session, JournalEntry) == entries  # no ledger row at all
    assert balances(session, w) == before == {"1200": 21000, "4000": -21000}
    assert figures(session, w.invoice) == (0, 0, 21000, "open")
    session.refresh(claim)
    assert (claim.status, claim.billed_entry_id, claim.payer_claim_number) == (
        "submitted",
        None,
        None,
    )
    assert claim.payer_claim_numbers == []
    [row] = session.scalars(select(RemittanceClaim)).all()
    assert (row.claim_id, row.outcome, row.entry_ids, row.paid_minor) == (
        claim.id,
        "predetermination",
        [],
        0,
    )
    assert claim.predetermination == {
        "payer_claim_number": "PDT1",
        "priced_on": "2026-02-10",
        "charge_minor": 21000,
        "anticipated_payment_minor": 12000,
        "patient_responsibility_minor": 3000,
        "adjustments": [
            {"group": "OA", "reason": "101", "amount_minor": 12000},
            {"group": "CO", "reason": "45", "amount_minor": 6000},
            {"group": "PR", "reason": "1", "amount_minor": 3000},
        ],
        "remarks": [],
        "lines": [],
        "remittance_id": str(result.sets[0].remittance_id),
        "remittance_claim_id": str(row.id),
        "currency": "USD",
    }
    assert count(session, ClaimEvent) == claims_events + 1
    [note] = [e for e in events(session, claim) if e.kind == "predetermination"]
    assert (note.from_status, note.to_status, note.actor_kind) == (
        "submitted",
        "submitted",
        "payer",
    )
    assert note.detail["anticipated_payment_minor"] == 12000
    assert note.detail["status_code"] == "25"
    assert (
        claim_read(claims_service.view(session, claim)).predetermination == claim.predetermination
    )
    assert (count(session, Underpayment), count(session, RemittanceUnmatched)) == (0, 0)
    assert denials.denial_of(session, claim) is None
    # The claim is still the payer's to answer: its real adjudication posts as usual.
    post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100", trace="EFT0009"))
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_numbers) == ("adjudicated", ["ICN1"])
    assert balances(session, w) == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}


def test_a_predetermination_of_no_claim_of_ours_is_unmatched_and_holds_nothing(
    session: Session,
) -> None:
    w = make_world(session)
    clp = ["CLP*RC99999999*25*210*0*0*12*PDT2*11*1", "CAS*OA*101*150", "CAS*CO*45*60"]
    entries = count(session, JournalEntry)
    result = post(session, w, era(w, [clp], "0", method="NON"))
    assert [(s.outcome, s.unmatched) for s in result.sets] == [("posted", 1)]
    assert count(session, JournalEntry) == entries
    [held] = session.scalars(select(RemittanceUnmatched)).all()
    assert (held.held_minor, held.status) == (0, "open")


# -- crossover ---------------------------------------------------------------------------------
def with_secondary(session: Session) -> tuple[World, Any]:
    w = make_world(session)
    second = make_payer(session, w.practice, name="Harbor Mutual", edi_payer_id="HM001")
    make_coverage(session, w.patient, make_plan(session, second), priority=2, member_id="S445")
    session.flush()
    return w, second


def crossed_over(pcn: str, *, status: str = "19", tt: bool = True, moa: str = "") -> list[str]:
    """The primary's answer (paid_claim's amounts) saying it forwarded the claim."""
    segs = [f"CLP*{pcn}*{status}*210*100*30*12*ICN1*11*1"]
    if tt:
        segs.append("NM1*TT*2*HARBOR MUTUAL*****PI*HM001")
    if moa:
        segs.append(f"MOA***{moa}")
    return [
        *segs,
        "SVC*HC:99213*150*80**1",
        "CAS*CO*45*50",
        "CAS*PR*1*20",
        "REF*6R*C1L1",
        "SVC*HC:80053*60*20**1",
        "CAS*CO*45*30",
        "CAS*PR*2*10",
        "REF*6R*C1L2",
    ]


def test_a_crossover_in_the_835_keeps_the_secondary_claim_for_the_next_payer(
    session: Session,
) -> None:
    w, second = with_secondary(session)
    primary = submitted(session, w)
    pcn = primary.control_number
    result = post(session, w, era(w, [crossed_over(pcn, moa="MA18")], "100"))
    assert [s.outcome for s in result.sets] == ["posted"]
    session.refresh(primary)
    assert primary.status == "adjudicated"
    [cob] = session.scalars(select(ClaimCob)).all()
    assert (cob.primary_claim_id, cob.outcome) == (primary.id, "crossover")
    assert (cob.crossover_payer_name, cob.crossover_payer_identifier) == ("HARBOR MUTUAL", "HM001")
    assert cob.prior_adjudication["paid_minor"] == 10000
    sec = session.get(Claim, cob.secondary_claim_id)
    assert sec is not None
    assert (sec.sequence, sec.payer_id, sec.status, sec.primary_claim_id, sec.charge_minor) == (
        "secondary",
        second.id,
        "submitted",
        primary.id,
        21000,
    )
    assert sec.billed_entry_id is not None
    assert sec.submitted_at is not None
    # We send no 837 for it: no batch, no submission.
    assert (count(session, ClaimBatch), count(session, ClaimSubmission)) == (0, 0)
    # The patient's 30.00 moved to the secondary payer (billed, as a sent secondary claim is).
    assert balances(session, w) == {"1020": 10000, "1210": 3000, "4000": -21000, "4200": 8000}
    assert figures(session, w.invoice) == (10000, 8000, 3000, "partially_paid")
    [note] = [e for e in events(session, primary) if e.kind == "crossover"]
    assert (note.actor_kind, note.detail) == (
        "payer",
        {
            "payer_id": str(w.payer.id),
            "crossover_payer": {"name": "HARBOR MUTUAL", "id": "HM001"},
            "signals": ["CLP02 19", "NM1*TT", "remark MA18"],
            "secondary_claim_id": str(sec.id),
        },
    )
    assert [(e.kind, e.to_status) for e in events(session, sec)] == [
        ("created", "draft"),
        ("transition", "scrubbed"),
        ("transition", "submitted"),
    ]
    # Nobody builds another secondary: the worker finds nothing, by hand the same decision.
    assert secondary.pending_primaries(session, 10) == []
    again = secondary.build_secondary(session, SYSTEM, primary.id)
    assert (again.outcome, again.created, again.secondary and again.secondary.claim.id) == (
        "crossover",
        False,
        sec.id,
    )
    # The secondary payer's 835 echoes the primary's CLM01 and posts on the secondary claim.
    sec_835 = era_text(
        "HM001",
        w.practice.npi,
        [
            [
                f"CLP*{pcn}*2*210*20*10*12*HMICN7*11*1",
                "CAS*OA*23*100",
                "CAS*CO*45*80",
                "CAS*PR*2*10",
            ]
        ],
        "20",
        trace="HM0001",
        payer_name="HARBOR MUTUAL",
    )
    posted = post(session, w, sec_835)
    assert [(s.outcome, s.unmatched) for s in posted.sets] == [("posted", 0)]
    session.refresh(sec)
    session.refresh(primary)
    assert (sec.status, sec.payer_claim_numbers) == ("adjudicated", ["HMICN7"])
    assert (primary.status, primary.payer_claim_numbers) == ("adjudicated", ["ICN1"])
    row = session.scalars(
        select(RemittanceClaim).where(RemittanceClaim.payer_claim_number == "HMICN7")
    ).one()
    assert (row.claim_id, row.outcome, row.paid_minor) == (sec.id, "adjudicated", 2000)
    # It clears exactly the 30.00 billed to it: 20.00 paid, 10.00 back to the patient.
    assert balances(session, w) == {"1020": 12000, "1200": 1000, "4000": -21000, "4200": 8000}
    assert figures(session, w.invoice) == (12000, 8000, 1000, "partially_paid")


def test_crossover_signals_each_alone(session: Session) -> None:
    """CLP02 20 alone, NM1*TT alone (CLP02 1) and N89 alone each mark the crossover; a plain
    CLP02 1 does not."""
    for status, tt, moa, expected in (
        ("20", False, "", ["CLP02 20"]),
        ("1", True, "", ["NM1*TT"]),
        ("1", False, "N89", ["remark N89"]),
        ("1", False, "", None),
    ):
        w, _ = with_secondary(session)
        primary = submitted(session, w)
        post(
            session,
            w,
            era(w, [crossed_over(primary.control_number, status=status, tt=tt, moa=moa)], "100"),
        )
        cob = session.scalar(select(ClaimCob).where(ClaimCob.primary_claim_id == primary.id))
        if expected is None:
            assert cob is None
            continue
        assert cob is not None
        assert cob.outcome == "crossover"
        [note] = [e for e in events(session, primary) if e.kind == "crossover"]
        assert note.detail["signals"] == expected


def test_crossover_without_a_secondary_coverage_records_the_decision_only(
    session: Session,
) -> None:
    w = make_world(session)
    primary = submitted(session, w)
    claims_before = count(session, Claim)
    post(session, w, era(w, [crossed_over(primary.control_number)], "100"))
    [cob] = session.scalars(select(ClaimCob)).all()
    assert (cob.outcome, cob.secondary_claim_id, cob.crossover_payer_identifier) == (
        "crossover",
        None,
        "HM001",
    )
    assert count(session, Claim) == claims_before
    # The patient keeps owing the 30.00: nothing was billed to another payer.
    assert balances(session, w) == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}


# -- a second answer without a reversal ----------------------------------------------------------
def _held(session: Session) -> list[tuple[str, int, str]]:
    session.flush()
    return [
        (u.status, u.held_minor, u.reason)
        for u in session.scalars(select(RemittanceUnmatched).order_by(RemittanceUnmatched.id))
    ]


def test_a_payment_repeated_in_a_later_835_is_held_not_posted_twice(session: Session) -> None:
    """The payer pays an adjudicated claim again (other trace, other CLP07) without reversing
    the first payment: the cash is recorded, held in 2300 for review; the claim, its invoice and
    the patient's share are left exactly as the first answer put them."""
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [paid_claim(pcn, "ICN1")], "100", trace="EFT-1"))
    after_first = balances(session, w)
    assert after_first == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}
    events_before = len(events(session, claim))
    result = post(session, w, era(w, [paid_claim(pcn, "ICN2")], "100", trace="EFT-2"))
    [s] = result.sets
    assert (s.outcome, s.claims, s.unmatched, result.ok) == ("posted", 1, 1, True)
    # Only the bank and 2300 moved: the second 100.00 is owed back until the payer recoups it.
    assert balances(session, w) == {
        "1020": 20000,
        "1200": 3000,
        "2300": -10000,
        "4000": -21000,
        "4200": 8000,
    }
    assert figures(session, w.invoice) == (10000, 8000, 3000, "partially_paid")
    [(status, held_minor, reason)] = _held(session)
    assert (status, held_minor) == ("open", 10000)
    assert reason == (
        f"claim {pcn} was already settled by this payer (835 trace EFT-1, payer claim ICN1) and "
        "this answer comes without a reversal (CLP02 22): held for review so it is not posted "
        "twice"
    )
    rows = session.scalars(select(RemittanceClaim).order_by(RemittanceClaim.id)).all()
    assert [(r.payer_claim_number, r.outcome, r.claim_id) for r in rows] == [
        ("ICN1", "adjudicated", claim.id),
        ("ICN2", "unmatched", None),
    ]
    assert len(events(session, claim)) == events_before  # the claim did not move
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_numbers) == ("adjudicated", ["ICN1"])


def test_the_same_claim_twice_in_one_set_is_posted_once(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    result = post(session, w, era(w, [paid_claim(pcn, "ICN1"), paid_claim(pcn, "ICN1")], "200"))
    [s] = result.sets
    assert (s.outcome, s.claims, s.unmatched) == ("posted", 2, 1)
    assert balances(session, w) == {
        "1020": 20000,
        "1200": 3000,
        "2300": -10000,
        "4000": -21000,
        "4200": 8000,
    }
    [(status, held_minor, reason)] = _held(session)
    assert (status, held_minor) == ("open", 10000)
    assert "already settled by this payer" in reason


def test_a_held_repeat_cannot_be_matched_onto_the_settled_claim(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [paid_claim(pcn, "ICN1")], "100", trace="EFT-1"))
    post(session, w, era(w, [paid_claim(pcn, "ICN2")], "100", trace="EFT-2"))
    held = session.scalars(select(RemittanceUnmatched)).one()
    before = balances(session, w)
    entries = count(session, JournalEntry)
    with pytest.raises(DomainError) as exc:
        remittances.match_unmatched(session, SYSTEM, held.id, claim.id)
    assert exc.value.code == "remittance.cannot_match"
    assert "already settled by this payer" in exc.value.message
    assert (balances(session, w), count(session, JournalEntry)) == (before, entries)
    session.refresh(held)
    assert held.status == "open"


def test_after_the_payers_reversal_the_corrected_answer_posts(session: Session) -> None:
    """The same money as a reversal first: the corrected claim posts as usual."""
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [paid_claim(pcn, "ICN1")], "100", trace="EFT-1"))
    reversal = [
        f"CLP*{pcn}*22*-210*-100*-30*12*ICN1*11*1",
        "CAS*CO*45*-80",
        "CAS*PR*1*-20",
        "CAS*PR*2*-10",
    ]
    result = post(session, w, era(w, [reversal, paid_claim(pcn, "ICN2")], "0", trace="EFT-2"))
    [s] = result.sets
    assert (s.outcome, s.unmatched) == ("posted", 0)
    assert balances(session, w) == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}
    assert _held(session) == []


def test_a_split_part_repeated_is_held_but_the_other_part_posts(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [part_a(pcn)], "80", trace="EFT-A"))
    result = post(session, w, era(w, [part_a(pcn, icn="ICNA2"), part_b(pcn)], "100", trace="EFT-B"))
    [s] = result.sets
    assert (s.outcome, s.claims, s.unmatched) == ("posted", 2, 1)
    # Line 1 once (the repeat's 80.00 held in 2300), line 2 posted: the whole claim's answer.
    assert balances(session, w) == {
        "1020": 18000,
        "1200": 3000,
        "2300": -8000,
        "4000": -21000,
        "4200": 8000,
    }
    session.refresh(claim)
    assert claim.status == "adjudicated"
    [(status, held_minor, _reason)] = _held(session)
    assert (status, held_minor) == ("open", 8000)
