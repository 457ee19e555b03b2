"""The whole cycle offline, through the real parts: a claim built from an invoice, scrubbed, sent
as an 837P to the built-in payer simulator, its 999 and 277CA applied, the simulator's 835
collected by the worker task and posted to the ledger, the invoice's figures exact."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.claims import scrubber, service, submission
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import Claim, ClaimSubmission
from revcycle.claims.repository import ClaimRepository
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import get_settings
from revcycle.db import unit_of_work
from revcycle.invoices import service as invoices
from revcycle.kit.clock import today
from revcycle.ledger.repository import LedgerRepository
from revcycle.remittances import tasks as remittances_tasks
from revcycle.remittances.models import RemittanceClaim
from tests.factories.claims import make_claim, make_world
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.practices import SYSTEM

ZIP9 = {"postal_code": "627011234"}


def _claim(factory: sessionmaker[Session], member_id: str | None = None) -> tuple[uuid.UUID, ...]:
    # Seen three days ago: well inside the payer's 90 timely-filing days (the simulator denies
    # late claims with CO-29, as payers do).
    dos = today() - dt.timedelta(days=3)
    with unit_of_work(factory) as s:
        w = make_world(s, practice_overrides=ZIP9, member_id=member_id, dos=dos)
        claim = make_claim(s, w).claim
        found = scrubber.scrub_claim(s, SYSTEM, claim.id)
        assert found.status == "scrubbed", [f.code for f in found.findings]
        return w.practice.id, claim.id, w.invoice.id, w.patient.id


def _run_cycle(factory: sessionmaker[Session], practice_id: uuid.UUID) -> None:
    client = SimulatorClearinghouse(factory)
    sent = submission.submit_claims(
        factory, SYSTEM, client, practice_id=practice_id, settings=get_settings()
    )
    assert sent.batch is not None
    assert sent.batch.status == "submitted"
    acks = submission.process_inbound(factory, client)
    assert (acks.accepted, acks.rejected) == (1, 0)
    collected = remittances_tasks.collect(factory, client)
    assert (collected.sets_posted, collected.held) == (1, [])
    again = remittances_tasks.collect(factory, client)  # acknowledged: nothing waits
    assert again.files == 0


def test_paid_claim_end_to_end(committed_db: tuple[str, Engine, sessionmaker[Session]]) -> None:
    _, _, factory = committed_db
    practice_id, claim_id, invoice_id, patient_id = _claim(factory)
    _run_cycle(factory, practice_id)
    with unit_of_work(factory) as s:
        claim = service.get_claim(s, SYSTEM, claim_id).claim
        assert claim.status == "adjudicated"
        assert claim.payer_claim_number is not None
        events = [e.to_status for e in ClaimRepository(s).events_of(claim_id)]
        assert events[-3:] == ["submitted", "accepted", "adjudicated"]
        figures = invoices.invoice_figures(s, invoice_id)
        # 210.00 billed; allowed 140.00 (CO-45 70.00); the 500.00 deductible takes it all: the
        # patient owes 140.00 (PR-1) and the payer pays nothing yet.
        assert (figures.charged, figures.paid, figures.adjusted, figures.balance) == (
            21000,
            0,
            7000,
            14000,
        )
        due, _ = LedgerRepository(s).patient_balances(patient_id)
        assert due == 14000


def test_denied_claim_end_to_end(committed_db: tuple[str, Engine, sessionmaker[Session]]) -> None:
    _, _, factory = committed_db
    practice_id, claim_id, invoice_id, patient_id = _claim(factory, member_id="M7700XDN")
    _run_cycle(factory, practice_id)
    with unit_of_work(factory) as s:
        claim = service.get_claim(s, SYSTEM, claim_id).claim
        assert claim.status == "denied"
        figures = invoices.invoice_figures(s, invoice_id)
        assert (figures.paid, figures.adjusted, figures.balance) == (0, 0, 21000)
        due, _ = LedgerRepository(s).patient_balances(patient_id)
        assert due == 0  # the denied charge stays with the payer while it is worked


def test_crossover_end_to_end(committed_db: tuple[str, Engine, sessionmaker[Session]]) -> None:
    """The primary payer forwards the claim (scenario XCO: CLP02 19, NM1*TT, MA18); posting keeps
    a secondary claim for the next payer without sending it, and the next payer's 835 (the
    patient's 140.00 paid) posts on it."""
    _, _, factory = committed_db
    dos = today() - dt.timedelta(days=3)
    with unit_of_work(factory) as s:
        w = make_world(s, practice_overrides=ZIP9, member_id="M7700XCO", dos=dos)
        second = make_payer(s, w.practice, name="Harbor Mutual", edi_payer_id="HM001")
        make_coverage(s, w.patient, make_plan(s, second), priority=2, member_id="S445566")
        claim = make_claim(s, w).claim
        assert scrubber.scrub_claim(s, SYSTEM, claim.id).status == "scrubbed"
        practice_id, claim_id, invoice_id, patient_id = (
            w.practice.id,
            claim.id,
            w.invoice.id,
            w.patient.id,
        )
        second_id = second.id
    client = SimulatorClearinghouse(factory)
    settings = get_settings()
    sent = submission.submit_claims(
        factory, SYSTEM, client, practice_id=practice_id, settings=settings
    )
    assert sent.batch is not None
    acks = submission.process_inbound(factory, client)
    assert (acks.accepted, acks.rejected) == (1, 0)
    collected = remittances_tasks.collect(factory, client)
    # The primary's 835, then the secondary payer's.
    assert (collected.sets_posted, collected.held) == (2, [])
    with unit_of_work(factory) as s:
        primary = service.get_claim(s, SYSTEM, claim_id).claim
        assert primary.status == "adjudicated"
        cob = s.scalars(select(ClaimCob)).one()
        assert (cob.outcome, cob.crossover_payer_name, cob.crossover_payer_identifier) == (
            "crossover",
            "HARBOR MUTUAL",
            "HM001",
        )
        sec = s.get(Claim, cob.secondary_claim_id)
        assert sec is not None
        assert (sec.payer_id, sec.sequence, sec.status) == (second_id, "secondary", "adjudicated")
        assert (
            s.scalar(
                select(func.count())
                .select_from(ClaimSubmission)
                .where(ClaimSubmission.claim_id == sec.id)
            )
            == 0
        )
        row = s.scalars(select(RemittanceClaim).where(RemittanceClaim.claim_id == sec.id)).one()
        assert (row.outcome, row.paid_minor) == ("adjudicated", 14000)
        figures = invoices.invoice_figures(s, invoice_id)
        # Primary: allowed 140.00 (CO-45 70.00), all of it to the deductible; the secondary
        # payer pays the patient's 140.00.
        assert (figures.charged, figures.paid, figures.adjusted, figures.balance) == (
            21000,
            14000,
            7000,
            0,
        )
        due, _ = LedgerRepository(s).patient_balances(patient_id)
        assert due == 0
    # Nothing is left to send: the secondary claim never goes out in an 837.
    again = submission.submit_claims(
        factory, SYSTEM, client, practice_id=practice_id, settings=settings
    )
    assert again.batch is None
