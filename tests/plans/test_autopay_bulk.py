"""The autopay bulk path: one ``charge_many`` call per claimed batch (one transaction on the test
gateway) and the approved charges settled with bulk statements -- the same rows, values and audit
events as one at a time; declines, timeouts and a gateway without a batch call unchanged."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit.models import AuditEvent
from revcycle.config import Settings
from revcycle.gateway.base import (
    BatchChargeGateway,
    Charge,
    ChargeRequest,
    ChargeStatus,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentGateway,
    charge_many,
)
from revcycle.gateway.testgw import service as testgw
from revcycle.gateway.testgw.models import TestgwCharge, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.notifications.models import Notification
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.plans import autopay, autopay_settle, service
from revcycle.plans.models import PlanChargeAttempt, PlanEvent
from revcycle.receipts.models import Receipt
from tests.factories.practices import SYSTEM
from tests.gateway.helpers import CARDS, EXP_YEAR
from tests.invoices.helpers import World, stored_status
from tests.plans.helpers import accept, at, propose, stored_card


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def _plan(session: Session, w: World, number: str, price: str = "90.00") -> service.PlanView:
    inv = w.invoice("open", price)
    card = stored_card(session, w.patient, number)
    view = accept(session, propose(session, w.patient, [inv.id], count=3).plan.id, card)
    session.commit()
    return view


def _token(session: Session, number: str) -> str:
    tok = testgw.tokenize(
        session,
        fingerprint_key=b"k" * 32,
        number=number,
        exp_month=12,
        exp_year=EXP_YEAR,
        cvc="123",
    )
    session.commit()
    return tok.id


class OneByOne:
    """A gateway with no batch call (like every real card gateway): only the PaymentGateway
    methods autopay uses, passed to the test gateway; ``unavailable_after`` makes the n-th and
    later authorisations answer GatewayUnavailable."""

    def __init__(self, inner: TestGateway, unavailable_after: int | None = None) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.calls = 0
        self.unavailable_after = unavailable_after

    def authorize(
        self,
        token: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
        *,
        capture: bool = False,
    ) -> Charge:
        self.calls += 1
        if self.unavailable_after is not None and self.calls >= self.unavailable_after:
            raise GatewayUnavailable("down")
        return self.inner.authorize(
            token, amount_minor, currency, idempotency_key, metadata, capture=capture
        )

    def capture(self, charge_id: str, amount_minor: int | None = None) -> Charge:
        return self.inner.capture(charge_id, amount_minor)

    def __getattr__(self, name: str) -> object:
        if name == "charge_many":  # no batch call
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_charge_many_on_the_test_gateway_is_one_call_with_per_request_answers(
    session: Session, factory: sessionmaker[Session]
) -> None:
    ok, declined, slow = (
        _token(session, CARDS["approved"]),
        _token(session, CARDS["insufficient_funds"]),
        _token(session, CARDS["timeout"]),
    )
    gw = TestGateway(factory)
    assert isinstance(gw, BatchChargeGateway)
    requests = [
        ChargeRequest(ok, 3000, "USD", "k-1", {"payment_id": "p1"}),
        ChargeRequest(declined, 2000, "USD", "k-2"),
        ChargeRequest(slow, 1500, "USD", "k-3"),
        ChargeRequest("tok_missing", 100, "USD", "k-4"),
        ChargeRequest(ok, 0, "USD", "k-5"),
    ]
    first = charge_many(gw, requests)
    assert isinstance(first[0], Charge)
    assert (
        first[0].status,
        first[0].amount_minor,
        first[0].captured_minor,
        dict(first[0].metadata),
    ) == (ChargeStatus.SUCCEEDED, 3000, 3000, {"payment_id": "p1"})
    assert first[0].card is not None
    assert first[0].card.last4 == "4242"
    assert isinstance(first[1], Charge)
    assert (first[1].status, first[1].captured_minor, first[1].decline_code) == (
        ChargeStatus.DECLINED,
        0,
        "insufficient_funds",
    )
    assert isinstance(first[2], GatewayTimeout)
    assert isinstance(first[3], GatewayRefused)
    assert first[3].code == "resource_missing"
    assert isinstance(first[4], GatewayRefused)
    assert first[4].code == "amount_invalid"
    rows = session.execute(
        select(
            TestgwCharge.idempotency_key, TestgwCharge.status, TestgwCharge.captured_minor
        ).order_by(TestgwCharge.idempotency_key)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("k-1", "succeeded", 3000),
        ("k-2", "declined", 0),
        ("k-3", "succeeded", 1500),
    ]
    events = session.scalars(select(TestgwWebhook.type).order_by(TestgwWebhook.type)).all()
    assert events == ["charge.failed", "charge.succeeded", "charge.succeeded"]
    # The same call again: the same charges by key, nothing new written.
    again = charge_many(gw, requests[:3])
    assert isinstance(again[0], Charge)
    assert again[0].id == first[0].id
    assert isinstance(again[1], Charge)
    assert again[1].id == first[1].id
    assert isinstance(again[2], Charge)
    assert again[2].captured_minor == 1500
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 3
    assert session.scalar(select(func.count()).select_from(TestgwWebhook)) == 3
    # A key reused with another amount is refused for that request only.
    reused = charge_many(gw, [ChargeRequest(ok, 3100, "USD", "k-1")])
    assert isinstance(reused[0], GatewayRefused)
    assert reused[0].code == "idempotency_key_reused"
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 3


def test_a_mixed_batch_is_settled_with_exact_rows(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """Approved, declined, approved (90.00 in 3 installments of 30.00): the approved ones get a
    succeeded payment, its entry (card clearing +3000, the invoice's AR -3000), its allocation,
    consecutive receipt numbers, a succeeded attempt, a paid installment and the plan's
    ``payment`` event; the declined one retries and notifies exactly as before."""
    views = [
        _plan(session, w, CARDS[k], price)
        for k, price in (
            ("approved", "90.00"),
            ("insufficient_funds", "60.00"),
            ("approved", "30.00"),
        )
    ]
    assert autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory)) == 3
    session.expire_all()
    got = [service.get_plan(session, SYSTEM, v.plan.id) for v in views]
    assert [[(i.status, i.paid_minor) for i in g.schedule] for g in got] == [
        [("paid", 3000), ("scheduled", 0), ("scheduled", 0)],
        [("scheduled", 0), ("scheduled", 0), ("scheduled", 0)],
        [("paid", 1000), ("scheduled", 0), ("scheduled", 0)],
    ]
    assert [[(a.status, a.decline_code) for a in g.attempts] for g in got] == [
        [("succeeded", None)],
        [("declined", "insufficient_funds")],
        [("succeeded", None)],
    ]
    assert got[1].schedule[0].last_decline_code == "insufficient_funds"
    assert got[1].schedule[0].next_attempt_on is not None
    pays = [session.get(Payment, g.attempts[0].payment_id) for g in got]
    assert [
        (p.status, p.amount_minor, p.unapplied_minor, p.card_last4, p.decline_code)
        for p in pays
        if p is not None
    ] == [
        ("succeeded", 3000, 0, "4242", None),
        ("declined", 2000, 0, "9995", "insufficient_funds"),
        ("succeeded", 1000, 0, "4242", None),
    ]
    charges = {c.idempotency_key: c for c in session.scalars(select(TestgwCharge))}
    for p in pays:
        assert p is not None
        assert p.gateway_idempotency_key is not None
        assert p.gateway_charge_id == charges[p.gateway_idempotency_key].id
    ok = [p for p in pays if p is not None and p.status == "succeeded"]
    for pay, view in zip(ok, (views[0], views[2]), strict=True):
        postings = session.execute(
            select(Account.code, Posting.amount_minor, Posting.invoice_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.entry_id == pay.entry_id)
            .order_by(Account.code)
        ).all()
        invoice_id = view.invoices[0].invoice_id
        amount = pay.amount_minor
        assert [tuple(r) for r in postings] == [
            ("1010", amount, None),
            ("1200", -amount, invoice_id),
        ]
        allocations = session.execute(
            select(PaymentAllocation.invoice_id, PaymentAllocation.amount_minor).where(
                PaymentAllocation.payment_id == pay.id
            )
        ).all()
        assert [tuple(a) for a in allocations] == [(invoice_id, amount)]
    assert session.scalar(select(func.count()).select_from(PaymentAllocation)) == 2
    entries = session.execute(
        select(JournalEntry.source_id).where(JournalEntry.kind == "payment")
    ).scalars()
    assert sorted(entries) == sorted(p.id for p in ok)
    receipts = session.execute(
        select(Receipt.payment_id, Receipt.number, Receipt.amount_minor).order_by(Receipt.number)
    ).all()
    assert sorted((r.payment_id, r.amount_minor) for r in receipts) == sorted(
        (p.id, p.amount_minor) for p in ok
    )
    assert [r.number for r in receipts] == [1, 2]
    assert [stored_status(session, v.invoices[0].invoice_id) for v in views] == [
        "partially_paid",
        "open",
        "partially_paid",
    ]
    assert [[e.kind for e in g.events][-1] for g in got] == [
        "payment",
        "installment_declined",
        "payment",
    ]
    assert [n.kind for n in session.scalars(select(Notification))] == ["plan.installment_declined"]
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("payment:record") == 2
    assert actions.count("plan:payment") == 2
    assert actions.count("payment:card_attempt") == 3
    assert actions.count("payment:card_declined") == 1


def test_the_bulk_path_writes_what_one_at_a_time_writes(
    session: Session,
    factory: sessionmaker[Session],
    settings: Settings,
    w: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two plans settled in bulk, then two more with the bulk settle switched off (every
    outcome through the one-at-a-time code): the same rows, field by field."""
    first = [_plan(session, w, CARDS["approved"]) for _ in range(2)]
    autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory))
    second = [_plan(session, w, CARDS["approved"]) for _ in range(2)]
    monkeypatch.setattr(autopay_settle, "settle_approved", lambda _s, _a, items: items)
    autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory))
    session.expire_all()

    def shape(view: service.PlanView) -> tuple[object, ...]:
        v = service.get_plan(session, SYSTEM, view.plan.id)
        pay = session.get(Payment, v.attempts[0].payment_id)
        assert pay is not None
        postings = session.execute(
            select(
                Account.code,
                Posting.amount_minor,
                Posting.invoice_id.is_not(None),
                Posting.patient_id,
            )
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.entry_id == pay.entry_id)
            .order_by(Account.code)
        ).all()
        receipt = session.scalar(select(Receipt).where(Receipt.payment_id == pay.id))
        assert receipt is not None
        events = session.scalars(
            select(PlanEvent)
            .where(PlanEvent.plan_id == v.plan.id, PlanEvent.kind == "payment")
            .order_by(PlanEvent.id)
        ).all()
        return (
            [(i.status, i.paid_minor, i.attempts, i.next_attempt_on) for i in v.schedule],
            [(a.status, a.decline_code, a.attempt) for a in v.attempts],
            (pay.status, pay.amount_minor, pay.unapplied_minor, pay.card_brand, pay.card_last4),
            (pay.card_exp_month, pay.card_exp_year, pay.next_action_url, pay.method),
            [tuple(p) for p in postings],
            (receipt.series, receipt.amount_minor, receipt.currency),
            [
                (e.kind, e.actor_role, {k: x for k, x in e.detail.items() if k != "payment_id"})
                for e in events
            ],
            stored_status(session, v.invoices[0].invoice_id),
        )

    assert [shape(v) for v in first] == [shape(v) for v in second]
    numbers = session.scalars(select(Receipt.number).order_by(Receipt.number)).all()
    assert numbers == [1, 2, 3, 4]
    per_payment = session.execute(
        select(AuditEvent.action, func.count())
        .where(AuditEvent.action.in_(("payment:record", "plan:payment")))
        .group_by(AuditEvent.action)
        .order_by(AuditEvent.action)
    ).all()
    assert [tuple(r) for r in per_payment] == [("payment:record", 4), ("plan:payment", 4)]


def test_a_repeated_run_charges_nothing_twice(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """A second run finds nothing due; replaying the batch's requests at the gateway answers the
    same charges (by key) and writes none."""
    views = [_plan(session, w, CARDS["approved"]) for _ in range(3)]
    gw = TestGateway(factory)
    assert autopay.run_once(factory, settings, at(0), gateway=gw) == 3
    assert autopay.run_once(factory, settings, at(0), gateway=gw) == 0
    session.expire_all()
    pays = session.scalars(select(Payment).order_by(Payment.id)).all()
    assert len(pays) == 3
    tokens = {c.idempotency_key: c.token_id for c in session.scalars(select(TestgwCharge))}
    replay = charge_many(
        gw,
        [
            ChargeRequest(
                tokens[p.gateway_idempotency_key or ""],
                p.amount_minor,
                p.currency,
                p.gateway_idempotency_key or "",
                {"payment_id": str(p.id)},
            )
            for p in pays
        ],
    )
    assert [r.id for r in replay if isinstance(r, Charge)] == [p.gateway_charge_id for p in pays]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 3
    entries = session.execute(
        text("select count(*) from journal_entries where kind = 'payment'")
    ).scalar_one()
    assert entries == 3
    assert [service.get_plan(session, SYSTEM, v.plan.id).schedule[0].status for v in views] == [
        "paid"
    ] * 3


def test_a_gateway_without_a_batch_call_is_charged_one_by_one(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    views = [_plan(session, w, CARDS[k]) for k in ("approved", "generic_decline")]
    gw = OneByOne(TestGateway(factory))
    assert not isinstance(gw, BatchChargeGateway)
    assert isinstance(gw, PaymentGateway)
    assert autopay.run_once(factory, settings, at(0), gateway=gw) == 2
    assert gw.calls == 2
    session.expire_all()
    got = [service.get_plan(session, SYSTEM, v.plan.id) for v in views]
    assert [[(a.status, a.decline_code) for a in g.attempts] for g in got] == [
        [("succeeded", None)],
        [("declined", "generic_decline")],
    ]
    assert [g.schedule[0].status for g in got] == ["paid", "scheduled"]


def test_gateway_unavailable_stops_sending_and_releases_what_was_not_sent(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """The second authorisation finds the gateway down: the first is charged and settled; the
    second and third were never charged (attempt failed ``gateway_unavailable``, installment due
    again) and the next run charges them."""
    views = [_plan(session, w, CARDS["approved"]) for _ in range(3)]
    gw = OneByOne(TestGateway(factory), unavailable_after=2)
    assert autopay.run_once(factory, settings, at(0), gateway=gw) == 1
    assert gw.calls == 2  # the third was not sent
    session.expire_all()
    got = [service.get_plan(session, SYSTEM, v.plan.id) for v in views]
    assert [[(a.status, a.decline_code) for a in g.attempts] for g in got] == [
        [("succeeded", None)],
        [("failed", "gateway_unavailable")],
        [("failed", "gateway_unavailable")],
    ]
    assert [g.schedule[0].status for g in got] == ["paid", "scheduled", "scheduled"]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 1
    assert autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory)) == 2
    session.expire_all()
    got = [service.get_plan(session, SYSTEM, v.plan.id) for v in views]
    assert [g.schedule[0].status for g in got] == ["paid"] * 3
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 3


def test_a_timeout_in_a_batch_leaves_only_that_attempt_pending(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    views = [_plan(session, w, CARDS[k]) for k in ("approved", "timeout")]
    assert autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory)) == 2
    session.expire_all()
    got = [service.get_plan(session, SYSTEM, v.plan.id) for v in views]
    assert [[a.status for a in g.attempts] for g in got] == [["succeeded"], ["pending"]]
    assert [g.schedule[0].status for g in got] == ["paid", "processing"]


def _ids(rows: Sequence[object]) -> list[uuid.UUID]:
    return [r.id for r in rows]  # type: ignore[attr-defined]


def test_a_pending_card_resumed_after_a_crash_is_found_by_key(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """A crash right after the claim (nothing sent): the stale attempt is resumed by the next
    run; the charge the gateway has for its key (none here) decides, and it is charged once."""
    view = _plan(session, w, CARDS["approved"])
    claimed = autopay._claim(factory, TestGateway(factory), at(0).date(), 10)  # noqa: SLF001
    assert [c.plan_id for c in claimed] == [view.plan.id]
    assert autopay.run_once(factory, settings, at(0), gateway=TestGateway(factory)) == 0
    later = at(0) + dt.timedelta(minutes=2)
    assert autopay.run_once(factory, settings, later, gateway=TestGateway(factory)) == 1
    session.expire_all()
    v = service.get_plan(session, SYSTEM, view.plan.id)
    assert [(a.status, a.attempt) for a in v.attempts] == [("succeeded", 1)]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 1
    assert _ids(session.scalars(select(PlanChargeAttempt)).all()) == [claimed[0].attempt_id]
