"""Plan test helpers: a world with open invoices, stored cards from the test gateway."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.gateway.testgw import bank as testgw_bank
from revcycle.gateway.testgw import service as testgw
from revcycle.kit.clock import today, utcnow
from revcycle.patients.models import Patient
from revcycle.paymethods import service as methods
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.paymethods.schemas import PaymentMethodCreate
from revcycle.plans import service
from revcycle.plans.schemas import PlanAccept, PlanCreate
from tests.factories.practices import SYSTEM
from tests.gateway.bank_helpers import ACCOUNTS, ROUTING
from tests.gateway.helpers import APPROVED, EXP_YEAR
from tests.invoices.helpers import snapshot

CONSENT = "I authorise the practice to charge this card for my payment plan installments."
TABLES = (
    "payment_plans",
    "plan_installments",
    "plan_invoices",
    "plan_events",
    "plan_charge_attempts",
    "payment_methods",
    "notifications",
    "testgw_charges",
)


def stored_card(
    session: Session, patient: Patient, number: str = APPROVED, actor: Principal = SYSTEM
) -> StoredPaymentMethod:
    tok = testgw.tokenize(
        session,
        fingerprint_key=b"k" * 32,
        number=number,
        exp_month=12,
        exp_year=EXP_YEAR,
        cvc="123",
    )
    return methods.store_method(
        session,
        actor,
        patient.id,
        PaymentMethodCreate(token=tok.id, consent_text=CONSENT),
        card=tok.card,
        provider="testgw",
    )


def stored_bank(
    session: Session, patient: Patient, scenario: str = "settles", actor: Principal = SYSTEM
) -> StoredPaymentMethod:
    """A stored bank account (``btok_``) from the test gateway's ACH test accounts."""
    tok = testgw_bank.tokenize_bank(
        session,
        fingerprint_key=b"k" * 32,
        routing_number=ROUTING,
        account_number=ACCOUNTS[scenario],
        account_type="checking",
        holder_name="Pat Example",
    )
    return methods.store_method(
        session,
        actor,
        patient.id,
        PaymentMethodCreate(token=tok.id, consent_text=CONSENT),
        card=None,
        bank=tok.bank,
        provider="testgw",
    )


def propose(
    session: Session,
    patient: Patient,
    invoice_ids: list[uuid.UUID],
    *,
    count: int | None = 3,
    amount: str | None = None,
    first: dt.date | None = None,
    frequency: str = "monthly",
    actor: Principal = SYSTEM,
) -> service.PlanView:
    body: dict[str, Any] = {
        "patient_id": patient.id,
        "invoice_ids": invoice_ids,
        "frequency": frequency,
        "first_due_date": first or today(),
    }
    if amount is not None:
        body["installment_amount"] = amount
    else:
        body["installment_count"] = count
    return service.propose_plan(session, actor, PlanCreate.model_validate(body))


def accept(
    session: Session,
    plan_id: uuid.UUID,
    method: StoredPaymentMethod | None = None,
    actor: Principal = SYSTEM,
) -> service.PlanView:
    return service.accept_plan(
        session, actor, plan_id, PlanAccept(payment_method_id=method.id if method else None)
    )


def full_snapshot(session: Session) -> dict[str, Any]:
    snap = snapshot(session)
    for t in TABLES:
        snap[t] = session.execute(text(f"select count(*) from {t}")).scalar_one()
    return snap


def at(days: int) -> dt.datetime:
    """Now, shifted by ``days`` (the worker's clock in tests)."""
    return utcnow() + dt.timedelta(days=days)
