"""Appeals: opening one from a denial (deadline, late filing, levels), sending, outcomes with
their claim moves and ledger postings, the letter (HTML and PDF), attachments, deadline
reminders, refusals that write nothing, and concurrent openings making one appeal."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, Text, func, select, type_coerce
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals import letter, service, tasks
from revcycle.appeals.models import Appeal, AppealAttachment, AppealEvent, AppealReminder
from revcycle.appeals.repository import AppealRepository
from revcycle.appeals.schemas import AppealCreate, AppealOutcomeIn, AttachmentCreate
from revcycle.claims import denials
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices_service
from revcycle.kit.clock import today
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.practices.models import Practice
from tests.factories.appeals import decided_claim, submitted_claim
from tests.factories.auth import make_user, principal
from tests.factories.claims import make_world
from tests.factories.ledger import ledger_counts
from tests.factories.practices import SYSTEM

ARGUMENT = "The visit was medically necessary.\n\nSee the enclosed notes <b>in full</b>."
PDF = b"%PDF-1.4\n% a tiny test file\n"


def _state(session: Session) -> tuple[int, ...]:
    session.flush()

    def n(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return (
        n(Appeal),
        n(AppealEvent),
        n(AppealAttachment),
        n(AppealReminder),
        n(ClaimEvent),
        *ledger_counts(session),
    )


def _open(session: Session, claim: Claim, **kw: Any) -> service.AppealView:
    body = {"claim_id": claim.id, "argument": ARGUMENT, **kw}
    return service.create_appeal(session, SYSTEM, AppealCreate.model_validate(body))


def _refused(session: Session, code: str, fn: Any, *args: Any, **kw: Any) -> None:
    before = _state(session)
    with pytest.raises(DomainError) as exc:
        fn(*args, **kw)
    assert exc.value.code == code
    assert _state(session) == before


def test_open_an_appeal_from_a_denial(session: Session) -> None:
    w, claim = decided_claim(session, days_ago=10)
    v = _open(session, claim)
    a = v.appeal
    assert (a.status, a.level, a.claim_status_before, a.at_stake_minor, a.currency) == (
        "draft",
        1,
        "denied",
        21000,
        "USD",
    )
    assert a.adjudicated_on == today() - dt.timedelta(days=10)
    assert a.deadline == today() + dt.timedelta(days=50)
    assert (a.late_reason, a.argument, a.patient_id) == (None, ARGUMENT, w.patient.id)
    assert claim.status == "appealed"
    last = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.id.desc())
    ).first()
    assert last is not None
    assert (last.from_status, last.to_status, last.detail) == (
        "denied",
        "appealed",
        {"appeal_id": str(a.id), "level": 1},
    )
    assert [(e.kind, e.from_status, e.to_status) for e in v.events] == [("created", None, "draft")]
    # The argument is sealed at rest.
    raw = session.execute(
        select(type_coerce(Appeal.__table__.c.argument, Text)).where(Appeal.__table__.c.id == a.id)
    ).scalar_one()
    assert "medically" not in raw
    # An appealed claim leaves the queue.
    assert denials.queue(session, SYSTEM).items == []


def test_refusals_write_nothing(session: Session) -> None:
    _, draft = submitted_claim(session)
    _refused(session, "appeal.claim_not_denied", _open, session, draft)
    _, paid = decided_claim(
        session,
        to="adjudicated",
        detail={
            "adjudicated_on": today().isoformat(),
            "paid_minor": 21000,
            "patient_responsibility_minor": 0,
            "adjustments": [],
            "remarks": [],
            "lines": [],
        },
    )
    _refused(session, "appeal.claim_not_denied", _open, session, paid)
    _, late = decided_claim(session, days_ago=61)
    _refused(session, "appeal.past_deadline", _open, session, late)
    _, denied = decided_claim(session)
    _refused(session, "appeal.level_order", _open, session, denied, level=2)
    _open(session, denied)
    _refused(session, "appeal.exists", _open, session, denied)
    # Another practice's staff cannot see the claim.
    other = make_world(session)
    staff = principal(session, make_user(session, "admin", practices=[other.practice]))
    body = AppealCreate(claim_id=denied.id, argument="x")
    _refused(session, "claim.not_found", service.create_appeal, session, staff, body)
    # Billing staff read claims but do not appeal.
    mine = make_user(session, "billing_staff", practices=[session.get(Practice, late.practice_id)])
    body = AppealCreate(claim_id=late.id, argument="x", late_reason="records arrived late")
    _refused(
        session, "auth.forbidden", service.create_appeal, session, principal(session, mine), body
    )


def test_a_late_appeal_needs_a_reason(session: Session) -> None:
    _, claim = decided_claim(session, days_ago=75)
    v = _open(session, claim, late_reason="The payer's letter reached us 30 days late")
    assert v.appeal.deadline == today() - dt.timedelta(days=15)
    assert v.appeal.late_reason == "The payer's letter reached us 30 days late"
    assert v.events[0].detail == {"level": 1, "late": True}


def test_won_appeal_awaits_the_new_835(session: Session) -> None:
    _, claim = decided_claim(session)
    a = _open(session, claim).appeal
    _refused(
        session,
        "appeal.illegal_status",
        service.record_outcome,
        session,
        SYSTEM,
        a.id,
        AppealOutcomeIn(outcome="won"),
    )
    v = service.send_appeal(session, SYSTEM, a.id)
    assert (v.appeal.status, v.appeal.sent_on) == ("sent", today())
    _refused(session, "appeal.illegal_status", service.send_appeal, session, SYSTEM, a.id)
    _refused(
        session,
        "appeal.invalid",
        service.record_outcome,
        session,
        SYSTEM,
        a.id,
        AppealOutcomeIn(outcome="won", expected_amount=Decimal("100.00")),
    )
    before = ledger_counts(session)
    v = service.record_outcome(
        session, SYSTEM, a.id, AppealOutcomeIn(outcome="won", note="Payer reversed the denial")
    )
    assert (v.appeal.status, v.appeal.expected_minor, v.appeal.decided_on) == (
        "won",
        21000,
        today(),
    )
    assert claim.status == "adjudicated"
    last = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.id.desc())
    ).first()
    assert last is not None
    assert last.detail == {
        "appeal_id": str(a.id),
        "level": 1,
        "outcome": "won",
        "expected_minor": 21000,
        "awaiting": "835",
    }
    assert [(e.kind, e.from_status, e.to_status, e.note) for e in v.events] == [
        ("created", None, "draft", None),
        ("status", "draft", "sent", None),
        ("status", "sent", "won", "Payer reversed the denial"),
    ]
    assert ledger_counts(session) == before  # the money comes with the payer's 835
    _refused(
        session,
        "appeal.illegal_status",
        service.record_outcome,
        session,
        SYSTEM,
        a.id,
        AppealOutcomeIn(outcome="lost"),
    )
    # Not back in the denial queue while the 835 is awaited.
    assert denials.queue(session, SYSTEM).items == []


def test_partial_win_needs_an_amount_below_the_stake(session: Session) -> None:
    _, claim = decided_claim(session)
    a = _open(session, claim).appeal
    service.send_appeal(session, SYSTEM, a.id)
    for body in (
        AppealOutcomeIn(outcome="partially_won"),
        AppealOutcomeIn(outcome="partially_won", expected_amount=Decimal("210.00")),
        AppealOutcomeIn(outcome="partially_won", expected_amount=Decimal("0")),
        AppealOutcomeIn(outcome="won", lost_action="write_off"),
        AppealOutcomeIn(outcome="lost", expected_amount=Decimal("1.00")),
    ):
        _refused(session, "appeal.invalid", service.record_outcome, session, SYSTEM, a.id, body)
    v = service.record_outcome(
        session,
        SYSTEM,
        a.id,
        AppealOutcomeIn(outcome="partially_won", expected_amount=Decimal("150.00")),
    )
    assert (v.appeal.status, v.appeal.expected_minor, claim.status) == (
        "partially_won",
        15000,
        "adjudicated",
    )


def test_lost_appeal_returns_to_the_queue_and_a_second_level_follows(session: Session) -> None:
    _, claim = decided_claim(session, days_ago=20)
    first = _open(session, claim).appeal
    service.send_appeal(session, SYSTEM, first.id)
    service.record_outcome(session, SYSTEM, first.id, AppealOutcomeIn(outcome="lost"))
    assert (first.status, first.lost_action, claim.status) == ("lost", "none", "denied")
    [d] = denials.queue(session, SYSTEM).items
    # The original decision's facts, with the second level's window from today's decision.
    assert (d.adjudicated_on, d.appeal_decided_on, d.deadline, d.at_stake_minor) == (
        today() - dt.timedelta(days=20),
        today(),
        today() + dt.timedelta(days=60),
        21000,
    )
    second = _open(session, claim, level=2, argument="New evidence.").appeal
    assert (second.level, second.deadline, second.at_stake_minor) == (
        2,
        today() + dt.timedelta(days=60),
        21000,
    )
    assert claim.status == "appealed"


def _accounts(session: Session, entry_id: Any) -> list[tuple[str, int]]:
    rows = session.execute(
        select(Account.code, Posting.amount_minor)
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.entry_id == entry_id)
        .order_by(Account.code)
    ).all()
    return [(c, int(m)) for c, m in rows]


@pytest.mark.parametrize(
    ("action", "kind", "accounts"),
    [
        ("write_off", "claim.adjustment", [("1210", -21000), ("4200", 21000)]),
        ("patient", "claim.patient_responsibility", [("1200", 21000), ("1210", -21000)]),
    ],
)
def test_lost_appeal_moves_the_balance(
    session: Session, action: str, kind: str, accounts: list[tuple[str, int]]
) -> None:
    w, claim = decided_claim(session)
    a = _open(session, claim).appeal
    service.send_appeal(session, SYSTEM, a.id)
    repo = AppealRepository(session)
    assert repo.insurance_ar(w.invoice.id) == 21000
    before = ledger_counts(session)
    v = service.record_outcome(
        session, SYSTEM, a.id, AppealOutcomeIn(outcome="lost", lost_action=action)
    )
    assert (v.appeal.status, v.appeal.lost_action, claim.status) == ("lost", action, "closed")
    entry = session.get(JournalEntry, v.appeal.outcome_entry_id)
    assert entry is not None
    assert (entry.kind, entry.source_type, entry.source_id) == (kind, "appeal", a.id)
    assert _accounts(session, entry.id) == accounts
    assert ledger_counts(session) == (before[0] + 1, before[1] + 2)
    assert repo.insurance_ar(w.invoice.id) == 0
    figures = invoices_service.invoice_figures(session, w.invoice.id)
    if action == "write_off":
        assert (figures.adjusted, figures.balance) == (21000, 0)
        assert w.invoice.status == "paid"
    else:
        assert (figures.adjusted, figures.balance) == (0, 21000)
    assert v.events[-1].detail == {
        "expected_minor": None,
        "lost_action": action,
        "amount_moved_minor": 21000,
    }


def test_letter_html_and_pdf(session: Session) -> None:
    w, claim = decided_claim(session)
    a = _open(session, claim).appeal
    service.add_attachment(
        session,
        SYSTEM,
        a.id,
        AttachmentCreate(
            filename="visit-notes.pdf",
            content_type="application/pdf",
            content_base64=base64.b64encode(PDF).decode(),
        ),
    )
    view = letter.letter_view(session, SYSTEM, a.id)
    page = letter.html(view)
    assert "First-level appeal of a claim decision" in page
    assert f"<td>{claim.control_number}</td>" in page
    assert "<td>PCN00001</td>" in page or f"PCN{claim.number:05d}" in page
    assert "<td>CO-50</td>" not in page  # claim-level adjustments: none; the lines carry them
    assert "CO-50: The payer does not find the service medically necessary" in page
    assert "CO-16: The claim lacks information or has billing errors; fix and resend it" in page
    assert "<td>ZZ999</td><td>no description on file</td>" in page
    assert "<p>The visit was medically necessary.</p>" in page
    assert "&lt;b&gt;in full&lt;/b&gt;" in page  # the argument is text, escaped
    assert "<li>visit-notes.pdf</li>" in page
    assert "210.00 USD" in page
    assert f"{w.patient.first_name} {w.patient.last_name}" in page
    pdf = letter.pdf(page)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1000


def test_attachments(session: Session) -> None:
    _, claim = decided_claim(session)
    a = _open(session, claim).appeal

    def body(content: bytes, **kw: Any) -> AttachmentCreate:
        values = {
            "filename": "notes.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(content).decode(),
        }
        values.update(kw)
        return AttachmentCreate.model_validate(values)

    row = service.add_attachment(session, SYSTEM, a.id, body(PDF))
    assert (row.filename, row.content_type, row.size_bytes, row.sha256) == (
        "notes.pdf",
        "application/pdf",
        len(PDF),
        hashlib.sha256(PDF).hexdigest(),
    )
    again = service.add_attachment(session, SYSTEM, a.id, body(PDF, filename="copy.pdf"))
    assert again.id == row.id
    # Listed without their content; downloading one loads it.
    listed = service.get_appeal(session, SYSTEM, a.id).attachments
    assert [x.id for x in listed] == [row.id]
    session.expunge_all()
    assert [x.sha256 for x in service.get_appeal(session, SYSTEM, a.id).attachments] == [row.sha256]
    got, content = service.get_attachment(session, SYSTEM, a.id, row.id)
    assert (got.id, content) == (row.id, PDF)
    raw = session.execute(
        select(type_coerce(AppealAttachment.__table__.c.content, Text)).where(
            AppealAttachment.__table__.c.id == row.id
        )
    ).scalar_one()
    assert base64.b64encode(PDF).decode() not in raw  # sealed
    for bad in (
        body(b"GIF89a not a pdf"),
        body(PDF, content_base64="abcde"),
        body(b"\xff\xfe\x00bad", content_type="text/plain"),
        body(b"%PDF-" + b"x" * service.MAX_ATTACHMENT_BYTES),
    ):
        _refused(
            session, "appeal.attachment_invalid", service.add_attachment, session, SYSTEM, a.id, bad
        )
    for name in ("../etc/passwd", "C:\\scans\\x.pdf", "<b>.pdf", ".hidden"):
        with pytest.raises(ValidationError):
            body(PDF, filename=name)
    service.send_appeal(session, SYSTEM, a.id)
    service.record_outcome(session, SYSTEM, a.id, AppealOutcomeIn(outcome="won"))
    _refused(
        session,
        "appeal.illegal_status",
        service.add_attachment,
        session,
        SYSTEM,
        a.id,
        body(b"%PDF-2"),
    )


def test_reminders_once_per_threshold(session: Session) -> None:
    # Deadline in 10 days: adjudicated 50 days ago with a 60-day window.
    _, claim = decided_claim(session, days_ago=50)
    a = _open(session, claim).appeal
    _, decided = decided_claim(session, days_ago=55)
    b = _open(session, decided).appeal
    service.send_appeal(session, SYSTEM, b.id)
    service.record_outcome(session, SYSTEM, b.id, AppealOutcomeIn(outcome="won"))
    _, far = decided_claim(session, days_ago=1)
    _open(session, far)

    day = today()
    assert tasks.remind(session, day) == 1
    assert tasks.remind(session, day) == 0
    assert tasks.remind(session, day + dt.timedelta(days=2)) == 0  # still the 14-day one
    assert tasks.remind(session, day + dt.timedelta(days=3)) == 1  # 7 days left
    assert tasks.remind(session, day + dt.timedelta(days=9)) == 1  # 1 day left: the 2-day one
    assert tasks.remind(session, day + dt.timedelta(days=9)) == 0
    assert tasks.remind(session, day + dt.timedelta(days=11)) == 0  # past the deadline
    rows = session.scalars(select(AppealReminder).order_by(AppealReminder.days_before)).all()
    assert [(r.appeal_id, r.days_before, r.deadline, r.status) for r in rows] == [
        (a.id, 2, a.deadline, "pending"),
        (a.id, 7, a.deadline, "pending"),
        (a.id, 14, a.deadline, "pending"),
    ]


def test_concurrent_openings_make_one_appeal(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        _, claim = decided_claim(s)
        claim_id = claim.id
    body = AppealCreate(claim_id=claim_id, argument=ARGUMENT)
    barrier = threading.Barrier(6)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                service.create_appeal(s, SYSTEM, body)
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert sorted(results) == ["appeal.exists"] * 5 + ["ok"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(Appeal)) == 1
        assert s.scalar(select(Claim.status).where(Claim.id == claim_id)) == "appealed"


def test_concurrent_reminder_runs_write_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        _, claim = decided_claim(s, days_ago=50)
        _open(s, claim)
    barrier = threading.Barrier(4)

    def attempt(_: int) -> int:
        barrier.wait()
        with unit_of_work(factory) as s:
            return tasks.remind(s, today())

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert sum(results) == 1
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(AppealReminder)) == 1


def test_appeal_of_denied_lines_on_a_paid_claim(session: Session) -> None:
    w, claim = decided_claim(session, to="adjudicated", days_ago=30)
    first = _open(session, claim).appeal
    assert (first.claim_status_before, first.at_stake_minor, first.deadline) == (
        "adjudicated",
        6000,
        today() + dt.timedelta(days=30),
    )
    service.send_appeal(session, SYSTEM, first.id)
    service.record_outcome(session, SYSTEM, first.id, AppealOutcomeIn(outcome="lost"))
    assert claim.status == "adjudicated"
    [d] = denials.queue(session, SYSTEM).items
    assert (d.claim.id, d.at_stake_minor, d.paid_minor, d.deadline) == (
        claim.id,
        6000,
        9600,
        today() + dt.timedelta(days=60),
    )
    second = _open(session, claim, level=2).appeal
    service.send_appeal(session, SYSTEM, second.id)
    v = service.record_outcome(
        session, SYSTEM, second.id, AppealOutcomeIn(outcome="lost", lost_action="write_off")
    )
    assert claim.status == "closed"
    # The billed 210.00 is still all in insurance receivables (no 835 money was posted in this
    # test): only the 60.00 at stake is written off.
    assert _accounts(session, v.appeal.outcome_entry_id) == [("1210", -6000), ("4200", 6000)]
    assert AppealRepository(session).insurance_ar(w.invoice.id) == 15000
