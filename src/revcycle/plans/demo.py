"""Demo payment plans (called by demo/seed.py): an active plan on autopay from a stored test
card, a completed plan (paid at the desk), and a defaulted plan (missed installments)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.gateway.testgw import service as testgw
from revcycle.invoices.models import Invoice
from revcycle.kit.clock import today
from revcycle.money import Money
from revcycle.paymethods import service as methods
from revcycle.paymethods.schemas import PaymentMethodCreate
from revcycle.plans import calc, service
from revcycle.plans.repository import PlanRepository
from revcycle.plans.schemas import PlanAccept, PlanCreate, PlanPaymentCreate

ACTOR = Principal.system(username="demo")
DEMO_CARD = "4242424242424242"
CONSENT = (
    "I authorise the practice to charge this card for the installments of my payment plan, on "
    "their due dates, until the plan is paid."
)


@dataclass(frozen=True)
class DemoPlans:
    active: int
    completed: int
    defaulted: int
    stored_cards: int


def seed_plans(session: Session, practice_id: object) -> DemoPlans:
    """Three patients with open invoices (lowest invoice numbers first: deterministic)."""
    session.flush()
    rows = session.scalars(
        select(Invoice)
        .where(Invoice.practice_id == practice_id, Invoice.status == "open")
        .order_by(Invoice.number)
    ).all()
    chosen: list[Invoice] = []
    for inv in rows:
        if inv.patient_id not in {c.patient_id for c in chosen}:
            chosen.append(inv)
        if len(chosen) == 3:
            break
    if len(chosen) < 3:
        return DemoPlans(0, 0, 0, 0)
    start = today() + dt.timedelta(days=1)

    def propose(inv: Invoice, count: int) -> service.PlanView:
        return service.propose_plan(
            session,
            ACTOR,
            PlanCreate.model_validate(
                {
                    "patient_id": inv.patient_id,
                    "invoice_ids": [inv.id],
                    "frequency": "monthly",
                    "first_due_date": start,
                    "installment_count": count,
                    "memo": "Demo plan",
                }
            ),
        )

    # 1. active, on autopay from a stored test card
    active, done, late = chosen
    tok = testgw.tokenize(
        session,
        fingerprint_key=b"demo" * 8,
        number=DEMO_CARD,
        exp_month=12,
        exp_year=today().year + 3,
        cvc="123",
    )
    card = methods.store_method(
        session,
        ACTOR,
        active.patient_id,
        PaymentMethodCreate(token=tok.id, consent_text=CONSENT),
        card=tok.card,
        provider="testgw",
    )
    view = propose(active, 3)
    service.accept_plan(session, ACTOR, view.plan.id, PlanAccept(payment_method_id=card.id))
    # 2. completed: paid in full at the desk
    view = propose(done, 2)
    service.accept_plan(session, ACTOR, view.plan.id, PlanAccept())
    service.record_plan_payment(
        session,
        ACTOR,
        view.plan.id,
        PlanPaymentCreate.model_validate({"amount": _major(view), "method": "cash"}),
    )
    # 3. defaulted: a plan started three months ago whose installments were never paid
    view = propose(late, 4)
    back = calc.add_months
    plan = view.plan
    plan.first_due_date = back(start, -3)
    for inst in PlanRepository(session).installments(plan.id):
        inst.due_date = back(start, inst.seq - 4)
    session.flush()
    service.accept_plan(session, ACTOR, plan.id, PlanAccept())
    service.sweep_missed(session, ACTOR, plan.id, on=today(), grace_days=10, default_after=2)
    session.flush()
    return DemoPlans(active=1, completed=1, defaulted=1, stored_cards=1)


def _major(view: service.PlanView) -> str:
    return Money(view.plan.total_minor, view.plan.currency).format()
