"""Screening in the service layer against the database: rules fire at their threshold and not one
below (counts and windows), flags execute and open a review, holds and blocks roll the attempt
back, the after-the-fact job writes each finding once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.fraud import screen, service, tasks
from revcycle.fraud.errors import FraudHeld
from revcycle.fraud.models import FraudReview
from revcycle.fraud.schemas import Decision, ReviewDecide, RuleUpdate
from revcycle.integrity import service as integrity
from revcycle.kit.clock import utcnow
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.refunds.models import Refund
from tests.factories.auth import make_user, principal
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice
from tests.fraud.helpers import backdate, counts, pay, reviews
from tests.invoices.helpers import World, priced
from tests.refunds.helpers import limits, refund


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


@pytest.fixture
def staff(session: Session, w: World) -> Principal:
    return principal(session, w.staff)


def test_duplicate_payment_flags_inside_the_window_only(
    session: Session, w: World, staff: Principal
) -> None:
    first = pay(session, staff, w.patient, "120.00")
    assert reviews(session) == []
    backdate(session, Payment, 10 - 0.05)  # 9 min 57 s ago: inside the 10-minute window
    second = pay(session, staff, w.patient, "120.00")
    [flag] = reviews(session)
    assert (flag.rule_code, flag.action, flag.status, flag.subject_id, flag.payment_id) == (
        "duplicate_payment",
        "flag",
        "open",
        second.id,
        second.id,
    )
    assert flag.explanation == (
        "1 other cash payment of 120.00 for this patient in 10 minutes (limit 1)"
    )
    assert (flag.actor_user_id, flag.amount_minor) == (w.staff.id, 12000)
    # a flag executes: the payment and its entry are there
    assert session.get(Payment, second.id) is not None
    assert second.entry_id is not None
    pay(session, staff, w.patient, "120.01")  # another amount
    pay(session, staff, w.patient, "120.00", method="check")  # another method
    assert len(reviews(session)) == 1
    backdate(session, Payment, 10 + 0.05)  # all now just outside the window
    pay(session, staff, w.patient, "120.00")
    assert len(reviews(session)) == 1
    assert first.id != second.id


def test_the_server_operator_is_not_screened(session: Session, w: World) -> None:
    pay(session, SYSTEM, w.patient, "80.00")
    pay(session, SYSTEM, w.patient, "80.00")
    assert reviews(session) == []


def test_a_practice_setting_changes_the_threshold_and_is_audited(
    session: Session, w: World, staff: Principal
) -> None:
    admin = principal(session, make_user(session, "admin", practices=[w.practice]))

    after = service.update_rule(
        session,
        admin,
        w.practice.id,
        "duplicate_payment",
        RuleUpdate.model_validate({"params": {"duplicates": 2}, "action": "hold"}),
    )
    assert (after.action.value, dict(after.params)) == (
        "hold",
        {"window_minutes": 10, "duplicates": 2},
    )
    pay(session, staff, w.patient, "50.00")
    pay(session, staff, w.patient, "50.00")  # 1 other: below the practice's 2
    assert reviews(session) == []
    pay(session, staff, w.patient, "50.00")  # 2 others: a hold, recorded as a flag (cash)
    [flag] = reviews(session)
    assert (flag.action, flag.status) == ("flag", "open")
    assert flag.explanation.endswith("(hold recorded as a flag: the money was already received)")
    audit.flush_pending(session)
    events = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "fraud:rule_update")
    ).all()
    assert events == [
        {
            "before": "enabled=True;action=flag;duplicates=1,window_minutes=10",
            "after": "enabled=True;action=hold;duplicates=2,window_minutes=10",
        }
    ]


def _two_refunds(session: Session, w: World, staff: Principal, second: str) -> object:
    payment = pay(session, SYSTEM, w.patient, "2000.00")
    lim = limits(refund="500.00")
    refund(session, staff, payment.id, "475.00", limits=lim, key="r1")
    return refund(session, staff, payment.id, second, limits=lim, key="r2")


def test_refunds_just_under_the_limit_are_held_from_the_second(
    session: Session, w: World, staff: Principal
) -> None:
    before = counts(session)
    # the nested transaction stands for the request's, rolled back by the refusal
    with pytest.raises(FraudHeld) as raised, session.begin_nested():
        _two_refunds(session, w, staff, "500.00")
    assert counts(session) == before  # nothing of either refund in this rolled-back unit
    exc = raised.value
    assert (exc.code, exc.status) == ("fraud.held", 409)
    assert exc.review["status"] == "held"
    assert exc.review["payload"]["refund"] == {"amount": "500.00", "reason": None}
    assert exc.data["explanation"] == (
        "2 refunds by this user within 5% below the 500.00 approval limit in 7 days (limit 2); "
        "this one is 500.00"
    )


def test_one_cent_below_the_band_is_not_held(session: Session, w: World, staff: Principal) -> None:
    _two_refunds(session, w, staff, "474.99")
    assert session.scalar(select(func.count(Refund.id))) == 2
    assert reviews(session) == []


def test_run_once_refund_ratio_and_invoice_paid_twice_once_each(
    session: Session, factory: sessionmaker[Session], w: World, staff: Principal
) -> None:
    inv = make_invoice(session, w.patient, lines=priced("100.00"))
    session.flush()

    payments.record_payment(
        session,
        staff,
        PaymentCreate.model_validate(
            {
                "patient_id": w.patient.id,
                "amount": "100.00",
                "method": "cash",
                "allocations": [{"invoice_id": inv.id, "amount": "100.00"}],
            }
        ),
    )
    backdate(session, Payment, 30)
    paid_again = pay(session, staff, w.patient, "100.00", method="check")  # nothing open
    assert paid_again.unapplied_minor == 10000
    # refunds: 99.99 of 200.00 collected is below the 100.00 minimum
    refund(session, staff, paid_again.id, "99.99", key="k1")
    session.commit()
    first = tasks.run_once(factory, None, utcnow())
    assert first == {"refund_ratio": 0, "invoice_paid_twice": 1}
    refund(session, staff, paid_again.id, "0.01", key="k2")  # 100.00 of 200.00: 50 %
    session.commit()
    assert tasks.run_once(factory, None, utcnow()) == {"refund_ratio": 1, "invoice_paid_twice": 0}
    assert tasks.run_once(factory, None, utcnow()) == {"refund_ratio": 0, "invoice_paid_twice": 0}
    found = {r.rule_code: r for r in reviews(session)}
    assert found["invoice_paid_twice"].explanation == (
        f"A check payment of 100.00 went entirely to patient credit although invoice "
        f"{inv.display_number} of 100.00 was already paid by another payment 30 minutes "
        "earlier (window 3 days)"
    )
    assert found["refund_ratio"].explanation == (
        "This user refunded 100.00 against 200.00 collected in 7 days: 50% "
        "(limit 50%, from 100.00 refunded)"
    )
    assert found["refund_ratio"].actor_user_id == w.staff.id


def test_concurrent_approvals_execute_a_held_refund_once(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        staff = principal(s, make_user(s, "billing_staff", practices=[practice]))
        admin = replace(principal(s, make_user(s, "admin", practices=[practice])), mfa=True)
        payment = pay(s, SYSTEM, patient, "1000.00")
        payment_id = payment.id
        refund(s, staff, payment_id, "480.00", limits=limits(refund="500.00"), key="a")
    try:
        with unit_of_work(factory) as s:
            refund(s, staff, payment_id, "490.00", limits=limits(refund="500.00"), key="b")
    except FraudHeld as exc:
        screen.record_stopped(factory, exc)
        review_id = exc.review["id"]
    else:  # pragma: no cover
        raise AssertionError("not held")
    n = 20
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                service.decide(
                    s,
                    admin,
                    review_id,
                    ReviewDecide(decision=Decision.APPROVE),
                    idempotency_key=f"k{i}",
                )
            return "approved"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = sorted(pool.map(one, range(n)))
    assert results == ["approved"] + ["fraud.review_not_pending"] * (n - 1)
    with unit_of_work(factory) as s:
        amounts = sorted(s.scalars(select(Refund.amount_minor)))
        assert amounts == [48000, 49000]
        row = s.get(FraudReview, review_id)
        assert row is not None
        assert (row.status, row.result_id is not None) == ("approved", True)
        report = integrity.run(s)
        assert report.ok, report.violations
