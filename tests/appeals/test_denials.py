"""Reason-code descriptions and the denial work queue: which claims are in it, the amount at
stake, age and deadline, grouping by reason / payer / age, filters and who sees what."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from revcycle.claims import denials, reason_codes, states
from revcycle.kit.clock import today
from tests.factories.appeals import decided_claim, denied_detail, paid_detail, submitted_claim
from tests.factories.auth import make_user, principal
from tests.factories.claims import make_world
from tests.factories.insurance import make_payer
from tests.factories.practices import SYSTEM

ASKED_REASONS = "1 2 3 4 5 11 16 18 22 23 26 27 29 45 50 96 97 109 119 151 167 170 197 204 242 253"
ASKED_REMARKS = "M15 M80 MA04 MA130 N130 N290 N362 N522 N4"


def test_descriptions_cover_the_common_codes_and_unknown_codes_still_work() -> None:
    for code in ASKED_REASONS.split():
        assert reason_codes.describe_reason(code) != reason_codes.NO_DESCRIPTION, code
    for code in ASKED_REMARKS.split():
        assert reason_codes.describe_remark(code) != reason_codes.NO_DESCRIPTION, code
    for group in ("CO", "PR", "OA", "PI"):
        assert reason_codes.describe_group(group) != reason_codes.NO_DESCRIPTION
    assert reason_codes.describe_reason("50") == (
        "The payer does not find the service medically necessary"
    )
    assert reason_codes.describe_remark(" ma130 ").startswith("The claim is missing information")
    assert reason_codes.describe_reason("Z99") == "no description on file"
    assert reason_codes.describe_remark("XX1") == "no description on file"
    assert reason_codes.describe_group("ZZ") == "no description on file"
    assert reason_codes.describe_adjustment("PR", "1") == (
        "Patient responsibility: the patient owes it. The patient's deductible took this amount"
    )


def test_queue_lists_denials_with_stakes_age_and_deadline(session: Session) -> None:
    w1, denied = decided_claim(session, days_ago=10)
    _, partly = decided_claim(session, to="adjudicated", days_ago=45)
    _, paid = decided_claim(session, to="adjudicated", days_ago=5)
    # A fully paid claim is not a denial: re-adjudicate it with no denied line.
    states.transition(
        session,
        paid,
        "adjudicated",
        actor=SYSTEM,
        actor_kind="payer",
        detail=paid_detail(paid, today(), deny_line_2=False),
    )
    _, draft = submitted_claim(session)  # submitted: not decided
    session.flush()

    q = denials.queue(session, SYSTEM)
    by_claim = {d.claim.id: d for d in q.items}
    assert set(by_claim) == {denied.id, partly.id}
    d = by_claim[denied.id]
    assert (d.at_stake_minor, d.paid_minor, d.age_days, d.age_bucket) == (21000, 0, 10, "0-30")
    assert d.adjudicated_on == today() - dt.timedelta(days=10)
    assert d.deadline == d.adjudicated_on + dt.timedelta(days=60)
    assert d.days_left == 50
    assert d.primary_reason == "CO-50"
    assert [(r.code, r.description) for r in d.remarks] == [
        ("N130", reason_codes.describe_remark("N130")),
        ("ZZ999", "no description on file"),
    ]
    assert [(ln.line_control_number, ln.at_stake_minor) for ln in d.lines] == [
        (f"C{denied.number}L1", 15000),
        (f"C{denied.number}L2", 6000),
    ]
    p = by_claim[partly.id]
    # Only line 2 (paid 0, CO-97 60.00) is denied; line 1's CO-45 is the contract, not a denial.
    assert (p.at_stake_minor, p.age_days, p.age_bucket, p.primary_reason) == (
        6000,
        45,
        "31-60",
        "CO-97",
    )
    assert [ln.procedure for ln in p.lines] == ["80053"]
    # Soonest deadline first.
    assert [x.claim.id for x in q.items] == [partly.id, denied.id]
    assert (q.at_stake_minor, q.currency, q.truncated) == (27000, "USD", False)
    assert draft.status == "submitted"
    assert w1.payer.appeal_deadline_days == 60


def test_queue_groups_with_counts_and_totals(session: Session) -> None:
    w, a = decided_claim(session, days_ago=5)
    other_payer = make_payer(session, w.practice, name="Harbor Mutual")
    _, b = decided_claim(session, days_ago=70)
    _, c = decided_claim(session, to="adjudicated", days_ago=120)
    _, e = decided_claim(session, days_ago=35)
    # e's denial: everything CO-16 (claim level), no line detail.
    states.transition(
        session,
        e,
        "denied",
        actor=SYSTEM,
        actor_kind="payer",
        detail=denied_detail(
            e,
            today() - dt.timedelta(days=35),
            adjustments=[{"group": "CO", "reason": "16", "amount_minor": 21000}],
            lines=[],
        ),
    )
    session.flush()

    by_reason = denials.queue(session, SYSTEM, group_by="reason")
    assert [(g.key, g.count, g.at_stake_minor) for g in by_reason.groups] == [
        ("CO-50", 2, 42000),
        ("CO-16", 1, 21000),
        ("CO-97", 1, 6000),
    ]
    assert by_reason.groups[0].label == reason_codes.describe_reason("50")

    by_age = denials.queue(session, SYSTEM, group_by="age")
    assert [(g.key, g.count, g.at_stake_minor) for g in by_age.groups] == [
        ("0-30", 1, 21000),
        ("31-60", 1, 21000),
        ("61-90", 1, 21000),
        ("90+", 1, 6000),
    ]
    by_payer = denials.queue(session, SYSTEM, group_by="payer")
    assert sorted((g.count, g.at_stake_minor) for g in by_payer.groups) == [
        (1, 6000),
        (1, 21000),
        (1, 21000),
        (1, 21000),
    ]
    assert other_payer.name == "Harbor Mutual"

    assert [d.claim.id for d in denials.queue(session, SYSTEM, reason="97").items] == [c.id]
    assert {d.claim.id for d in denials.queue(session, SYSTEM, remark="n130").items} == {
        a.id,
        b.id,
        e.id,
    }
    assert [d.claim.id for d in denials.queue(session, SYSTEM, age="61-90").items] == [b.id]
    assert [d.claim.id for d in denials.queue(session, SYSTEM, payer_id=w.payer.id).items] == [a.id]
    assert denials.queue(session, SYSTEM, reason="4").items == []


def test_staff_see_their_practice_and_patients_their_own_claims(session: Session) -> None:
    w1, mine = decided_claim(session)
    w2, theirs = decided_claim(session)
    staff = principal(session, make_user(session, "billing_staff", practices=[w1.practice]))
    assert [d.claim.id for d in denials.queue(session, staff).items] == [mine.id]
    patient = principal(session, make_user(session, "patient", patient=w2.patient))
    assert [d.claim.id for d in denials.queue(session, patient).items] == [theirs.id]
    stranger_world = make_world(session)
    stranger = principal(session, make_user(session, "patient", patient=stranger_world.patient))
    assert denials.queue(session, stranger).items == []


def test_a_line_that_went_to_the_deductible_is_not_a_denial(session: Session) -> None:
    """Nothing paid but the patient owes it (PR-1): adjudicated as the contract says, not
    denied; nothing paid and nothing asked of the patient (CO-97): denied."""
    w, claim = submitted_claim(session)
    on = today() - dt.timedelta(days=5)
    detail = paid_detail(claim, on)
    detail["lines"][0]["paid_minor"] = 0
    detail["lines"][0]["adjustments"] = [
        {"group": "CO", "reason": "45", "amount_minor": 3000},
        {"group": "PR", "reason": "1", "amount_minor": 12000},
    ]
    detail["paid_minor"] = 0
    detail["patient_responsibility_minor"] = 12000
    states.transition(
        session, claim, "adjudicated", actor=SYSTEM, actor_kind="payer", reason="835", detail=detail
    )
    session.flush()
    denial = denials.denial_of(session, claim)
    assert denial is not None
    assert [(ln.line_control_number, ln.at_stake_minor) for ln in denial.lines] == [
        (f"C{claim.number}L2", 6000)
    ]
