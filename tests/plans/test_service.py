"""Plans through the service layer: propose/accept/refuse, desk payments, payoff, changes."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from revcycle.errors import DomainError
from revcycle.kit.clock import today
from revcycle.ledger.repository import LedgerRepository
from revcycle.plans import service
from revcycle.plans.schemas import PayoffCreate, PlanChange, PlanPaymentCreate
from tests.factories.practices import SYSTEM
from tests.invoices.helpers import World, stored_status
from tests.plans.helpers import accept, full_snapshot, propose, stored_card


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def amounts(view: service.PlanView) -> list[tuple[int, str, int, str]]:
    return [(i.seq, i.due_date.isoformat(), i.amount_minor, i.status) for i in view.schedule]


def test_propose_shows_the_schedule_and_accept_puts_invoices_in_plan(
    session: Session, w: World
) -> None:
    a = w.invoice("open", "100.00")
    b = w.invoice("partially_paid", "125.00")  # 75.00 left
    view = propose(session, w.patient, [a.id, b.id], count=3)
    assert view.plan.status == "proposed"
    assert view.plan.total_minor == 17500
    assert [i.amount_minor for i in view.schedule] == [5833, 5833, 5834]
    assert service.invoices_in_plan(session, [a.id, b.id]) == {}
    view = accept(session, view.plan.id)
    assert view.plan.status == "active"
    assert service.invoices_in_plan(session, [a.id, b.id]) == {
        a.id: view.plan.id,
        b.id: view.plan.id,
    }
    assert [e.kind for e in view.events] == ["proposed", "accepted"]


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("draft", "plan.invoice_not_plannable"),
        ("paid", "plan.invoice_not_plannable"),
        ("void", "plan.invoice_not_plannable"),
    ],
)
def test_refused_proposals_write_nothing(session: Session, w: World, state: str, code: str) -> None:
    inv = w.invoice(state)
    before = full_snapshot(session)
    with pytest.raises(DomainError) as exc:
        propose(session, w.patient, [inv.id])
    assert exc.value.code == code
    assert full_snapshot(session) == before


def test_an_invoice_is_in_one_plan_at_a_time(session: Session, w: World) -> None:
    inv = w.invoice("open")
    accept(session, propose(session, w.patient, [inv.id]).plan.id)
    before = full_snapshot(session)
    with pytest.raises(DomainError) as exc:
        propose(session, w.patient, [inv.id])
    assert exc.value.code == "plan.invoice_in_plan"
    assert full_snapshot(session) == before


def test_other_patients_invoice_and_past_first_date_refused(session: Session, w: World) -> None:
    from tests.factories.patients import make_patient

    other = make_patient(session, w.practice)
    inv = w.invoice("open", patient=other)
    mine = w.invoice("open")
    before = full_snapshot(session)
    with pytest.raises(DomainError) as exc:
        propose(session, w.patient, [inv.id])
    assert exc.value.code == "invoice.not_found"
    import datetime as dt

    with pytest.raises(DomainError) as exc:
        propose(session, w.patient, [mine.id], first=today() - dt.timedelta(days=1))
    assert exc.value.code == "plan.first_due_in_past"
    assert full_snapshot(session) == before


def test_accept_refused_when_balance_changed(session: Session, w: World) -> None:
    from tests.invoices.helpers import pay

    inv = w.invoice("open", "100.00")
    view = propose(session, w.patient, [inv.id])
    pay(session, w.patient, "10.00", [(inv, "10.00")])
    with pytest.raises(DomainError) as exc:
        accept(session, view.plan.id)
    assert exc.value.code == "plan.balance_changed"


def test_desk_payments_pay_installments_in_order_and_complete(session: Session, w: World) -> None:
    a = w.invoice("open", "60.00")
    b = w.invoice("open", "30.00")
    plan = accept(session, propose(session, w.patient, [a.id, b.id], count=3).plan.id).plan
    v = service.record_plan_payment(
        session,
        SYSTEM,
        plan.id,
        PlanPaymentCreate.model_validate({"amount": "40.00", "method": "cash"}),
    )
    assert [(i.paid_minor, i.status) for i in v.schedule] == [
        (3000, "paid"),
        (1000, "scheduled"),
        (0, "scheduled"),
    ]
    assert LedgerRepository(session).invoice_ar_balances([a.id, b.id]) == {a.id: 2000, b.id: 3000}
    with pytest.raises(DomainError) as exc:
        service.record_plan_payment(
            session,
            SYSTEM,
            plan.id,
            PlanPaymentCreate.model_validate({"amount": "50.01", "method": "cash"}),
        )
    assert exc.value.code == "plan.amount_exceeds_remaining"
    v = service.record_plan_payment(
        session,
        SYSTEM,
        plan.id,
        PlanPaymentCreate.model_validate({"amount": "50.00", "method": "check"}),
    )
    assert v.plan.status == "completed"
    assert v.remaining_minor == 0
    assert stored_status(session, a.id) == "paid"
    assert stored_status(session, b.id) == "paid"
    assert service.invoices_in_plan(session, [a.id, b.id]) == {}


def test_payoff_at_the_desk(session: Session, w: World) -> None:
    inv = w.invoice("open", "90.00")
    plan = accept(session, propose(session, w.patient, [inv.id], count=3).plan.id).plan
    v = service.payoff_at_desk(
        session, SYSTEM, plan.id, PayoffCreate.model_validate({"method": "cash"})
    )
    assert v.plan.status == "paid_off"
    assert [i.status for i in v.schedule] == ["paid"] * 3
    assert stored_status(session, inv.id) == "paid"
    assert [e.kind for e in v.events][-1] == "payoff"


def test_reschedule_keeps_history(session: Session, w: World) -> None:
    inv = w.invoice("open", "100.00")
    plan = accept(session, propose(session, w.patient, [inv.id], count=2).plan.id).plan
    service.record_plan_payment(
        session,
        SYSTEM,
        plan.id,
        PlanPaymentCreate.model_validate({"amount": "20.00", "method": "cash"}),
    )
    v = service.change_plan(
        session,
        SYSTEM,
        plan.id,
        PlanChange.model_validate(
            {"reason": "Lost job", "installment_count": 4, "frequency": "weekly"}
        ),
    )
    assert v.plan.version == 2
    assert [i.amount_minor for i in v.schedule] == [2000, 2000, 2000, 2000]
    assert sum(i.amount_minor for i in v.schedule) == 8000
    change = v.events[-1]
    assert change.kind == "changed"
    assert change.reason == "Lost job"
    assert change.detail["before"][0][2:] == [5000, 2000, "scheduled"]
    assert len(change.detail["after"]) == 4
    # superseded rows are kept, cancelled
    assert sorted({(i.version, i.status) for i in v.installments}) == [
        (1, "cancelled"),
        (2, "scheduled"),
    ]


def test_method_change_and_removal_stop_or_start_autopay(session: Session, w: World) -> None:
    inv = w.invoice("open", "90.00")
    card = stored_card(session, w.patient)
    plan = accept(session, propose(session, w.patient, [inv.id]).plan.id).plan
    assert all(
        i.next_attempt_on is None for i in service.get_plan(session, SYSTEM, plan.id).schedule
    )
    v = service.change_plan(
        session,
        SYSTEM,
        plan.id,
        PlanChange.model_validate({"reason": "Autopay", "payment_method_id": card.id}),
    )
    assert v.plan.method_id == card.id
    assert [i.next_attempt_on for i in v.schedule] == [i.due_date for i in v.schedule]
    service.remove_method(session, SYSTEM, w.patient.id, card.id)
    v = service.get_plan(session, SYSTEM, plan.id)
    assert v.plan.method_id is None
    assert all(i.next_attempt_on is None for i in v.schedule)
    assert v.events[-1].kind == "autopay_stopped"


def test_cancel(session: Session, w: World) -> None:
    inv = w.invoice("open")
    plan = accept(session, propose(session, w.patient, [inv.id]).plan.id).plan
    v = service.cancel_plan(session, SYSTEM, plan.id, "Patient asked")
    assert v.plan.status == "cancelled"
    assert service.invoices_in_plan(session, [inv.id]) == {}
    with pytest.raises(DomainError) as exc:
        service.cancel_plan(session, SYSTEM, plan.id, "again")
    assert exc.value.code == "plan.wrong_state"
