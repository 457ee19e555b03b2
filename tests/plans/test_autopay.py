"""Autopay through the worker task: success, soft declines with retries and notifications,
hard declines stopping autopay, missed installments and default, payoff from a stored card,
resuming a pending attempt with the same key (never two charges)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.gateway.testgw.models import TestgwCharge
from revcycle.gateway.testgw.service import TestGateway
from revcycle.kit.clock import today
from revcycle.notifications.models import Notification
from revcycle.payments.models import Payment
from revcycle.plans import autopay, service
from revcycle.plans.models import PlanChargeAttempt
from revcycle.plans.repository import PlanRepository
from tests.factories.practices import SYSTEM
from tests.gateway.helpers import CARDS
from tests.invoices.helpers import World, stored_status
from tests.plans.helpers import accept, at, propose, stored_card


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def _plan(
    session: Session, w: World, number: str, price: str = "90.00", count: int = 3
) -> service.PlanView:
    inv = w.invoice("open", price)
    card = stored_card(session, w.patient, number)
    view = accept(session, propose(session, w.patient, [inv.id], count=count).plan.id, card)
    session.commit()
    return view


def _run(factory: sessionmaker[Session], settings: Settings, days: int = 0) -> int:
    return autopay.run_once(factory, settings, at(days), gateway=TestGateway(factory))


def _get(session: Session, plan_id: object) -> service.PlanView:
    session.expire_all()
    return service.get_plan(session, SYSTEM, plan_id)  # type: ignore[arg-type]


def _notes(session: Session) -> list[tuple[str, dict[str, object]]]:
    session.expire_all()
    return [
        (n.kind, n.payload) for n in session.scalars(select(Notification).order_by(Notification.id))
    ]


def test_due_installment_is_charged_once(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, CARDS["approved"])
    assert _run(factory, settings) == 1
    assert _run(factory, settings) == 0  # nothing else due today
    v = _get(session, view.plan.id)
    assert [(i.status, i.paid_minor) for i in v.schedule] == [
        ("paid", 3000),
        ("scheduled", 0),
        ("scheduled", 0),
    ]
    assert [(a.status, a.attempt, a.purpose) for a in v.attempts] == [("succeeded", 1, "autopay")]
    pay = session.get(Payment, v.attempts[0].payment_id)
    assert pay is not None
    assert (pay.status, pay.method, pay.amount_minor, pay.card_last4) == (
        "succeeded",
        "card",
        3000,
        "4242",
    )
    assert pay.gateway_idempotency_key == autopay.charge_key(v.schedule[0].id, 1)
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 1
    # the next two months, then the plan completes
    assert _run(factory, settings, 31) == 1
    assert _run(factory, settings, 62) == 1
    v = _get(session, view.plan.id)
    assert v.plan.status == "completed"
    assert stored_status(session, v.invoices[0].invoice_id) == "paid"


def test_soft_decline_retries_and_notifies_then_missed_and_default(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    settings = settings.model_copy(update={"plan_grace_days": 10, "plan_default_after_missed": 1})
    view = _plan(session, w, CARDS["insufficient_funds"])
    first = view.schedule[0]
    assert _run(factory, settings) == 1
    v = _get(session, view.plan.id)
    inst = v.schedule[0]
    assert (inst.status, inst.attempts, inst.last_decline_code) == (
        "scheduled",
        1,
        "insufficient_funds",
    )
    assert inst.next_attempt_on == first.due_date + dt.timedelta(days=3)
    notes = _notes(session)
    assert [n[0] for n in notes] == ["plan.installment_declined"]
    assert notes[0][1]["decline_code"] == "insufficient_funds"
    assert notes[0][1]["next_retry_on"] == (first.due_date + dt.timedelta(days=3)).isoformat()
    assert set(notes[0][1]) == {
        "plan_id",
        "seq",
        "decline_code",
        "due_date",
        "amount_minor",
        "currency",
        "next_retry_on",
    }
    assert _run(factory, settings, 1) == 0  # not before the retry date
    assert _run(factory, settings, 3) == 1
    assert _run(factory, settings, 7) == 1
    v = _get(session, view.plan.id)
    assert (v.schedule[0].attempts, v.schedule[0].next_attempt_on) == (3, None)
    assert len(_notes(session)) == 3
    # grace: missed only after 10 days
    assert autopay.run_missed(factory, settings, at(10)) == 0
    assert autopay.run_missed(factory, settings, at(11)) == 1
    v = _get(session, view.plan.id)
    assert v.plan.status == "defaulted"
    assert v.schedule[0].status == "missed"
    assert service.invoices_in_plan(session, [v.invoices[0].invoice_id]) == {}
    assert [n[0] for n in _notes(session)][-2:] == ["plan.installment_missed", "plan.defaulted"]
    assert v.remaining_minor == 9000
    assert _run(factory, settings, 31) == 0  # a defaulted plan is not charged


def test_hard_decline_stops_autopay_and_asks_for_a_new_method(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, CARDS["expired_card"])
    assert _run(factory, settings) == 1
    v = _get(session, view.plan.id)
    assert v.plan.method_id is None
    assert v.schedule[0].next_attempt_on is None
    assert [n[0] for n in _notes(session)] == ["plan.payment_method_update_needed"]
    assert [e.kind for e in v.events][-2:] == ["installment_declined", "autopay_stopped"]
    assert _run(factory, settings, 3) == 0


def test_a_pending_attempt_is_resumed_with_the_same_key(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """The timeout card: the charge is made but the answer is lost; the next run (after the
    stale delay) gets the same charge back from the gateway and applies it once."""
    view = _plan(session, w, CARDS["timeout"])
    assert _run(factory, settings) == 1
    v = _get(session, view.plan.id)
    assert v.schedule[0].status == "processing"
    assert [a.status for a in v.attempts] == ["pending"]
    assert _run(factory, settings) == 0  # too fresh to resume, and not claimable again
    autopay.run_once(
        factory, settings, at(0) + dt.timedelta(minutes=2), gateway=TestGateway(factory)
    )
    v = _get(session, view.plan.id)
    assert v.schedule[0].status == "paid"
    assert [a.status for a in v.attempts] == ["succeeded"]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 1


def test_payoff_from_a_stored_card(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, CARDS["approved"])
    assert _run(factory, settings) == 1
    plan_view, outcome = autopay.payoff_with_method(
        factory,
        TestGateway(factory),
        settings,
        SYSTEM,
        view.plan.id,
        view.plan.method_id,  # type: ignore[arg-type]
        idempotency_key="payoff-1",
    )
    assert outcome.status == "succeeded"
    assert plan_view.plan.status == "paid_off"
    again, outcome2 = autopay.payoff_with_method(
        factory,
        TestGateway(factory),
        settings,
        SYSTEM,
        view.plan.id,
        view.plan.method_id,  # type: ignore[arg-type]
        idempotency_key="payoff-1",
    )
    assert outcome2.status == "succeeded"
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 2
    session.expire_all()
    attempts = session.scalars(select(PlanChargeAttempt).order_by(PlanChargeAttempt.id)).all()
    assert [(a.purpose, a.status) for a in attempts] == [
        ("autopay", "succeeded"),
        ("payoff", "succeeded"),
    ]
    assert stored_status(session, view.invoices[0].invoice_id) == "paid"
    assert today()  # the ledger check runs after the test


def test_a_claimed_batch_is_applied_in_one_transaction(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    """Approved, declined and approved cards claimed together: each outcome applied as alone."""
    views = [_plan(session, w, CARDS[k]) for k in ("approved", "insufficient_funds", "approved")]
    assert _run(factory, settings) == 3
    got = [_get(session, v.plan.id) for v in views]
    assert [(g.schedule[0].status, g.schedule[0].paid_minor) for g in got] == [
        ("paid", 3000),
        ("scheduled", 0),
        ("paid", 3000),
    ]
    assert [[a.status for a in g.attempts] for g in got] == [
        ["succeeded"],
        ["declined"],
        ["succeeded"],
    ]
    assert [n[0] for n in _notes(session)] == ["plan.installment_declined"]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 3


def test_a_failing_batch_is_applied_one_by_one(
    session: Session,
    factory: sessionmaker[Session],
    settings: Settings,
    w: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    views = [_plan(session, w, CARDS[k]) for k in ("approved", "insufficient_funds")]

    def broken(*_: object) -> None:
        raise OperationalError("lock_batch", {}, Exception("deadlock detected"))

    monkeypatch.setattr(PlanRepository, "lock_batch", broken)
    assert _run(factory, settings) == 2
    got = [_get(session, v.plan.id) for v in views]
    assert [g.schedule[0].status for g in got] == ["paid", "scheduled"]
    assert [[a.status for a in g.attempts] for g in got] == [["succeeded"], ["declined"]]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 2
    entries = session.execute(
        text("select count(*) from journal_entries where kind = 'payment'")
    ).scalar_one()
    assert entries == 1


def test_a_crash_after_the_charges_is_recovered_without_charging_twice(
    session: Session,
    factory: sessionmaker[Session],
    settings: Settings,
    w: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies between the gateway charges and the batch's commit: nothing of the batch
    is applied, the attempts stay pending, and the next run (after the stale delay) gets the
    same charges back by key and applies them once."""
    views = [_plan(session, w, CARDS["approved"]) for _ in range(2)]

    class Crash(BaseException):
        pass

    def crash(*_: object) -> None:
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(PlanRepository, "lock_batch", crash)
        with pytest.raises(Crash):
            _run(factory, settings)
    got = [_get(session, v.plan.id) for v in views]
    assert [[a.status for a in g.attempts] for g in got] == [["pending"], ["pending"]]
    assert [g.schedule[0].status for g in got] == ["processing", "processing"]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 2
    assert _run(factory, settings) == 0  # too fresh to resume
    autopay.run_once(
        factory, settings, at(0) + dt.timedelta(minutes=2), gateway=TestGateway(factory)
    )
    got = [_get(session, v.plan.id) for v in views]
    assert [[a.status for a in g.attempts] for g in got] == [["succeeded"], ["succeeded"]]
    assert [g.schedule[0].status for g in got] == ["paid", "paid"]
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 2
    entries = session.execute(
        text("select count(*) from journal_entries where kind = 'payment'")
    ).scalar_one()
    assert entries == 2
