"""Autopay by bank debit (docs/payment-plans.md, "Autopay by bank debit"): the installment is
``processing`` while the debit is pending, paid when it settles; a return before settlement is
a decline (R01 soft: retried; R02-R04 hard: autopay stops); a return after settlement re-opens
the installment (and a plan it had completed) and is handled as a decline. Every installment
attempt is debited once, also with several workers at once."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.gateway.testgw import bank as testgw_bank
from revcycle.gateway.testgw.models import TestgwBankDebit, TestgwCharge
from revcycle.gateway.testgw.service import TestGateway
from revcycle.integrity import service as integrity
from revcycle.kit.clock import today
from revcycle.notifications.models import Notification
from revcycle.payments.bank import recover_pending_bank
from revcycle.payments.models import Payment
from revcycle.plans import autopay, errors, service
from revcycle.plans.models import PlanChargeAttempt, PlanEvent, PlanInstallment
from tests import conftest
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import World, priced, stored_status
from tests.plans.helpers import accept, at, propose, stored_bank

LATER = dt.timedelta(days=10)  # every debit submitted today has settled by then


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def _plan(
    session: Session, w: World, scenario: str, price: str = "90.00", count: int = 3
) -> service.PlanView:
    inv = w.invoice("open", price)
    method = stored_bank(session, w.patient, scenario)
    view = accept(session, propose(session, w.patient, [inv.id], count=count).plan.id, method)
    session.commit()
    return view


def _run(factory: sessionmaker[Session], settings: Settings, days: int = 0) -> int:
    return autopay.run_once(factory, settings, at(days), gateway=TestGateway(factory))


def _bank_day(factory: sessionmaker[Session]) -> None:
    """The bank network settles (or returns) what is due, and revcycle polls the outcomes."""
    testgw_bank.settle(factory, today() + LATER)
    recover_pending_bank(factory, TestGateway(factory), older_than=dt.timedelta(0))


def _get(session: Session, plan_id: object) -> service.PlanView:
    session.expire_all()
    return service.get_plan(session, SYSTEM, plan_id)  # type: ignore[arg-type]


def _payment(session: Session, v: service.PlanView, n: int = 0) -> Payment:
    pay = session.get(Payment, v.attempts[n].payment_id)
    assert pay is not None
    return pay


def _notes(session: Session) -> list[tuple[str, dict[str, object]]]:
    session.expire_all()
    return [
        (n.kind, n.payload) for n in session.scalars(select(Notification).order_by(Notification.id))
    ]


def _entries(session: Session) -> list[str]:
    return list(
        session.execute(text("select kind from journal_entries order by id")).scalars().all()
    )


def test_stored_bank_method_shows_bank_and_last4(session: Session, w: World) -> None:
    m = stored_bank(session, w.patient)
    assert (m.kind, m.last4, m.exp_month, m.exp_year) == ("bank", "6789", None, None)
    assert m.token.startswith("btok_")


def test_installment_is_processing_until_the_debit_settles(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, "settles")
    before = _entries(session)
    assert _run(factory, settings) == 1
    v = _get(session, view.plan.id)
    assert [(i.status, i.paid_minor) for i in v.schedule] == [
        ("processing", 0),
        ("scheduled", 0),
        ("scheduled", 0),
    ]
    assert [(a.status, a.attempt) for a in v.attempts] == [("processing", 1)]
    pay = _payment(session, v)
    assert (pay.status, pay.method, pay.amount_minor, pay.entry_id, pay.bank_last4) == (
        "pending",
        "bank_transfer",
        3000,
        None,
        "6789",
    )
    assert pay.gateway_idempotency_key == autopay.charge_key(v.schedule[0].id, 1)
    assert pay.gateway_charge_id is not None
    assert pay.gateway_charge_id.startswith("py_")
    assert _entries(session) == before  # nothing posted before the money is in
    # not claimed again while processing, nor resumed (the attempt is not pending)
    assert _run(factory, settings) == 0
    assert autopay.run_once(factory, settings, at(0) + dt.timedelta(minutes=5)) == 0
    # desk payments wait: a charge is in flight on the plan
    with pytest.raises(errors.WrongState) as exc:
        service.open_for_money(session, v.plan)
    assert exc.value.code == "plan.charge_in_flight"
    _bank_day(factory)
    assert autopay.sync_bank(factory, settings, at(0)) == {"succeeded": 1}
    assert autopay.sync_bank(factory, settings, at(0)) == {}  # applied once
    v = _get(session, view.plan.id)
    assert [(i.status, i.paid_minor) for i in v.schedule] == [
        ("paid", 3000),
        ("scheduled", 0),
        ("scheduled", 0),
    ]
    assert [a.status for a in v.attempts] == ["succeeded"]
    assert _payment(session, v).status == "succeeded"
    assert _entries(session) == [*before, "payment"]
    assert session.scalar(select(func.count()).select_from(TestgwBankDebit)) == 1
    assert session.scalar(select(func.count()).select_from(TestgwCharge)) == 0
    assert [e.kind for e in v.events][-1] == "payment"


def test_soft_return_before_settlement_is_retried_like_a_soft_decline(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, "R01")
    first = view.schedule[0]
    before = _entries(session)
    assert _run(factory, settings) == 1
    _bank_day(factory)
    assert _run(factory, settings) == 0  # the sync runs first; the retry is not due today
    v = _get(session, view.plan.id)
    inst = v.schedule[0]
    retry = first.due_date + dt.timedelta(days=3)
    assert (inst.status, inst.paid_minor, inst.attempts, inst.last_decline_code) == (
        "scheduled",
        0,
        1,
        "R01",
    )
    assert inst.next_attempt_on == retry
    assert [(a.status, a.decline_code) for a in v.attempts] == [("returned", "R01")]
    pay = _payment(session, v)
    assert (pay.status, pay.return_code, pay.entry_id) == ("returned", "R01", None)
    assert _entries(session) == before
    notes = _notes(session)
    assert [n[0] for n in notes] == ["plan.installment_declined"]
    assert (notes[0][1]["decline_code"], notes[0][1]["next_retry_on"]) == ("R01", retry.isoformat())
    assert v.plan.method_id is not None  # autopay goes on
    # the retry: attempt 2, a new key, a second debit
    assert _run(factory, settings, 3) == 1
    v = _get(session, view.plan.id)
    assert [(a.attempt, a.status) for a in v.attempts] == [(1, "returned"), (2, "processing")]
    assert _payment(session, v, 1).gateway_idempotency_key == autopay.charge_key(inst.id, 2)
    assert session.scalar(select(func.count()).select_from(TestgwBankDebit)) == 2


def test_hard_return_before_settlement_stops_autopay(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, "R02")  # account closed
    assert _run(factory, settings) == 1
    _bank_day(factory)
    assert autopay.sync_bank(factory, settings, at(0)) == {"returned": 1}
    v = _get(session, view.plan.id)
    assert v.plan.method_id is None
    assert (v.schedule[0].status, v.schedule[0].next_attempt_on) == ("scheduled", None)
    assert v.schedule[0].last_decline_code == "R02"
    assert [n[0] for n in _notes(session)] == ["plan.payment_method_update_needed"]
    assert sorted([e.kind for e in v.events][-2:]) == ["autopay_stopped", "installment_declined"]
    assert _run(factory, settings, 3) == 0


def test_return_after_settlement_reopens_the_installment_and_the_completed_plan(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, "return_after_settlement", price="40.00", count=1)
    invoice_id = view.invoices[0].invoice_id
    due = view.schedule[0].due_date
    assert _run(factory, settings) == 1
    _bank_day(factory)  # settles
    assert autopay.sync_bank(factory, settings, at(0)) == {"succeeded": 1}
    v = _get(session, view.plan.id)
    assert v.plan.status == "completed"
    assert stored_status(session, invoice_id) == "paid"
    assert service.invoices_in_plan(session, [invoice_id]) == {}
    _bank_day(factory)  # the bank returns the settled debit (R01)
    assert _payment(session, v).status == "returned"
    assert autopay.sync_bank(factory, settings, at(0)) == {"returned": 1}
    assert autopay.sync_bank(factory, settings, at(0)) == {}
    v = _get(session, view.plan.id)
    assert (v.plan.status, v.plan.ended_at) == ("active", None)
    inst = v.schedule[0]
    assert (inst.status, inst.paid_minor, inst.last_decline_code) == ("scheduled", 0, "R01")
    assert inst.next_attempt_on == max(due + dt.timedelta(days=3), today() + dt.timedelta(days=1))
    assert [(a.status, a.decline_code) for a in v.attempts] == [("returned", "R01")]
    assert v.remaining_minor == 4000
    assert stored_status(session, invoice_id) == "open"
    assert service.invoices_in_plan(session, [invoice_id]) == {invoice_id: view.plan.id}
    # (event ids are UUIDv7: ordered by millisecond, not within one)
    kinds = [e.kind for e in v.events]
    assert sorted(kinds[-4:-2]) == ["completed", "payment"]
    assert sorted(kinds[-2:]) == ["installment_declined", "payment_returned"]
    returned = session.scalars(select(PlanEvent).where(PlanEvent.kind == "payment_returned")).one()
    assert returned.detail == {
        "seq": 1,
        "payment_id": str(v.attempts[0].payment_id),
        "amount_minor": 4000,
        "return_code": "R01",
        "plan_reopened": True,
    }
    assert _entries(session)[-2:] == ["payment", "payment.return"]
    assert [n[0] for n in _notes(session)] == ["plan.installment_declined"]


def test_a_bank_method_cannot_pay_off_a_plan(
    session: Session, factory: sessionmaker[Session], settings: Settings, w: World
) -> None:
    view = _plan(session, w, "settles")
    with pytest.raises(errors.MethodNotUsable):
        autopay.payoff_with_method(
            factory,
            TestGateway(factory),
            settings,
            SYSTEM,
            view.plan.id,
            view.plan.method_id,  # type: ignore[arg-type]
            idempotency_key="payoff-bank",
        )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PlanChargeAttempt)) == 0
    assert session.scalar(select(func.count()).select_from(TestgwBankDebit)) == 0


PLANS = 24
WORKERS = 6


def test_concurrent_workers_debit_each_installment_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _engine, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        for _ in range(PLANS):
            patient = make_patient(s, practice)
            inv = make_invoice(s, patient, lines=priced("30.00"))
            s.flush()
            method = stored_bank(s, patient)
            accept(s, propose(s, patient, [inv.id], count=3).plan.id, method)
    settings = conftest.test_settings(url).model_copy(update={"autopay_batch_size": 3})
    gateway = TestGateway(factory)

    def together(fn: object) -> list[object]:
        barrier = threading.Barrier(WORKERS)

        def one(_: int) -> object:
            barrier.wait()
            return fn()  # type: ignore[operator]

        with ThreadPoolExecutor(WORKERS) as pool:
            return list(pool.map(one, range(WORKERS)))

    done = together(lambda: autopay.run_once(factory, settings, at(0), gateway=gateway))
    assert sum(done) == PLANS  # type: ignore[arg-type]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(TestgwBankDebit)) == PLANS
        assert s.scalars(select(PlanChargeAttempt.status)).all() == ["processing"] * PLANS
    _bank_day(factory)
    synced = together(lambda: autopay.sync_bank(factory, settings, at(0)))
    assert sum(c.get("succeeded", 0) for c in synced) == PLANS  # type: ignore[attr-defined]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(TestgwBankDebit)) == PLANS
        paid = s.scalars(
            select(PlanInstallment.paid_minor).where(PlanInstallment.status == "paid")
        ).all()
        assert paid == [1000] * PLANS
        entries = s.execute(
            text("select count(*) from journal_entries where kind = 'payment'")
        ).scalar_one()
        assert entries == PLANS
        events = s.execute(
            text("select count(*) from plan_events where kind = 'payment'")
        ).scalar_one()
        assert events == PLANS
        report = integrity.run(s)
        assert report.ok, report.violations
