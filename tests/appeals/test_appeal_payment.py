"""The payer's later 835 for an appealed claim (docs/denials-appeals.md, "When the payer pays"):
the posting links the payment to the appeal, records what it recovered and settles the outcome,
with the money posted exactly once. Every 835 here is hand-written with its exact amounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.appeals import service as appeals
from revcycle.appeals.models import Appeal, AppealEvent
from revcycle.appeals.schemas import AppealCreate, AppealOutcomeIn
from revcycle.audit import service as audit
from revcycle.claims import denials, states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.invoices import service as invoices_service
from revcycle.ledger import service as ledger
from revcycle.ledger.models import JournalEntry
from revcycle.remittances import service as remittances
from revcycle.remittances.models import RemittanceClaim
from tests.factories.claims import World, make_claim, make_world
from tests.factories.practices import SYSTEM
from tests.remittances.helpers import era_text

PAID_ON = dt.date(2026, 2, 10)  # BPR16 of every 835 the helper writes


def _submitted(session: Session) -> tuple[World, Claim]:
    w = make_world(session)
    claim = make_claim(session, w).claim
    for status in ("scrubbed", "submitted"):
        states.transition(session, claim, status, actor=SYSTEM, actor_kind="system")
    session.flush()
    return w, claim


def _post(session: Session, w: World, claims: list[list[str]], amount: str, trace: str) -> str:
    content = era_text(w.payer.edi_payer_id, w.practice.npi, claims, amount, trace=trace)
    result = remittances.post_file(session, SYSTEM, content.encode(), practice_id=w.practice.id)
    [s] = result.sets
    assert s.outcome == "posted", s.message
    return content


def _balances(session: Session, w: World) -> dict[str, int]:
    session.flush()
    tb = ledger.trial_balance(session, w.practice.id, date_from=None, date_to=dt.date(2100, 1, 1))
    return {r.code: r.closing_minor for r in tb.rows if r.closing_minor}


def _count(session: Session, model: Any) -> int:
    session.flush()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _appeal(session: Session, claim: Claim, *, won: bool = False) -> Appeal:
    v = appeals.create_appeal(
        session,
        SYSTEM,
        AppealCreate(claim_id=claim.id, argument="Medically necessary.", late_reason="Test"),
    )
    appeals.send_appeal(session, SYSTEM, v.appeal.id)
    if won:
        appeals.record_outcome(session, SYSTEM, v.appeal.id, AppealOutcomeIn(outcome="won"))
    session.flush()
    return v.appeal


def _events(session: Session, appeal: Appeal) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    session.flush()
    return [
        (e.kind, e.from_status, e.to_status, dict(e.detail))
        for e in session.scalars(
            select(AppealEvent)
            .where(AppealEvent.appeal_id == appeal.id)
            .order_by(AppealEvent.at, AppealEvent.id)
        )
    ]


def _rows(session: Session) -> list[RemittanceClaim]:
    session.flush()
    return list(session.scalars(select(RemittanceClaim).order_by(RemittanceClaim.id)))


def _appeal_entries(session: Session) -> list[JournalEntry]:
    session.flush()
    return list(session.scalars(select(JournalEntry).where(JournalEntry.source_type == "appeal")))


def _denial_835(pcn: str) -> list[str]:
    return [f"CLP*{pcn}*4*210*0*0*12*ICN9*11*1", "CAS*CO*50*210", "MOA***N115"]


def _reversal_of_denial(pcn: str) -> list[str]:
    return [f"CLP*{pcn}*22*-210*0*0*12*ICN9*11*1", "CAS*CO*50*-210", "MOA***N115"]


def _repost(pcn: str, paid: int, co45: int) -> list[str]:
    """The payer's corrected adjudication of the whole claim (210.00 billed)."""
    return [f"CLP*{pcn}*1*210*{paid}*0*12*ICN9*11*1", f"CAS*CO*45*{co45}"]


def test_a_sent_appeal_is_won_by_the_reversal_and_repost(session: Session) -> None:
    w, claim = _submitted(session)
    pcn = claim.control_number
    _post(session, w, [_denial_835(pcn)], "0", "EFT-DENY")
    # The posting recorded what to do about the denial (the default table: CO-50 -> appeal).
    event = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_id == claim.id, ClaimEvent.to_status == "denied")
    ).one()
    assert (event.detail["adjustment_actions"], event.detail["action"]) == (["appeal"], "appeal")
    assert event.detail["adjustments"] == [{"group": "CO", "reason": "50", "amount_minor": 21000}]
    appeal = _appeal(session, claim)
    assert (appeal.status, appeal.at_stake_minor) == ("sent", 21000)
    assert _balances(session, w) == {"1210": 21000, "4000": -21000}

    content = _post(
        session, w, [_reversal_of_denial(pcn), _repost(pcn, 150, 60)], "150", "EFT-APPEAL"
    )

    # The money: posted once, by the posting (150.00 paid, 60.00 contractual), none by the appeal.
    assert _balances(session, w) == {"1020": 15000, "4000": -21000, "4200": 6000}
    assert _appeal_entries(session) == []
    fig = invoices_service.invoice_figures(session, claim.invoice_id)
    assert (fig.paid, fig.adjusted, fig.balance) == (15000, 6000, 0)
    denial_row, reversal_row, repost_row = _rows(session)
    assert (denial_row.outcome, reversal_row.outcome, repost_row.outcome) == (
        "denied",
        "reversal",
        "adjudicated",
    )
    assert reversal_row.reverses_id == denial_row.id
    session.refresh(appeal)
    session.refresh(claim)
    assert claim.status == "adjudicated"
    assert (
        appeal.status,
        appeal.recovered_minor,
        appeal.remittance_claim_id,
        appeal.decided_on,
        appeal.outcome_entry_id,
    ) == ("won", 15000, repost_row.id, PAID_ON, None)
    kind, before, after, detail = _events(session, appeal)[-1]
    assert (kind, before, after) == ("payment", "sent", "won")
    assert detail == {
        "remittance_id": str(repost_row.remittance_id),
        "remittance_claim_id": str(repost_row.id),
        "paid_minor": 15000,
        "recovered_minor": 15000,
        "still_disputed_minor": 0,
        "expected_minor": None,
        "reinstated_minor": 0,
        "reinstated_entry_id": None,
    }
    note = session.scalars(
        select(ClaimEvent).where(
            ClaimEvent.claim_id == claim.id, ClaimEvent.kind == "appeal_payment"
        )
    ).one()
    assert (note.detail["appeal_id"], note.detail["outcome"], note.detail["recovered_minor"]) == (
        str(appeal.id),
        "won",
        15000,
    )
    assert note.actor_kind == "payer"
    # Paid: not in the denial queue any more.
    assert denials.denial_of(session, claim) is None

    # The same file again is a duplicate: nothing moves, the appeal is not linked twice.
    audit.flush_pending(session)
    before_state = (
        _balances(session, w),
        _count(session, AppealEvent),
        _count(session, ClaimEvent),
    )
    again = remittances.post_file(session, SYSTEM, content.encode(), practice_id=w.practice.id)
    assert [s.outcome for s in again.sets] == ["duplicate"]
    assert (
        _balances(session, w),
        _count(session, AppealEvent),
        _count(session, ClaimEvent),
    ) == before_state


def test_a_won_appeal_paid_in_part_is_partially_won(session: Session) -> None:
    w, claim = _submitted(session)
    pcn = claim.control_number
    _post(session, w, [_denial_835(pcn)], "0", "EFT-DENY")
    appeal = _appeal(session, claim, won=True)
    session.refresh(claim)
    assert (appeal.status, appeal.expected_minor, claim.status) == ("won", 21000, "adjudicated")
    # The payer pays 100.00, takes 60.00 by contract and still refuses 50.00 (CO-50).
    repost = [f"CLP*{pcn}*1*210*100*0*12*ICN9*11*1", "CAS*CO*45*60", "CAS*CO*50*50"]
    _post(session, w, [_reversal_of_denial(pcn), repost], "100", "EFT-PART")
    assert _balances(session, w) == {"1020": 10000, "4000": -21000, "4200": 11000}
    session.refresh(appeal)
    assert (appeal.status, appeal.recovered_minor, appeal.expected_minor) == (
        "partially_won",
        10000,
        21000,
    )
    kind, before, after, detail = _events(session, appeal)[-1]
    assert (kind, before, after) == ("payment", "won", "partially_won")
    assert (detail["recovered_minor"], detail["still_disputed_minor"]) == (10000, 5000)


def test_a_payment_for_a_written_off_denied_line_is_not_counted_twice(session: Session) -> None:
    """An adjudicated claim's denied line was written off by the first 835; the payer pays it on
    a new CLP of that line only, without reversing the first: the write-off is reinstated."""
    w, claim = _submitted(session)
    pcn, n = claim.control_number, claim.number
    first = [
        f"CLP*{pcn}*1*210*100*0*12*ICN2*11*1",
        "SVC*HC:99213*150*100**1",
        "CAS*CO*45*50",
        f"REF*6R*C{n}L1",
        "SVC*HC:80053*60*0**1",
        "CAS*CO*50*60",
        f"REF*6R*C{n}L2",
    ]
    _post(session, w, [first], "100", "EFT-FIRST")
    assert _balances(session, w) == {"1020": 10000, "4000": -21000, "4200": 11000}
    [queued] = denials.queue(session, SYSTEM, practice_id=w.practice.id, action="appeal").items
    assert (queued.claim.id, queued.at_stake_minor, queued.action) == (claim.id, 6000, "appeal")
    assert [(ln.procedure, ln.action) for ln in queued.lines] == [("80053", "appeal")]
    appeal = _appeal(session, claim)
    assert (appeal.at_stake_minor, appeal.claim_status_before) == (6000, "adjudicated")
    # Line 2 only: 40.00 paid, 10.00 contractual, 10.00 still refused.
    second = [
        f"CLP*{pcn}*1*60*40*0*12*ICN3*11*1",
        "SVC*HC:80053*60*40**1",
        "CAS*CO*45*10",
        "CAS*CO*50*10",
        f"REF*6R*C{n}L2",
    ]
    _post(session, w, [second], "40", "EFT-SECOND")
    # 140.00 paid; 50.00 + 10.00 + 10.00 contractual; the 60.00 written off before is taken back.
    assert _balances(session, w) == {"1020": 14000, "4000": -21000, "4200": 7000}
    fig = invoices_service.invoice_figures(session, claim.invoice_id)
    assert (fig.paid, fig.adjusted, fig.balance) == (14000, 7000, 0)
    [entry] = _appeal_entries(session)
    assert (entry.kind, entry.source_id) == ("claim.adjustment", appeal.id)
    session.refresh(appeal)
    assert (appeal.status, appeal.recovered_minor) == ("partially_won", 4000)
    detail = _events(session, appeal)[-1][3]
    assert (detail["reinstated_minor"], detail["reinstated_entry_id"]) == (6000, str(entry.id))
    assert detail["still_disputed_minor"] == 1000


def test_a_reversed_payment_is_unlinked_and_the_correction_links_again(session: Session) -> None:
    w, claim = _submitted(session)
    pcn = claim.control_number
    _post(session, w, [_denial_835(pcn)], "0", "EFT-DENY")
    appeal = _appeal(session, claim)
    _post(session, w, [_reversal_of_denial(pcn), _repost(pcn, 150, 60)], "150", "EFT-1")
    first_repost = _rows(session)[-1]
    # The payer corrects its payment: reverses 150.00 and pays 160.00 (CO-45 50.00).
    reversal = [f"CLP*{pcn}*22*-210*-150*0*12*ICN9*11*1", "CAS*CO*45*-60"]
    _post(session, w, [reversal, _repost(pcn, 160, 50)], "10", "EFT-2")
    assert _balances(session, w) == {"1020": 16000, "4000": -21000, "4200": 5000}
    second_repost = _rows(session)[-1]
    session.refresh(appeal)
    assert (appeal.status, appeal.recovered_minor, appeal.remittance_claim_id) == (
        "won",
        16000,
        second_repost.id,
    )
    kinds = [(k, b, a) for k, b, a, _ in _events(session, appeal)]
    assert kinds[-3:] == [
        ("payment", "sent", "won"),
        ("payment_reversed", "won", "won"),
        ("payment", "won", "won"),
    ]
    assert _events(session, appeal)[-2][3]["remittance_claim_id"] == str(first_repost.id)
    assert _appeal_entries(session) == []


def test_a_denial_upheld_or_a_draft_appeal_is_not_settled_by_the_835(session: Session) -> None:
    w, claim = _submitted(session)
    pcn = claim.control_number
    _post(session, w, [_denial_835(pcn)], "0", "EFT-DENY")
    appeal = _appeal(session, claim)
    # The payer answers again with a denial: the appeal stays sent, for the staff to decide.
    again = [f"CLP*{pcn}*4*210*0*0*12*ICN10*11*1", "CAS*CO*50*210"]
    _post(session, w, [again], "0", "EFT-AGAIN")
    session.refresh(appeal)
    session.refresh(claim)
    assert (appeal.status, appeal.recovered_minor, claim.status) == ("sent", None, "denied")
    assert [k for k, *_ in _events(session, appeal)] == ["created", "status"]

    # A draft appeal is not linked either.
    w2, claim2 = _submitted(session)
    _post(session, w2, [_denial_835(claim2.control_number)], "0", "EFT-DENY2")
    draft = appeals.create_appeal(
        session,
        SYSTEM,
        AppealCreate(claim_id=claim2.id, argument="Necessary.", late_reason="Test"),
    ).appeal
    _post(
        session,
        w2,
        [_reversal_of_denial(claim2.control_number), _repost(claim2.control_number, 150, 60)],
        "150",
        "EFT-PAY2",
    )
    session.refresh(draft)
    assert (draft.status, draft.recovered_minor, draft.remittance_claim_id) == (
        "draft",
        None,
        None,
    )
