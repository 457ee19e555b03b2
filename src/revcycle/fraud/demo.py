"""Demo fraud reviews (called by ``revcycle demo seed``): review-queue items made by the real
rules screening demo activity of the demo's staff logins, never inserted by hand.

* **duplicate_payment** (flag): the billing login records the same cash amount twice, minutes
  apart, on the newest partially paid invoice (which stays partially paid).
* **card_testing** (block): the billing login keys in a declining test card for small amounts
  through the test gateway; three declines, then the fourth attempt is refused before the
  charge. Only its review remains (the declined payments are kept, as for real ones).
* **refund_just_under_limit** (hold): the admin login records a prepayment of twice the billing
  staff's refund limit (``REVCYCLE_REFUND_LIMIT_BILLING_STAFF``) into patient credit; the billing
  login refunds just under its limit (paid), then again (held: not executed, the refund waits in
  the review for an admin).
* The after-the-fact rules then run once (``fraud.tasks.run_in``): with those refunds against
  the little the billing login collected, **refund_ratio** flags it.

A refused attempt runs in a savepoint that is rolled back, then its review is written, as the
API does with a transaction of its own (:func:`revcycle.fraud.screen.record_stopped`). Invoice
statuses do not change; every payment and refund posts through the services (balanced ledger).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.approvals import gate
from revcycle.audit import service as audit
from revcycle.auth import service as auth_service
from revcycle.auth.models import User, UserPractice
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.config import get_settings
from revcycle.fraud import screen, tasks
from revcycle.fraud.errors import FraudStopped
from revcycle.fraud.rules import BY_CODE, band_floor
from revcycle.gateway.testgw import service as testgw
from revcycle.gateway.testgw.cards import TEST_CARDS, Scenario
from revcycle.invoices.models import Invoice
from revcycle.kit.clock import utcnow
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.patients.models import Patient
from revcycle.payments import card
from revcycle.payments import service as payments_service
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.refunds import service as refunds_service
from revcycle.refunds.schemas import RefundCreate

T = TypeVar("T")

# Demo tokens get their own fingerprint key (the running test gateway derives its key from the
# webhook secret, which the seed does not know).
DEMO_FINGERPRINT_KEY = hashlib.sha256(b"revcycle-demo-cards").digest()
DECLINING_CARD = next(n for n, s in TEST_CARDS.items() if s is Scenario.GENERIC_DECLINE)
CARD_TEST_AMOUNTS = (100, 200, 300, 100)  # minor units: three declines, then the refused one
DUPLICATE_MAX_MINOR = 4000  # the duplicated desk payment: at most 40.00
REFUND_REASON = "Procedure cancelled: prepayment returned"


@dataclass(frozen=True)
class FraudDemo:
    duplicate_payment: uuid.UUID  # the second of the two cash payments (flagged)
    declined_payments: tuple[uuid.UUID, ...]  # the card attempts the gateway declined
    refund: uuid.UUID | None  # the refund just under the limit that was paid
    after_the_fact: dict[str, int]  # reviews written by the after-the-fact rules


def _staff(session: Session, practice_id: uuid.UUID, role: Role) -> Principal | None:
    user = session.scalar(
        select(User)
        .join(UserPractice, UserPractice.user_id == User.id)
        .where(UserPractice.practice_id == practice_id, User.role == role.value)
        .order_by(User.username)
        .limit(1)
    )
    return None if user is None else auth_service.principal_for(session, user)


def _newest(session: Session, practice_id: uuid.UUID, status: str) -> Invoice | None:
    return session.scalar(
        select(Invoice)
        .where(Invoice.practice_id == practice_id, Invoice.status == status)
        .order_by(Invoice.number.desc())
        .limit(1)
    )


def _attempt(session: Session, run: Callable[[], T]) -> T | FraudStopped:
    """``run`` in a savepoint. If the fraud rules stop it, the savepoint rolls back (with the
    audit events buffered inside it: they describe nothing that happened) and the review is
    written instead; the exception is returned."""
    buffered = len(audit.pending(session))
    try:
        with session.begin_nested():
            return run()
    except FraudStopped as exc:
        del session.info.setdefault(audit.PENDING, [])[buffered:]
        screen.record_stopped_in(session, exc)
        return exc


def _cash(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    amount: Money,
    on: dt.date,
    **fields: object,
) -> uuid.UUID:
    data = PaymentCreate.model_validate(
        {
            "patient_id": patient_id,
            "amount": str(amount.to_decimal()),
            "method": "cash",
            "received_on": on,
            **fields,
        }
    )
    return payments_service.record_payment(session, actor, data).payment.id


def _duplicate_payments(
    session: Session, billing: Principal, invoice: Invoice, on: dt.date
) -> uuid.UUID | None:
    """The same cash amount twice for one patient, a part of the invoice's balance each."""
    balance = LedgerRepository(session).invoice_ar_balances([invoice.id])[invoice.id]
    minor = min(DUPLICATE_MAX_MINOR, balance // 3 // 100 * 100 or balance // 3)
    if minor <= 0:
        return None
    amount = Money(minor, invoice.currency)
    share = [{"invoice_id": invoice.id, "amount": str(amount.to_decimal())}]
    ids = [
        _cash(session, billing, invoice.patient_id, amount, on, allocations=share, reference=ref)
        for ref in ("Receipt D-000101", "Receipt D-000102")
    ]
    return ids[1]


def _card_testing(
    session: Session, billing: Principal, patient_id: uuid.UUID, on: dt.date, currency: str
) -> tuple[uuid.UUID, ...]:
    """Small charges on a declining card until the rules refuse the next attempt."""
    declined: list[uuid.UUID] = []
    for n, minor in enumerate(CARD_TEST_AMOUNTS, start=1):
        token = testgw.tokenize(
            session,
            fingerprint_key=DEMO_FINGERPRINT_KEY,
            number=DECLINING_CARD,
            exp_month=12,
            exp_year=on.year + 3,
            cvc="123",
            on=on,
        )
        data = PaymentCreate.model_validate(
            {
                "patient_id": patient_id,
                "amount": str(Money(minor, currency).to_decimal()),
                "method": "card",
                "token": token.id,
                "received_on": on,
            }
        )
        key = card.gateway_key(billing.user_id, f"demo-card-test-{n}")
        fingerprint = testgw.card_fingerprint_in(session, token.id)

        def pending(
            data: PaymentCreate = data, key: str = key, fp: str | None = fingerprint
        ) -> Payment:
            return card.record_pending(
                session, billing, data, key=key, provider=testgw.PROVIDER, fingerprint=fp
            )

        payment = _attempt(session, pending)
        if isinstance(payment, FraudStopped):
            break
        charge, _ = testgw.authorize_in(
            session,
            token=token.id,
            amount_minor=minor,
            currency=currency,
            idempotency_key=key,
            metadata={"payment_id": str(payment.id)},
        )
        card.apply_outcome(session, billing, payment.id, charge)
        declined.append(payment.id)
    return tuple(declined)


def _refunds_under_limit(
    session: Session,
    admin: Principal,
    billing: Principal,
    patient_id: uuid.UUID,
    on: dt.date,
    limits: gate.Limits,
    currency: str,
) -> uuid.UUID | None:
    """A prepayment of twice the billing staff's refund limit, refunded by them in two parts
    just under the limit instead of once with an approval: the second part is held."""
    limit = limits.limit_for(gate.REFUND, billing, currency)
    if limit is None:
        return None
    cap = limit.amount_minor
    parts = (cap - cap * 2 // 100, cap - cap // 100)  # 490.00 and 495.00 under 500.00
    margin = BY_CODE["refund_just_under_limit"].params["margin_percent"]
    if parts[0] <= 0 or parts[0] < band_floor(cap, margin):
        return None
    prepayment = _cash(session, admin, patient_id, Money(2 * cap, currency), on, allocations=[])
    made: uuid.UUID | None = None
    for n, minor in enumerate(parts, start=1):
        data = RefundCreate(amount=Money(minor, currency).to_decimal(), reason=REFUND_REASON)

        def refund(data: RefundCreate = data, n: int = n) -> object:
            return refunds_service.refund_payment(
                session,
                billing,
                prepayment,
                data,
                idempotency_key=f"demo-refund-{n}",
                limits=limits,
            )

        view = _attempt(session, refund)
        if isinstance(view, refunds_service.RefundView):
            made = view.refund.id
    return made


def seed_fraud_reviews(
    session: Session,
    practice_id: uuid.UUID,
    today: dt.date,
    limits: gate.Limits | None = None,
) -> FraudDemo | None:
    """Demo activity the fraud rules catch, as of ``today`` (the end of the demo window). None
    when the practice lacks what it needs (staff logins, a partially paid invoice: a tiny seed).
    ``limits``: the approval limits the API applies (default: from the settings)."""
    billing = _staff(session, practice_id, Role.BILLING_STAFF)
    admin = _staff(session, practice_id, Role.ADMIN)
    partial = _newest(session, practice_id, "partially_paid")
    if billing is None or admin is None or partial is None:
        return None
    duplicate = _duplicate_payments(session, billing, partial, today)
    if duplicate is None:
        return None
    currency = partial.currency
    open_invoice = _newest(session, practice_id, "open") or partial
    declined = _card_testing(session, billing, open_invoice.patient_id, today, currency)
    adult = session.scalar(
        select(Patient.id)
        .where(Patient.practice_id == practice_id, Patient.guarantor_id.is_(None))
        .order_by(Patient.account_number)
        .limit(1)
    )
    assert adult is not None  # the partially paid invoice has a patient
    limits = limits or gate.Limits.from_settings(get_settings())
    refund = _refunds_under_limit(session, admin, billing, adult, today, limits, currency)
    found = tasks.run_in(session, utcnow())
    return FraudDemo(duplicate, declined, refund, found)
