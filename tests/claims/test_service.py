"""Claims built from invoices: lines, diagnosis pointers, expected allowed, numbering, the
state graph with its events, the billing move in the ledger, and refusals that write nothing."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.claims import service, states
from revcycle.claims.models import Claim, ClaimEvent, ClaimLine
from revcycle.claims.schemas import ClaimCreate
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices_service
from revcycle.invoices.schemas import CreditNoteCreate
from revcycle.ledger.repository import LedgerRepository
from tests.factories.claims import DOS, make_claim, make_world
from tests.factories.insurance import make_authorization, make_coverage, make_plan
from tests.factories.invoices import line, make_invoice
from tests.factories.ledger import ledger_counts
from tests.factories.practices import SYSTEM


def _counts(session: Session) -> tuple[int, int, int, int]:
    session.flush()
    return (
        session.scalar(select(func.count()).select_from(Claim)) or 0,
        session.scalar(select(func.count()).select_from(ClaimLine)) or 0,
        session.scalar(select(func.count()).select_from(ClaimEvent)) or 0,
        *ledger_counts(session)[:1],
    )


def test_claim_from_invoice(session: Session) -> None:
    w = make_world(session)
    v = make_claim(session, w)
    c = v.claim
    assert (c.status, c.sequence, c.frequency_code, c.number, c.control_number) == (
        "draft",
        "primary",
        "1",
        1,
        "RC00000001",
    )
    assert (c.payer_id, c.plan_id, c.coverage_id) == (
        w.payer.id,
        w.plan.id,
        w.coverage.coverage.id,
    )
    assert c.diagnosis_codes == ["E119", "I10"]
    assert (c.charge_minor, c.expected_allowed_minor, c.currency) == (21000, 14000, "USD")
    assert (c.service_date_from, c.service_date_to, c.place_of_service) == (DOS, DOS, "11")
    assert c.rendering_provider_id == w.provider.id
    assert [
        (ln.position, ln.procedure, ln.charge_minor, ln.diagnosis_pointers, ln.line_control_number)
        for ln in v.lines
    ] == [
        (1, "99213", 15000, [1, 2], "C1L1"),
        (2, "80053", 6000, [1], "C1L2"),
    ]
    assert [ln.expected_allowed_minor for ln in v.lines] == [10000, 4000]
    events = service.claim_events(session, SYSTEM, c.id)
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [("created", None, "draft")]
    second = make_world(session)
    # Numbers are per practice.
    assert make_claim(session, second).claim.control_number == "RC00000001"


def test_units_and_missing_rate(session: Session) -> None:
    w = make_world(
        session,
        lines=[line("99213", "150.00", units=2), line("97110", "45.00", units=3)],
    )
    v = make_claim(session, w)
    assert [(ln.units, ln.charge_minor, ln.expected_allowed_minor) for ln in v.lines] == [
        (2, 30000, 20000),
        (3, 13500, None),
    ]
    assert v.claim.expected_allowed_minor is None  # one line has no contracted rate


def test_prior_authorization_number_from_consumed_usage(session: Session) -> None:
    w = make_world(session, plan_overrides={"auth_required_codes": ["97110"]})
    make_authorization(session, w.patient, w.payer, services={"97110": 10})
    inv = make_invoice(session, w.patient, lines=[line("97110", "45.00", units=2)])
    v = make_claim(session, w, invoice_id=inv.id)
    assert v.claim.prior_authorization is not None
    assert v.claim.prior_authorization.startswith("AUTH")


def test_line_cannot_be_claimed_twice_for_the_same_sequence(session: Session) -> None:
    w = make_world(session)
    make_claim(session, w)
    before = _counts(session)
    with pytest.raises(DomainError) as exc:
        make_claim(session, w)
    assert exc.value.code == "claim.line_already_claimed"
    assert _counts(session) == before


def test_void_claim_frees_its_lines(session: Session) -> None:
    w = make_world(session)
    v = make_claim(session, w)
    service.transition_claim(session, SYSTEM, v.claim.id, "void", reason="wrong patient")
    again = make_claim(session, w)
    assert again.claim.number == 2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"invoice_line_ids": ["00000000-0000-0000-0000-000000000001"]}, "claim.invalid"),
        ({"coverage_id": "00000000-0000-0000-0000-000000000001"}, "claim.no_coverage"),
    ],
)
def test_refusals_write_nothing(session: Session, change: dict[str, Any], code: str) -> None:
    w = make_world(session)
    before = _counts(session)
    with pytest.raises(DomainError) as exc:
        make_claim(session, w, **change)
    assert exc.value.code == code
    assert _counts(session) == before


def test_draft_or_uncovered_invoice_is_refused(session: Session) -> None:
    w = make_world(session)
    draft = make_invoice(session, w.patient, issue=False)
    with pytest.raises(DomainError) as exc:
        make_claim(session, w, invoice_id=draft.id)
    assert exc.value.code == "claim.invoice_not_billable"
    old = make_invoice(session, w.patient, lines=[line(dos=dt.date(2025, 6, 1))])
    with pytest.raises(DomainError) as exc:
        make_claim(session, w, invoice_id=old.id)
    assert exc.value.code == "claim.no_coverage"


def test_an_invoice_credited_before_billing_is_refused_and_nothing_written(
    session: Session,
) -> None:
    w = make_world(session)
    invoices_service.add_credit_note(
        session,
        SYSTEM,
        w.invoice.id,
        CreditNoteCreate(amount=Decimal("30.00"), reason_code="courtesy"),
    )
    before = _counts(session)
    with pytest.raises(DomainError) as exc:
        make_claim(session, w)
    assert exc.value.code == "claim.invoice_not_billable"
    assert exc.value.message == (
        f"Invoice {w.invoice.display_number} has credit notes of 30.00: a claim bills the full "
        "charges, so bill the payer before crediting the patient (or bill the lines by hand)"
    )
    assert _counts(session) == before


def test_secondary_coverage_makes_a_secondary_claim(session: Session) -> None:
    w = make_world(session)
    plan2 = make_plan(session, w.payer, name="Second plan")
    cov2 = make_coverage(session, w.patient, plan2, priority=2)
    v = make_claim(session, w, coverage_id=cov2.coverage.id)
    assert (v.claim.sequence, v.claim.coverage_id) == ("secondary", cov2.coverage.id)
    # The same lines can still go on the primary claim.
    assert make_claim(session, w).claim.sequence == "primary"


def test_transitions_follow_the_graph(session: Session) -> None:
    w = make_world(session)
    v = make_claim(session, w)
    claim = v.claim
    with pytest.raises(DomainError) as exc:
        states.transition(session, claim, "adjudicated", actor=SYSTEM, actor_kind="system")
    assert exc.value.code == "claim.illegal_transition"
    for target in ("scrubbed", "submitted", "accepted", "adjudicated", "closed"):
        states.transition(session, claim, target, actor=SYSTEM, actor_kind="payer", reason="r")
    events = service.claim_events(session, SYSTEM, claim.id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "draft"),
        ("draft", "scrubbed"),
        ("scrubbed", "submitted"),
        ("submitted", "accepted"),
        ("accepted", "adjudicated"),
        ("adjudicated", "closed"),
    ]
    audit.flush_pending(session)  # audit events are appended to their chain at COMMIT
    audited = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(claim.id))
    ).all()
    assert "claim.closed" in audited


def test_manual_moves(session: Session) -> None:
    w = make_world(session)
    v = make_claim(session, w)
    with pytest.raises(DomainError) as exc:
        service.transition_claim(session, SYSTEM, v.claim.id, "adjudicated", reason="x")
    assert exc.value.code == "claim.illegal_transition"
    held = service.transition_claim(session, SYSTEM, v.claim.id, "held", reason="chart review")
    assert (held.claim.status, held.claim.status_reason) == ("held", "chart review")


def test_bill_to_payer_moves_receivable_once(session: Session) -> None:
    w = make_world(session)
    v = make_claim(session, w)
    repo = LedgerRepository(session)
    before = repo.invoice_ar_balances([w.invoice.id])[w.invoice.id]
    entry = service.bill_to_payer(session, v.claim, SYSTEM)
    assert entry is not None
    assert service.bill_to_payer(session, v.claim, SYSTEM) is None
    session.flush()
    assert repo.invoice_ar_balances([w.invoice.id])[w.invoice.id] == before == 21000
    due, _credit = repo.patient_balances(w.patient.id)
    assert due == 0  # the whole invoice is now the payer's
    # Manual void is refused once the payer has the claim.
    with pytest.raises(DomainError) as exc:
        service.transition_claim(session, SYSTEM, v.claim.id, "void", reason="x")
    assert exc.value.code == "claim.illegal_transition"


def test_concurrent_claims_for_the_same_invoice_make_one(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        w = make_world(s)
    body = ClaimCreate(invoice_id=w.invoice.id)

    barrier = threading.Barrier(8)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                service.create_claim(s, SYSTEM, body)
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert sorted(results) == ["claim.line_already_claimed"] * 7 + ["ok"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(Claim)) == 1
