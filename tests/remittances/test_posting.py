"""835 posting (docs/remittance-posting.md): exact ledger postings per account, invoice and
patient figures, claim states and event details, idempotency, quarantine, refusals, crashes,
reversals, provider-level adjustments, the unmatched queue, underpayments, concurrency and the
shared corpus. Every 835 here is written as text with its exact amounts."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.claims import secondary as secondary_claims
from revcycle.claims import service as claims_service
from revcycle.claims import states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import get_settings
from revcycle.errors import DomainError
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.ledger import service as ledger
from revcycle.ledger.models import JournalEntry
from revcycle.ledger.repository import LedgerRepository
from revcycle.remittances import errors, queries, service
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceQuarantine,
    RemittanceUnmatched,
    Underpayment,
)
from tests.factories.auth import auth_header, make_user
from tests.factories.claims import World, make_claim, make_world
from tests.factories.insurance import make_coverage, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.practices import SYSTEM
from tests.remittances.helpers import era_text

# ../shared/corpus/x12 next to the project (REVCYCLE_X12_CORPUS overrides, e.g. in a worktree).
CORPUS = Path(
    os.environ.get(
        "REVCYCLE_X12_CORPUS",
        str(Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x12"),
    )
)
CORPUS_835 = (
    "medicare-part-a.835",
    "managed-care.835",
    "emedny_sample.txt",
    "united_healthcare_legacy_sample.txt",
    "835_mult_loops.txt",
    "835_WithMultipleInterchanges.txt",
    "835_DeIdent_01.dat",
)


# -- building 835 text -------------------------------------------------------------------------
def era(
    w: World,
    claims: list[list[str]],
    amount: str,
    *,
    payer_id: str | None = None,
    **kw: Any,
) -> str:
    return era_text(payer_id or w.payer.edi_payer_id, w.practice.npi, claims, amount, **kw)


def paid_claim(pcn: str, icn: str, number: int = 1) -> list[str]:
    """210.00 billed; paid 100.00; CO-45 80.00; PR deductible 20.00 + coinsurance 10.00."""
    return [
        f"CLP*{pcn}*1*210*100*30*12*{icn}*11*1",
        "NM1*QC*1*DOE*JANE****MI*W123456789",
        "SVC*HC:99213*150*80**1",
        "DTM*472*20260105",
        "CAS*CO*45*50",
        "CAS*PR*1*20",
        f"REF*6R*C{number}L1",
        "SVC*HC:80053*60*20**1",
        "DTM*472*20260105",
        "CAS*CO*45*30",
        "CAS*PR*2*10",
        f"REF*6R*C{number}L2",
    ]


def submitted(session: Session, w: World, **overrides: Any) -> Claim:
    """A claim built from the world's invoice and sent (not yet billed: posting bills it)."""
    claim = make_claim(session, w, **overrides).claim
    states.transition(session, claim, "scrubbed", actor=SYSTEM, actor_kind="system")
    states.transition(session, claim, "submitted", actor=SYSTEM, actor_kind="system")
    session.flush()
    return claim


def balances(session: Session, w: World) -> dict[str, int]:
    session.flush()
    tb = ledger.trial_balance(session, w.practice.id, date_from=None, date_to=dt.date(2100, 1, 1))
    return {r.code: r.closing_minor for r in tb.rows if r.closing_minor}


def count(session: Session, model: type[Any]) -> int:
    session.flush()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def figures(session: Session, invoice: Invoice) -> tuple[int, int, int, str]:
    fig = invoices_service.invoice_figures(session, invoice.id)
    session.refresh(invoice)
    return fig.paid, fig.adjusted, fig.balance, invoice.status


def post(session: Session, w: World, content: str) -> service.PostResult:
    return service.post_file(session, SYSTEM, content.encode(), practice_id=w.practice.id)


def snapshot(session: Session) -> tuple[int, ...]:
    return tuple(
        count(session, m)
        for m in (
            JournalEntry,
            Remittance,
            RemittanceClaim,
            RemittanceQuarantine,
            RemittanceUnmatched,
            Underpayment,
            ClaimEvent,
        )
    )


# -- the full cycle ----------------------------------------------------------------------------
def test_full_cycle_posts_exact_amounts(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    before = balances(session, w)
    assert before == {"1200": 21000, "4000": -21000}
    result = post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100"))
    [s] = result.sets
    assert (s.outcome, s.claims, s.unmatched, result.ok) == ("posted", 1, 0, True)
    assert balances(session, w) == {
        "1020": 10000,  # the bank: the ACH
        "1200": 3000,  # the patient owes the deductible and coinsurance
        "4000": -21000,
        "4200": 8000,  # contractual write-down
    }
    assert figures(session, w.invoice) == (10000, 8000, 3000, "partially_paid")
    due, _credit = LedgerRepository(session).patient_balances(w.patient.id)
    assert due == 3000
    session.refresh(claim)
    assert (claim.status, claim.payer_claim_number) == ("adjudicated", "ICN1")
    assert claim.billed_entry_id is not None  # posting billed the never-billed claim first
    [row] = session.scalars(select(RemittanceClaim)).all()
    assert (
        row.claim_id,
        row.outcome,
        row.paid_minor,
        row.adjustment_minor,
        row.patient_responsibility_minor,
        row.deductible_minor,
        row.coinsurance_minor,
        row.copay_minor,
        row.other_patient_minor,
    ) == (claim.id, "adjudicated", 10000, 8000, 3000, 2000, 1000, 0, 0)
    kinds = sorted(
        session.scalar(select(JournalEntry.kind).where(JournalEntry.id == uuid.UUID(e)))
        for e in row.entry_ids
    )
    assert kinds == ["claim.adjustment", "claim.patient_responsibility", "claim.payment"]
    for e in row.entry_ids:
        entry = session.get(JournalEntry, uuid.UUID(e))
        assert entry is not None
        assert (entry.source_type, entry.source_id) == ("remittance_claim", row.id)
        assert entry.effective_date == dt.date(2026, 2, 10)
        for p in LedgerRepository(session).postings_of(entry.id):
            assert (p.patient_id, p.invoice_id) == (w.patient.id, w.invoice.id)
    event = session.scalars(
        select(ClaimEvent).where(
            ClaimEvent.claim_id == claim.id, ClaimEvent.to_status == "adjudicated"
        )
    ).one()
    assert (event.actor_kind, event.from_status) == ("payer", "submitted")
    d = event.detail
    assert {k: d[k] for k in ("payer_claim_number", "adjudicated_on", "status_code")} == {
        "payer_claim_number": "ICN1",
        "adjudicated_on": "2026-02-10",
        "status_code": "1",
    }
    assert (d["paid_minor"], d["patient_responsibility_minor"]) == (10000, 3000)
    assert d["adjustments"] == []
    assert d["remarks"] == []
    assert d["remittance_id"] == str(s.remittance_id)
    assert [
        (ln["line_control_number"], ln["procedure"], ln["modifiers"], ln["units"], ln["paid_minor"])
        for ln in d["lines"]
    ] == [("C1L1", "99213", [], "1", 8000), ("C1L2", "80053", [], "1", 2000)]
    assert d["lines"][0]["adjustments"] == [
        {"group": "CO", "reason": "45", "amount_minor": 5000},
        {"group": "PR", "reason": "1", "amount_minor": 2000},
    ]
    # Expected allowed 140.00 (100.00 + 40.00); paid + patient = 130.00: 10.00 short.
    [under] = session.scalars(select(Underpayment)).all()
    assert (under.claim_id, under.expected_minor, under.actual_minor, under.difference_minor) == (
        claim.id,
        14000,
        13000,
        1000,
    )
    page = queries.list_underpayments(
        session, SYSTEM, practice_id=w.practice.id, status="open", cursor=None, limit=10
    )
    assert [u.id for u in page.items] == [under.id]


def test_denial_moves_the_claim_and_writes_nothing_off(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    clp = [
        f"CLP*{claim.control_number}*4*210*0*0*12*ICN9*11*1",
        "CAS*CO*50*210",
        "MOA***N115",
    ]
    result = post(session, w, era(w, [clp], "0", method="NON"))
    assert result.sets[0].outcome == "posted"
    session.refresh(claim)
    assert claim.status == "denied"
    # The charge stays with the payer (billed), nothing is written off while it is worked.
    assert balances(session, w) == {"1210": 21000, "4000": -21000}
    assert figures(session, w.invoice) == (0, 0, 21000, "open")
    event = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_id == claim.id, ClaimEvent.to_status == "denied")
    ).one()
    assert event.detail["adjustments"] == [{"group": "CO", "reason": "50", "amount_minor": 21000}]
    assert event.detail["remarks"] == ["N115"]
    assert event.detail["status_code"] == "4"
    assert count(session, Underpayment) == 0
    [row] = session.scalars(select(RemittanceClaim)).all()
    assert (row.outcome, row.adjustment_minor, row.entry_ids) == ("denied", 0, [])


def test_partial_payment_with_copay_at_claim_level(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    clp = [
        f"CLP*{claim.control_number}*1*210*50*25*12*ICN5*11*1",
        "CAS*CO*45*100",
        "CAS*OA*23*35",
        "CAS*PR*3*25",
    ]
    result = post(session, w, era(w, [clp], "50", method="CHK", trace="CHK77"))
    assert result.sets[0].outcome == "posted", result.sets[0].message
    assert balances(session, w) == {
        "1000": 5000,  # a cheque: cash and undeposited funds
        "1200": 2500,
        "4000": -21000,
        "4200": 13500,  # CO 100.00 + OA 35.00
    }
    assert figures(session, w.invoice) == (5000, 13500, 2500, "partially_paid")
    [row] = session.scalars(select(RemittanceClaim)).all()
    assert (row.copay_minor, row.patient_responsibility_minor) == (2500, 2500)
    # 50.00 + 25.00 against 140.00 expected
    [under] = session.scalars(select(Underpayment)).all()
    assert under.difference_minor == 6500


def test_reversal_and_correction_undo_and_repost_exactly(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    pcn = claim.control_number
    post(session, w, era(w, [paid_claim(pcn, "ICN1")], "100"))
    first = balances(session, w)
    reversal = [
        f"CLP*{pcn}*22*-210*-100*-30*12*ICN1*11*1",
        "SVC*HC:99213*-150*-80**-1",
        "CAS*CO*45*-50",
        "CAS*PR*1*-20",
        "REF*6R*C1L1",
        "SVC*HC:80053*-60*-20**-1",
        "CAS*CO*45*-30",
        "CAS*PR*2*-10",
        "REF*6R*C1L2",
    ]
    correction = [
        f"CLP*{pcn}*1*210*120*30*12*ICN1*11*1",
        "SVC*HC:99213*150*100**1",
        "CAS*CO*45*30",
        "CAS*PR*1*20",
        "REF*6R*C1L1",
        "SVC*HC:80053*60*20**1",
        "CAS*CO*45*30",
        "CAS*PR*2*10",
        "REF*6R*C1L2",
    ]
    result = post(session, w, era(w, [reversal, correction], "20", trace="EFT0002"))
    assert [s.outcome for s in result.sets] == ["posted"], result.sets[0].message
    assert first == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}
    assert balances(session, w) == {"1020": 12000, "1200": 3000, "4000": -21000, "4200": 6000}
    assert figures(session, w.invoice) == (12000, 6000, 3000, "partially_paid")
    rows = session.scalars(select(RemittanceClaim).order_by(RemittanceClaim.id)).all()
    assert [r.outcome for r in rows] == ["adjudicated", "reversal", "adjudicated"]
    original, rev, corrected = rows
    assert rev.reverses_id == original.id
    assert rev.claim_id == claim.id
    # Each original entry has exactly one reversal that negates it (checked by revcycle check).
    lrepo = LedgerRepository(session)
    assert sorted(
        str(e.reverses_id)
        for e in (session.get(JournalEntry, uuid.UUID(x)) for x in rev.entry_ids)
        if e is not None
    ) == sorted(original.entry_ids)
    assert all(lrepo.reversal_of(uuid.UUID(e)) is not None for e in original.entry_ids)
    assert corrected.paid_minor == 12000
    # The first posting's underpayment is void; the correction (150.00) meets 140.00 expected.
    assert [u.status for u in session.scalars(select(Underpayment))] == ["reversed"]
    kinds = [
        (e.kind, e.to_status)
        for e in session.scalars(
            select(ClaimEvent).where(ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.at)
        )
        if e.kind != "created"
    ]
    assert kinds[-3:] == [
        ("transition", "adjudicated"),
        ("reversal", "adjudicated"),
        ("transition", "adjudicated"),
    ]
    # The same reversal again: the posting left for ICN1 is the correction (paid 120.00), which
    # it does not negate: quarantined, nothing posted.
    before = snapshot(session)
    fb = ["PLB*1234567893*20261231*FB:ICN1*-100"]
    again = post(session, w, era(w, [reversal], "0", trace="EFT0003", plb=fb))
    assert (again.sets[0].outcome, again.sets[0].code) == (
        "quarantined",
        "remittance.reversal_mismatch",
    )
    assert snapshot(session)[:3] == before[:3]
    assert count(session, RemittanceQuarantine) == 1


def test_a_reversal_of_nothing_posted_is_quarantined(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    reversal = [
        f"CLP*{claim.control_number}*22*-210*-100*-30*12*ICN1*11*1",
        "CAS*CO*45*-80",
        "CAS*PR*1*-30",
    ]
    before = snapshot(session), balances(session, w)
    fb = ["PLB*1234567893*20261231*FB:ICN1*-100"]
    result = post(session, w, era(w, [reversal], "0", plb=fb))
    [s] = result.sets
    assert (s.outcome, s.code, s.remittance_id) == (
        "quarantined",
        "remittance.reversal_unmatched",
        None,
    )
    jes, rems, rcs, quarantined, *_ = snapshot(session)
    assert (jes, rems, rcs, quarantined) == (*before[0][:3], 1)
    assert balances(session, w) == before[1]


def test_provider_level_adjustments_l6_and_wo(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    plb = ["PLB*1234567893*20261231*L6*-2.15*WO:ICN0000*30"]
    result = post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "72.15", plb=plb))
    assert result.sets[0].outcome == "posted", result.sets[0].message
    assert balances(session, w) == {
        "1020": 7215,  # 100.00 + 2.15 interest - 30.00 recovered
        "1200": 3000,
        "2300": 3000,  # the recovery settles what we owed the payer
        "4000": -21000,
        "4200": 8000,
        "4500": -215,  # interest income
    }
    entries = session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "remittance.provider_adjustment")
    ).all()
    assert len(entries) == 2
    assert {(e.source_type, e.source_id) for e in entries} == {
        ("remittance", result.sets[0].remittance_id)
    }


# -- refusals, idempotency, quarantine ---------------------------------------------------------
def test_unbalanced_set_is_refused_with_the_difference_and_nothing_written(
    session: Session,
) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    before = snapshot(session), balances(session, w)
    result = post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100.01"))
    [s] = result.sets
    assert (s.outcome, s.code, result.ok) == ("refused", "remittance.unbalanced", False)
    assert "difference 0.01" in s.message
    assert (snapshot(session), balances(session, w)) == before
    session.refresh(claim)
    assert (claim.status, claim.billed_entry_id) == ("submitted", None)


def test_the_same_file_twice_is_a_no_op(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    content = era(w, [paid_claim(claim.control_number, "ICN1")], "100")
    first = post(session, w, content)
    after_first = snapshot(session), balances(session, w)
    # Re-sent with other line breaks and envelope numbers: the same set, the same digest.
    again = post(session, w, content.replace("~", "~\r\n").replace("000000101", "000000999"))
    [s] = again.sets
    assert (s.outcome, s.remittance_id, again.ok) == (
        "duplicate",
        first.sets[0].remittance_id,
        True,
    )
    assert (snapshot(session), balances(session, w)) == after_first


def test_same_identity_other_content_is_quarantined_whole(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100"))
    before = snapshot(session), balances(session, w)
    other = era(w, [paid_claim(claim.control_number, "ICN1-B")], "100")  # same identity
    result = post(session, w, other)
    [s] = result.sets
    assert (s.outcome, s.code, result.ok) == (
        "quarantined",
        "remittance.identity_reused",
        False,
    )
    [q] = session.scalars(select(RemittanceQuarantine)).all()
    first = session.scalars(select(Remittance)).one()
    assert (q.remittance_id, q.trace_number, q.payment_minor, q.code) == (
        first.id,
        "EFT0001",
        10000,
        "remittance.identity_reused",
    )
    assert q.summary["claims"][0]["payer_claim_number"] == "ICN1-B"
    assert q.sha256 != first.sha256
    ledger_before, bal_before = before
    assert balances(session, w) == bal_before
    assert snapshot(session)[0] == ledger_before[0]  # no journal entry
    # Sent again: still quarantined, kept once.
    assert post(session, w, other).sets[0].outcome == "quarantined"
    assert count(session, RemittanceQuarantine) == 1


def test_a_crash_mid_set_leaves_nothing_and_a_rerun_posts_each_claim_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_world(session)
    c1 = submitted(session, w)
    inv2 = make_invoice(
        session,
        w.patient,
        lines=[
            line("99213", "150.00", provider_id=w.provider.id),
            line("80053", "60.00", provider_id=w.provider.id),
        ],
    )
    w2 = World(w.practice, w.provider, w.payer, w.plan, w.patient, w.coverage, inv2)
    c2 = submitted(session, w2)
    content = era(
        w,
        [paid_claim(c1.control_number, "ICN1", 1), paid_claim(c2.control_number, "ICN2", 2)],
        "200",
    )
    before = snapshot(session), balances(session, w)
    real = service.apply_to_claim
    calls = {"n": 0}

    def crash_on_second(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        real(*args, **kwargs)

    monkeypatch.setattr(service, "apply_to_claim", crash_on_second)
    with pytest.raises(RuntimeError, match="power cut"):
        post(session, w, content)
    assert (snapshot(session), balances(session, w)) == before
    session.refresh(c1)
    assert (c1.status, c1.billed_entry_id) == ("submitted", None)
    monkeypatch.setattr(service, "apply_to_claim", real)
    result = post(session, w, content)
    assert [s.outcome for s in result.sets] == ["posted"]
    assert post(session, w, content).sets[0].outcome == "duplicate"
    payments = session.scalars(
        select(JournalEntry).where(JournalEntry.kind == "claim.payment")
    ).all()
    assert len(payments) == 2
    assert balances(session, w)["1020"] == 20000


# -- the unmatched queue -----------------------------------------------------------------------
def test_unmatched_claim_is_held_in_2300_then_matched_by_hand(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    result = post(session, w, era(w, [paid_claim("RC99999999", "ICN7")], "100"))
    [s] = result.sets
    assert (s.outcome, s.unmatched) == ("posted", 1)
    assert balances(session, w) == {"1020": 10000, "1200": 21000, "2300": -10000, "4000": -21000}
    page = queries.list_unmatched(
        session, SYSTEM, practice_id=w.practice.id, status="open", cursor=None, limit=10
    )
    [(held, row)] = page.items
    assert (held.held_minor, row.patient_control_number, row.outcome) == (
        10000,
        "RC99999999",
        "unmatched",
    )
    assert "no claim 'RC99999999'" in held.reason
    service.match_unmatched(session, SYSTEM, held.id, claim.id)
    assert balances(session, w) == {"1020": 10000, "1200": 3000, "4000": -21000, "4200": 8000}
    assert figures(session, w.invoice) == (10000, 8000, 3000, "partially_paid")
    session.refresh(claim)
    session.refresh(held)
    assert (claim.status, held.status, held.matched_claim_id) == (
        "adjudicated",
        "matched",
        claim.id,
    )
    with pytest.raises(DomainError) as exc:
        service.match_unmatched(session, SYSTEM, held.id, claim.id)
    assert exc.value.code == "remittance.already_matched"


def test_an_unknown_payer_leaves_every_claim_unmatched(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    result = post(
        session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100", payer_id="X")
    )
    assert (result.sets[0].outcome, result.sets[0].unmatched) == ("posted", 1)
    held = session.scalars(select(RemittanceUnmatched)).one()
    assert "payer 'X'" in held.reason
    session.refresh(claim)
    assert claim.status == "submitted"


def test_posting_needs_the_permission_and_the_practice(session: Session) -> None:
    w = make_world(session)
    outsider = Principal(
        user_id=uuid.uuid4(), username="x", role=Role.ADMIN, practice_ids=frozenset(), mfa=True
    )
    with pytest.raises(DomainError):
        service.post_file(session, outsider, b"ISA", practice_id=w.practice.id)
    assert count(session, Remittance) == 0


def test_an_upload_with_no_readable_set_is_refused_and_writes_nothing(session: Session) -> None:
    w = make_world(session)
    session.commit()
    before = snapshot(session)
    with pytest.raises(errors.UnreadableRemittance) as exc:
        service.post_upload(session, SYSTEM, "ISA*" + "x" * 200, practice_id=w.practice.id)
    assert exc.value.code == "remittance.unreadable"
    assert exc.value.message.startswith("The file holds no readable 835 transaction set: ")
    assert snapshot(session) == before
    # A file that only reads as nothing at all (no ISA, no error) is not an error either way.
    assert service.post_file(session, SYSTEM, b"", practice_id=w.practice.id).sets == []


# -- concurrency (PostgreSQL) ------------------------------------------------------------------
def test_four_concurrent_imports_of_one_file_post_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]], backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    _url, _engine, factory = committed_db
    with factory() as s, s.begin():
        w = make_world(s)
        claim = submitted(s, w)
        content = era(w, [paid_claim(claim.control_number, "ICN1")], "100").encode()
        practice_id = w.practice.id
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    problems: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            r = service.post_file(factory, SYSTEM, content, practice_id=practice_id)
            outcomes.extend(x.outcome for x in r.sets)
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "posted"]
    with factory() as s:
        assert count(s, Remittance) == 1
        assert (
            len(s.scalars(select(JournalEntry).where(JournalEntry.kind == "claim.payment")).all())
            == 1
        )
        c = s.get(Claim, claim.id)
        assert c is not None
        assert c.status == "adjudicated"
        assert integrity.run(s).ok


# -- the shared corpus -------------------------------------------------------------------------
def corpus_files() -> Iterator[Path]:
    for name in CORPUS_835:
        yield CORPUS / name


@pytest.mark.parametrize("name", CORPUS_835)
def test_every_corpus_835_goes_through_posting(session: Session, name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path} (../shared/corpus/x12)")
    w = make_world(session)
    result = service.post_file(session, SYSTEM, path, practice_id=w.practice.id)
    assert result.sets or result.errors
    for s in result.sets:
        assert s.outcome in ("posted", "refused", "quarantined"), s
        if s.outcome == "posted":
            assert s.unmatched == s.claims  # none of them are our claims
    again = service.post_file(session, SYSTEM, path, practice_id=w.practice.id)
    assert [s.outcome for s in again.sets] == [
        "duplicate" if s.outcome == "posted" else s.outcome for s in result.sets
    ]


# -- the API -----------------------------------------------------------------------------------
def test_api_post_list_read_match_and_underpayments(session: Session, client: TestClient) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    admin = auth_header(session, make_user(session, "admin", practices=[w.practice]))
    session.commit()
    content = era(w, [paid_claim(claim.control_number, "ICN1")], "100")
    body = {"practice_id": str(w.practice.id), "content": content}
    r = client.post("/api/v1/remittances", json=body, headers=admin)
    assert (r.status_code, r.json()["code"]) == (428, "remittance.idempotency_key_required")
    assert count(session, Remittance) == 0
    keyed = {**admin, "Idempotency-Key": "era-1"}
    r = client.post("/api/v1/remittances", json=body, headers=keyed)
    assert r.status_code == 200, r.text
    [s] = r.json()["sets"]
    assert {k: s[k] for k in ("outcome", "payment", "claims", "unmatched", "trace_number")} == {
        "outcome": "posted",
        "payment": "100.00",
        "claims": 1,
        "unmatched": 0,
        "trace_number": "EFT0001",
    }
    replay = client.post("/api/v1/remittances", json=body, headers=keyed)
    assert (replay.json(), replay.headers.get("Idempotent-Replayed")) == (r.json(), "true")
    again = client.post(
        "/api/v1/remittances", json=body, headers={**admin, "Idempotency-Key": "era-2"}
    )
    assert again.json()["sets"][0]["outcome"] == "duplicate"
    listed = client.get(
        "/api/v1/remittances", params={"practice_id": str(w.practice.id)}, headers=admin
    ).json()
    assert [x["id"] for x in listed["items"]] == [s["remittance_id"]]
    one = client.get(f"/api/v1/remittances/{s['remittance_id']}", headers=admin).json()
    [c] = one["claims"]
    assert {
        k: c[k] for k in ("claim_id", "outcome", "paid", "adjusted", "patient_responsibility")
    } == {
        "claim_id": str(claim.id),
        "outcome": "adjudicated",
        "paid": "100.00",
        "adjusted": "80.00",
        "patient_responsibility": "30.00",
    }
    under = client.get("/api/v1/remittances/underpayments", headers=admin).json()["items"]
    assert [(u["claim_id"], u["difference"]) for u in under] == [(str(claim.id), "10.00")]

    # An unmatched claim, then matched by hand through the API.
    inv2 = make_invoice(session, w.patient, lines=[line("99213", "150.00")])
    w2 = World(w.practice, w.provider, w.payer, w.plan, w.patient, w.coverage, inv2)
    c2 = submitted(session, w2)
    session.commit()
    clp = ["CLP*NOSUCH*1*150*100*0*12*ICN8*11*1", "CAS*CO*45*50"]
    body2 = {"practice_id": str(w.practice.id), "content": era(w, [clp], "100", trace="E2")}
    r = client.post("/api/v1/remittances", json=body2, headers={**admin, "Idempotency-Key": "e3"})
    assert r.json()["sets"][0]["unmatched"] == 1
    [held] = client.get(
        "/api/v1/remittances/unmatched", params={"status": "open"}, headers=admin
    ).json()["items"]
    assert (held["patient_control_number"], held["held"]) == ("NOSUCH", "100.00")
    url = f"/api/v1/remittances/unmatched/{held['id']}/match"
    r = client.post(url, json={"claim_id": str(c2.id)}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["matched_claim_id"]) == ("matched", str(c2.id))
    r = client.post(url, json={"claim_id": str(c2.id)}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (409, "remittance.already_matched")
    session.expire_all()
    assert figures(session, inv2) == (10000, 5000, 0, "paid")


def test_api_refuses_what_cannot_be_read_and_writes_nothing(
    session: Session, client: TestClient
) -> None:
    w = make_world(session)
    admin = auth_header(session, make_user(session, "admin", practices=[w.practice]))
    session.commit()
    before = snapshot(session)
    garbage = "ISA*" + "x" * 200
    r = client.post(
        "/api/v1/remittances",
        json={"practice_id": str(w.practice.id), "content": garbage},
        headers={**admin, "Idempotency-Key": "g1"},
    )
    assert (r.status_code, r.json()["code"]) == (400, "remittance.unreadable")
    r = client.post(
        "/api/v1/remittances",
        json={"practice_id": str(w.practice.id), "content": "<script>" * 20},
        headers={**admin, "Idempotency-Key": "g2"},
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/remittances",
        json={"practice_id": str(uuid.uuid4()), "content": era(w, [], "0")},
        headers={**admin, "Idempotency-Key": "g3"},
    )
    assert (r.status_code, r.json()["code"]) == (404, "practice.not_found")
    r = client.post(
        f"/api/v1/remittances/unmatched/{uuid.uuid4()}/match",
        json={"claim_id": str(uuid.uuid4())},
        headers=admin,
    )
    assert (r.status_code, r.json()["code"]) == (404, "remittance.unmatched_not_found")
    session.expire_all()
    assert snapshot(session) == before


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_era_post_exit_codes(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, _engine, factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    try:
        with factory() as s, s.begin():
            w = make_world(s)
            claim = submitted(s, w)
            good = era(w, [paid_claim(claim.control_number, "ICN1")], "100")
            bad = era(w, [paid_claim(claim.control_number, "ICN1")], "99", trace="E9")
            practice = str(w.practice.id)
        (tmp_path / "good.835").write_text(good)
        (tmp_path / "bad.835").write_text(bad)
        runner = CliRunner()

        def run(*args: str) -> tuple[int, str]:
            r = runner.invoke(app, ["era", "post", *args])
            return r.exit_code, r.output

        code, out = run(str(tmp_path / "good.835"), "--practice", practice)
        assert code == 0, out
        assert out.startswith("set 0001: posted ")
        assert "trace EFT0001 100.00; posted 1 claims" in out
        code, out = run(str(tmp_path / "good.835"), "--practice", practice)
        assert (code, "duplicate" in out) == (0, True)
        code, out = run(str(tmp_path / "bad.835"), "--practice", practice)
        assert (code, "refused" in out, "difference -1.00" in out) == (1, True, True)
        assert run(str(tmp_path / "none.835"), "--practice", practice)[0] == 2
        assert run(str(tmp_path / "good.835"), "--practice", "nope")[0] == 2
        with factory() as s:
            assert count(s, Remittance) == 1
            assert integrity.run(s).ok
    finally:
        runtime.session_factory().kw["bind"].dispose()
        get_settings.cache_clear()
        runtime.session_factory.cache_clear()


# -- secondary claims --------------------------------------------------------------------------
def test_secondary_claim_bills_and_clears_only_what_the_patient_still_owed(
    session: Session,
) -> None:
    w = make_world(session)
    second_plan = make_plan(session, w.payer, name="Supplement")
    second = make_coverage(session, w.patient, second_plan, priority=2).coverage
    primary = submitted(session, w)
    post(session, w, era(w, [paid_claim(primary.control_number, "ICN1")], "100"))
    assert balances(session, w)["1200"] == 3000  # the primary's patient responsibility
    secondary = submitted(session, w, coverage_id=second.id)
    assert secondary.sequence == "secondary"
    claims_service.bill_to_payer(session, secondary, SYSTEM)
    assert claims_service.billed_minor(session, secondary) == 3000
    assert balances(session, w) == {"1020": 10000, "1210": 3000, "4000": -21000, "4200": 8000}
    # The supplement restates the whole charge: its CO-45, OA-23 for the primary's 100.00,
    # 24.00 paid and 6.00 coinsurance left to the patient.
    sec = [
        f"CLP*{secondary.control_number}*2*210*24*6*12*ICN2*11*1",
        "CAS*CO*45*80",
        "CAS*OA*23*100",
        "CAS*PR*2*6",
    ]
    [s] = post(session, w, era(w, [sec], "24", trace="EFT0002")).sets
    assert s.outcome == "posted"
    assert balances(session, w) == {
        "1020": 12400,
        "1200": 600,  # the patient owes what the supplement left
        "4000": -21000,
        "4200": 8000,  # nothing written off twice
    }
    assert figures(session, w.invoice) == (12400, 8000, 600, "partially_paid")
    session.refresh(secondary)
    assert secondary.status == "adjudicated"
    assert count(session, Underpayment) == 1  # the primary's 10.00 only


def test_a_split_answer_to_a_secondary_claim_clears_each_lines_share_once(
    session: Session,
) -> None:
    """The supplement answers the two lines in two parts: each part clears its line's share of
    the 30.00 billed (20.00 and 10.00: the primary's deductible and coinsurance on each line),
    so nothing is written off twice and the patient keeps exactly what the parts left."""
    w = make_world(session)
    second_plan = make_plan(session, w.payer, name="Supplement")
    second = make_coverage(session, w.patient, second_plan, priority=2).coverage
    primary = submitted(session, w)
    post(session, w, era(w, [paid_claim(primary.control_number, "ICN1")], "100"))
    built = secondary_claims.build_secondary(session, SYSTEM, primary.id).secondary
    assert built is not None
    secondary = built.claim
    assert (secondary.coverage_id, secondary.primary_claim_id) == (second.id, primary.id)
    for status in ("scrubbed", "submitted"):
        states.transition(session, secondary, status, actor=SYSTEM, actor_kind="system")
    claims_service.bill_to_payer(session, secondary, SYSTEM)
    assert claims_service.billed_minor(session, secondary) == 3000
    pcn, n = secondary.control_number, secondary.number
    part_1 = [
        f"CLP*{pcn}*2*150*16*4*12*ICN2A*11*1",
        "MOA***MA15",
        "SVC*HC:99213*150*16**1",
        "DTM*472*20260105",
        "CAS*CO*45*50",
        "CAS*OA*23*80",
        "CAS*PR*2*4",
        f"REF*6R*C{n}L1",
    ]
    part_2 = [
        f"CLP*{pcn}*2*60*8*2*12*ICN2B*11*1",
        "MOA***MA15",
        "SVC*HC:80053*60*8**1",
        "DTM*472*20260105",
        "CAS*CO*45*30",
        "CAS*OA*23*20",
        "CAS*PR*2*2",
        f"REF*6R*C{n}L2",
    ]
    [s] = post(session, w, era(w, [part_1], "16", trace="EFT0002")).sets
    assert s.outcome == "posted"
    # Line 1's share (20.00): 16.00 paid, 4.00 to the patient; line 2's 10.00 still billed.
    assert balances(session, w) == {
        "1020": 11600,
        "1200": 400,
        "1210": 1000,
        "4000": -21000,
        "4200": 8000,
    }
    session.refresh(secondary)
    assert secondary.status == "submitted"  # waits for its other part
    [s] = post(session, w, era(w, [part_2], "8", trace="EFT0003")).sets
    assert s.outcome == "posted"
    # As the whole answer in one CLP (the test above): 24.00 paid, 6.00 left to the patient.
    assert balances(session, w) == {"1020": 12400, "1200": 600, "4000": -21000, "4200": 8000}
    assert figures(session, w.invoice) == (12400, 8000, 600, "partially_paid")
    session.refresh(secondary)
    assert (secondary.status, secondary.payer_claim_numbers) == (
        "adjudicated",
        ["ICN2A", "ICN2B"],
    )
