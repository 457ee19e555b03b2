"""Demo bank transfers (called by ``revcycle demo seed``): one settled, one still pending and
one the bank returned (R01, insufficient funds, after it had settled), on the demo practice's
invoices, through the same code as real ones (test gateway steps inside the seed's transaction).

Invoice statuses do not change: the settled and the returned payment each take part of the
balance of an invoice that is already partially paid, and the pending one posts nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.gateway.base import Charge
from revcycle.gateway.testgw import ach
from revcycle.gateway.testgw import bank as testgw
from revcycle.gateway.testgw.service import PROVIDER
from revcycle.invoices.models import Invoice
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.payments import bank
from revcycle.payments.schemas import PaymentCreate

# Demo tokens get their own fingerprint key (the running test gateway derives its key from the
# webhook secret, which the seed does not know).
DEMO_FINGERPRINT_KEY = hashlib.sha256(b"revcycle-demo-bank-accounts").digest()
SUBMITTED_DAYS_AGO = 7  # settled and returned debits were submitted a week before "today"


@dataclass(frozen=True)
class BankDemo:
    settled: uuid.UUID
    pending: uuid.UUID
    returned: uuid.UUID


def _invoices(session: Session, practice_id: uuid.UUID, before: dt.date) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.practice_id == practice_id,
                Invoice.status == "partially_paid",
                Invoice.issue_date <= before,
            )
            .order_by(Invoice.number)
        )
    )


def _take(
    session: Session,
    actor: Principal,
    invoice: Invoice,
    account: str,
    *,
    on: dt.date,
    n: int,
) -> tuple[uuid.UUID, Charge]:
    balance = LedgerRepository(session).invoice_ar_balances([invoice.id])[invoice.id]
    amount = Money(max(1, balance // 2), invoice.currency)
    token = testgw.tokenize_bank(
        session,
        fingerprint_key=DEMO_FINGERPRINT_KEY,
        routing_number=ach.TEST_ROUTING_NUMBER,
        account_number=account,
        account_type="checking",
        holder_name="Demo account holder",
    )
    data = PaymentCreate.model_validate(
        {
            "patient_id": invoice.patient_id,
            "amount": str(amount.to_decimal()),
            "method": "bank_transfer",
            "bank_token": token.id,
            "received_on": on,
            "allocations": [{"invoice_id": invoice.id, "amount": str(amount.to_decimal())}],
        }
    )
    key = f"rc_demo_bank_{n}"
    payment = bank.record_pending(session, actor, data, key=key, provider=PROVIDER, bank=token.bank)
    charge, _ = testgw.debit_in(
        session,
        bank_token=token.id,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        idempotency_key=key,
        metadata={"payment_id": str(payment.id)},
        on=on,
    )
    bank.apply_bank_outcome(session, actor, payment.id, charge)
    return payment.id, charge


def seed_bank_transfers(
    session: Session, actor: Principal, practice_id: uuid.UUID, today: dt.date
) -> BankDemo | None:
    """Three bank transfers as of ``today`` (the end of the demo window); None when the practice
    has too few partially paid invoices (a tiny seed)."""
    submitted = today - dt.timedelta(days=SUBMITTED_DAYS_AGO)
    candidates = _invoices(session, practice_id, submitted)
    if len(candidates) < 3:
        return None
    account = {scenario: number for number, scenario in ach.TEST_ACCOUNTS.items()}
    settled, first = _take(
        session, actor, candidates[0], account[ach.Scenario.SETTLE], on=submitted, n=1
    )
    returned, second = _take(
        session,
        actor,
        candidates[1],
        account[ach.Scenario.RETURN_AFTER_SETTLEMENT],
        on=submitted,
        n=2,
    )
    pending, _ = _take(session, actor, candidates[2], account[ach.Scenario.SETTLE], on=today, n=3)
    # The bank network catches up to "today": the first two settle; then the second comes back
    # R01 two banking days later. The third, submitted today, is still processing.
    for _ in range(2):
        testgw.settle_in(session, today)
        for payment_id, charge in ((settled, first), (returned, second)):
            bank.apply_bank_outcome(session, actor, payment_id, testgw.view_in(session, charge.id))
    return BankDemo(settled, pending, returned)
