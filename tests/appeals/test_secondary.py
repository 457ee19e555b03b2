"""Secondary claims after the primary's adjudication: built with the primary's lines and charge,
the primary payer's adjudication saved for the 837's COB loops (validated by pyx12), crossover
payers recorded instead, idempotent by hand and by the worker, refusals that write nothing."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals import tasks
from revcycle.claims import mapping, secondary
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import Claim, ClaimEvent, ClaimLine
from revcycle.claims.repository import ClaimRepository
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.kit.clock import today, utcnow
from revcycle.x12 import claim837
from revcycle.x12.writer import Envelope
from tests.factories.appeals import decided_claim, submitted_claim
from tests.factories.claims import World, make_world
from tests.factories.insurance import make_coverage, make_payer, make_plan
from tests.factories.practices import SYSTEM


def with_secondary(session: Session, **payer: Any) -> World:
    w = make_world(session)
    if payer:
        w.payer.secondary_crossover = payer["crossover"]
    second_payer = make_payer(session, w.practice, name="Harbor Mutual", edi_payer_id="HM001")
    plan = make_plan(session, second_payer)
    make_coverage(session, w.patient, plan, priority=2, member_id="SEC445566")
    session.flush()
    return w


def _state(session: Session) -> tuple[int, int, int, int]:
    session.flush()

    def n(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return n(Claim), n(ClaimLine), n(ClaimEvent), n(ClaimCob)


def test_build_a_secondary_claim_whose_837_carries_the_saved_cob_facts(session: Session) -> None:
    w = with_secondary(session)
    w, primary = decided_claim(session, w, to="adjudicated", days_ago=3)
    r = secondary.build_secondary(session, SYSTEM, primary.id)
    assert (r.outcome, r.created) == ("secondary", True)
    assert r.secondary is not None
    s = r.secondary.claim
    assert (s.sequence, s.primary_claim_id, s.status, s.charge_minor, s.invoice_id) == (
        "secondary",
        primary.id,
        "draft",
        21000,
        w.invoice.id,
    )
    assert s.payer_id != primary.payer_id
    assert (s.number, s.control_number) == (primary.number + 1, f"RC{primary.number + 1:08d}")
    assert s.diagnosis_codes == primary.diagnosis_codes
    assert [
        (ln.position, ln.procedure, ln.units, ln.charge_minor, ln.line_control_number)
        for ln in r.secondary.lines
    ] == [
        (1, "99213", 1, 15000, f"C{s.number}L1"),
        (2, "80053", 1, 6000, f"C{s.number}L2"),
    ]
    # Again: the same decision, nothing new.
    before = _state(session)
    again = secondary.build_secondary(session, SYSTEM, primary.id)
    assert (again.created, again.secondary and again.secondary.claim.id) == (False, s.id)
    assert _state(session) == before

    # The 837's COB loops come from the adjudication saved on the decision row.
    built = mapping.claim_of(session, s, _lines(session, s), w.practice.npi)
    [op] = built.other_payers
    adjudicated_on = today() - dt.timedelta(days=3)
    assert (op.responsibility, op.relationship, op.filing_code, op.member_id) == (
        "P",
        w.coverage.coverage.relationship,
        "12",  # SBR09 for the plan's product type (PPO)
        w.coverage.coverage.member_id,
    )
    assert (op.payer.name, op.payer.payer_id) == (w.payer.name.upper(), w.payer.edi_payer_id)
    assert (op.paid_minor, op.adjudicated_on, op.claim_number) == (
        9600,
        adjudicated_on,
        f"PCN{primary.number:05d}",
    )
    assert (op.adjustments, op.remaining_patient_liability_minor) == ((), 2400)
    assert op.subscriber == claim837.Party(
        w.patient.last_name.upper(), w.patient.first_name.upper()
    )
    assert [ln.prior_payments for ln in built.lines] == [
        (
            claim837.LineAdjudication(
                w.payer.edi_payer_id,
                9600,
                "99213",
                (),
                Decimal(1),
                adjudicated_on,
                (claim837.Adjustment("CO", "45", 3000), claim837.Adjustment("PR", "2", 2400)),
            ),
        ),
        (
            claim837.LineAdjudication(
                w.payer.edi_payer_id,
                0,
                "80053",
                (),
                Decimal(1),
                adjudicated_on,
                (claim837.Adjustment("CO", "97", 6000),),
            ),
        ),
    ]
    assert (
        mapping.claim_of(session, primary, _lines(session, primary), w.practice.npi).other_payers
        == ()
    )
    # The saved adjudication, not a later event on the primary, is what the 837 carries.
    cob = session.scalar(select(ClaimCob).where(ClaimCob.secondary_claim_id == s.id))
    assert cob is not None
    cob.prior_adjudication = {**cob.prior_adjudication, "paid_minor": 9500}
    session.flush()
    [op] = mapping.claim_of(session, s, _lines(session, s), w.practice.npi).other_payers
    assert op.paid_minor == 9500


def _lines(session: Session, claim: Claim) -> list[ClaimLine]:
    return ClaimRepository(session).lines_of([claim.id])[claim.id]


def test_the_saved_cob_facts_make_a_valid_837(session: Session) -> None:
    pyx12_helpers = pytest.importorskip("tests.claims837.test_build_837p")
    w = with_secondary(session)
    w, primary = decided_claim(session, w, to="adjudicated")
    r = secondary.build_secondary(session, SYSTEM, primary.id)
    assert r.secondary is not None
    c = r.secondary.claim
    claim = mapping.claim_of(session, c, _lines(session, c), w.practice.npi)
    person = claim837.Person(
        w.patient.last_name, w.patient.first_name, w.patient.date_of_birth, w.patient.sex
    )
    group = claim837.SubscriberGroup(
        claim837.Subscriber(person, "SEC445566", responsibility="S"),
        claim837.Payer("HARBOR MUTUAL", "HM001"),
        (claim,),
    )
    when = dt.datetime(2026, 11, 27, 9, 30)
    built = claim837.build_837p(
        pyx12_helpers.batch(group), Envelope("REVCYCLE", "CLEARHOUSE", 101, 7, when, usage="T")
    )
    segs = pyx12_helpers.segments(built.text)
    assert "AMT*D*96" in segs
    assert "AMT*EAF*24" in segs
    assert f"SVD*{w.payer.edi_payer_id}*0*HC:80053**1" in segs
    assert "CAS*CO*97*60" in segs
    assert pyx12_helpers.pyx12_errors(built.text) == []


def test_crossover_payer_gets_a_note_and_no_claim(session: Session) -> None:
    w = with_secondary(session, crossover=True)
    w, primary = decided_claim(session, w, to="adjudicated")
    claims_before = _state(session)[0]
    r = secondary.build_secondary(session, SYSTEM, primary.id)
    assert (r.outcome, r.created, r.secondary) == ("crossover", True, None)
    assert _state(session)[0] == claims_before
    note = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_id == primary.id, ClaimEvent.kind == "crossover")
    ).one()
    assert (note.from_status, note.to_status, note.detail) == (
        "adjudicated",
        "adjudicated",
        {"payer_id": str(w.payer.id)},
    )


def _refused(session: Session, code: str, claim_id: Any) -> None:
    before = _state(session)
    with pytest.raises(DomainError) as exc:
        secondary.build_secondary(session, SYSTEM, claim_id)
    assert exc.value.code == code
    assert _state(session) == before


def test_refusals_write_nothing(session: Session) -> None:
    _, no_second = decided_claim(session, to="adjudicated")
    _refused(session, "claim.no_secondary_coverage", no_second.id)
    w = with_secondary(session)
    _, submitted = submitted_claim(session, w)
    _refused(session, "claim.not_adjudicated", submitted.id)
    w2 = with_secondary(session)
    _, denied = decided_claim(session, w2)
    _refused(session, "claim.not_adjudicated", denied.id)
    w3 = with_secondary(session)
    _, primary = decided_claim(session, w3, to="adjudicated")
    built = secondary.build_secondary(session, SYSTEM, primary.id)
    assert built.secondary is not None
    _refused(session, "claim.not_primary", built.secondary.claim.id)


def test_the_worker_builds_once_and_records_nothing_to_build(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    with unit_of_work(factory) as s:
        w = with_secondary(s)
        _, wanted = decided_claim(s, w, to="adjudicated")
        _, alone = decided_claim(s, to="adjudicated")  # no secondary coverage
        wanted_id, alone_id = wanted.id, alone.id
    settings = Settings(database_url=url)
    barrier = threading.Barrier(3)

    def run(_: int) -> int:
        barrier.wait()
        return tasks.build_secondaries(factory, settings, utcnow())

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, range(3)))
    assert sum(results) == 1
    with unit_of_work(factory) as s:
        rows = {c.primary_claim_id: c for c in s.scalars(select(ClaimCob))}
        assert {k: v.outcome for k, v in rows.items()} == {
            wanted_id: "secondary",
            alone_id: "none",
        }
        assert (
            s.scalar(select(func.count()).select_from(Claim).where(Claim.sequence == "secondary"))
            == 1
        )
    assert tasks.build_secondaries(factory, settings, utcnow()) == 0
