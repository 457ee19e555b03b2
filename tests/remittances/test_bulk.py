"""A remittance set's claims loaded, locked and written together (remittances/bulk.py,
docs/remittance-posting.md "Throughput"): what SetBatch loads and locks, entries written only
at drain with the ids given at post, a set's statements not growing with its claims, and two
files naming the same claims in opposite orders posted at once without a deadlock."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.claims.models import Claim
from revcycle.integrity import service as integrity
from revcycle.invoices.models import Invoice
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.errors import UnbalancedEntry
from revcycle.ledger.models import JournalEntry
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.remittances import service
from revcycle.remittances.bulk import SetBatch
from revcycle.remittances.models import Remittance, RemittanceClaim
from tests.factories.claims import World, make_world
from tests.factories.invoices import line, make_invoice
from tests.factories.practices import SYSTEM
from tests.remittances.test_posting import balances, count, era, paid_claim, post, submitted


def claims_for(session: Session, w: World, k: int) -> list[Claim]:
    """``k`` submitted claims, each on its own issued invoice (210.00: 99213 + 80053)."""
    out = [submitted(session, w)]
    while len(out) < k:
        inv = make_invoice(
            session,
            w.patient,
            lines=[
                line("99213", "150.00", provider_id=w.provider.id),
                line("80053", "60.00", provider_id=w.provider.id),
            ],
        )
        other = World(w.practice, w.provider, w.payer, w.plan, w.patient, w.coverage, inv)
        out.append(submitted(session, other))
    return out


def test_load_locks_the_payers_claims_with_their_invoices_and_lines(session: Session) -> None:
    w = make_world(session)
    c1, c2 = claims_for(session, w, 2)
    numbers = [c2.control_number, c1.control_number, "RC99999999"]
    batch = SetBatch.load(session, w.practice.id, w.payer.id, numbers)
    assert [c.id for c in batch.claims_by_control_number(c1.control_number)] == [c1.id]
    assert [c.id for c in batch.claims_by_control_number(c2.control_number)] == [c2.id]
    assert batch.claims_by_control_number("RC99999999") == []
    assert sorted(batch.invoices) == sorted([c1.invoice_id, c2.invoice_id])
    assert {
        cid: [ln.line_control_number for ln in lines] for cid, lines in batch.lines.items()
    } == {
        c1.id: ["C1L1", "C1L2"],
        c2.id: ["C2L1", "C2L2"],
    }
    assert [(ln.position, ln.procedure) for ln in batch.lines_of(c2)] == [
        (1, "99213"),
        (2, "80053"),
    ]
    claim, invoice = batch.lock(c1)
    assert (claim.id, invoice.id) == (c1.id, c1.invoice_id)
    # No payer known: the claims are found (the unmatched reason names them) but none is locked.
    unknown = SetBatch.load(session, w.practice.id, None, numbers)
    assert [c.id for c in unknown.claims_by_control_number(c1.control_number)] == [c1.id]
    assert (unknown.invoices, unknown.lines) == ({}, {})
    # Another payer's id: nothing of this payer is locked either.
    other = SetBatch.load(session, w.practice.id, uuid.uuid4(), numbers)
    assert (other.invoices, other.lines) == ({}, {})


def payment(w: World, minor: int, **kw: Any) -> ledger.EntrySpec:
    amount = Money(minor, "USD")
    dims = {"patient_id": w.patient.id, "invoice_id": w.invoice.id}
    return ledger.EntrySpec(
        practice_id=w.practice.id,
        kind=EntryKind.CLAIM_PAYMENT.value,
        legs=[
            ledger.debit(AccountCode.BANK_OPERATING, amount, **dims),
            ledger.credit(AccountCode.PATIENT_AR, amount, **dims),
        ],
        effective_date=w.invoice.issue_date,  # type: ignore[arg-type]
        memo="batch test",
        **kw,
    )


def test_entries_are_written_at_drain_with_the_ids_given_at_post(session: Session) -> None:
    w = make_world(session)
    session.flush()
    entries = count(session, JournalEntry)
    batch = SetBatch(session)
    first = batch.post(payment(w, 20000))
    given = uuid.uuid4()
    second = batch.post(payment(w, 1000, id=given))
    assert second == given
    with pytest.raises(UnbalancedEntry):  # refused at the claim that made it, not at drain
        batch.post(
            ledger.EntrySpec(
                practice_id=w.practice.id,
                kind=EntryKind.CLAIM_PAYMENT.value,
                legs=[ledger.debit(AccountCode.BANK_OPERATING, Money(5, "USD"))],
                effective_date=w.invoice.issue_date,  # type: ignore[arg-type]
            )
        )
    batch.settle(w.invoice)
    assert count(session, JournalEntry) == entries  # nothing written yet
    assert w.invoice.status == "open"
    batch.drain()
    assert count(session, JournalEntry) == entries + 2
    repo = LedgerRepository(session)
    assert [(p.amount_minor, p.invoice_id) for p in repo.postings_of(first)] == [
        (20000, w.invoice.id),
        (-20000, w.invoice.id),
    ]
    assert [p.amount_minor for p in repo.postings_of(given)] == [1000, -1000]
    assert w.invoice.status == "paid"  # 210.00 issued, 210.00 paid: refreshed at drain
    assert balances(session, w) == {"1020": 21000, "4000": -21000}
    assert (batch.pending, batch.touched) == ([], {})


def test_a_sets_statements_do_not_grow_with_its_claims(session: Session, backend: str) -> None:
    w = make_world(session)
    claims = claims_for(session, w, 8)
    audit.flush_pending(session)  # the practice's audit chain head exists before counting
    bind = session.get_bind()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", seen)
    try:
        counts = []
        for trace, group in (("EFT1", claims[:2]), ("EFT2", claims[2:])):
            content = era(
                w,
                [paid_claim(c.control_number, f"ICN{c.number}", c.number) for c in group],
                str(100 * len(group)),
                trace=trace,
            )
            statements.clear()
            [s] = post(session, w, content).sets
            assert (s.outcome, s.claims) == ("posted", len(group))
            counts.append(len(statements))
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    # 2 claims and 6 claims: the same 17 statements (savepoint, identity, payer, remittance, 4
    # loads, entries and postings, claims, events, rows, underpayments, the invoices' ledger
    # figures and their statuses, release), plus, in the first set only, the read of the CARC ->
    # action table (once per transaction). The sets run in savepoints of the test's session, so
    # their audit events are appended at its COMMIT, not here (docs/audit.md). On PostgreSQL the
    # entries, postings, remittance claims, claim events and underpayments go by COPY on the
    # driver's connection, which these events do not see (the claims' and invoices' updates are
    # one UPDATE ... FROM unnest(...) each).
    n = 17 if backend == "sqlite" else 12
    assert counts == [n + 1, n]
    rows = session.scalars(select(RemittanceClaim)).all()
    assert sorted((r.claim_id, r.outcome, r.paid_minor) for r in rows) == sorted(
        (c.id, "adjudicated", 10000) for c in claims
    )
    assert balances(session, w) == {
        "1020": 80000,
        "1200": 24000,
        "4000": -168000,
        "4200": 64000,
    }
    statuses = session.execute(
        select(Invoice.status, func.count())
        .where(Invoice.id.in_([c.invoice_id for c in claims]))
        .group_by(Invoice.status)
    ).all()
    assert [tuple(r) for r in statuses] == [("partially_paid", 8)]


def test_two_files_naming_the_same_claims_in_opposite_orders_post_at_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]], backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    _url, _engine, factory = committed_db
    with factory() as s, s.begin():
        w = make_world(s)
        claims = claims_for(s, w, 12)
        paid = [paid_claim(c.control_number, f"ICN{c.number}", c.number) for c in claims]
        denied = [
            [f"CLP*{c.control_number}*4*210*0*0*12*ICN{c.number}*11*1", "CAS*CO*50*210"]
            for c in claims[::-1]
        ]
        files = [
            era(w, paid, "1200", trace="EFT0001").encode(),
            era(w, denied, "0", trace="EFT0002", method="NON").encode(),
        ]
        practice_id = w.practice.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    problems: list[BaseException] = []

    def run(content: bytes) -> None:
        try:
            barrier.wait()
            r = service.post_file(factory, SYSTEM, content, practice_id=practice_id)
            outcomes.extend(x.outcome for x in r.sets)
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert outcomes == ["posted", "posted"]
    with factory() as s:
        assert count(s, Remittance) == 2
        payments = s.scalars(select(JournalEntry).where(JournalEntry.kind == "claim.payment")).all()
        assert len(payments) == 12
        bills = s.scalars(select(JournalEntry).where(JournalEntry.kind == "claim.bill")).all()
        assert len(bills) == 12  # billed once, by whichever file came first
        # One file waited for the other's locks: every claim ends as the later file says.
        statuses = {c.status for c in s.scalars(select(Claim))}
        assert statuses in ({"adjudicated"}, {"denied"})
        assert integrity.run(s).ok


def test_a_flush_during_the_set_writes_the_gathered_entries_first(session: Session) -> None:
    w = make_world(session)
    [claim] = claims_for(session, w, 1)
    entries = count(session, JournalEntry)
    with SetBatch(session) as batch:
        entry_id = batch.post(payment(w, 2500))
        claim.billed_entry_id = entry_id  # a row pointing at an entry not written yet
        session.flush()  # e.g. code that flushes before reading the ledger
        assert count(session, JournalEntry) == entries + 1
        assert batch.pending == []
        assert LedgerRepository(session).invoice_account_balance(
            w.invoice.id, AccountCode.PATIENT_AR
        ) == (21000 - 2500)
    session.refresh(claim)
    assert claim.billed_entry_id == entry_id
    # Once the set is over the hook is gone: a flush leaves a gathered entry alone.
    batch.post(payment(w, 100))
    session.flush()
    assert (count(session, JournalEntry), len(batch.pending)) == (entries + 1, 1)
