"""Demo refunds and a pending approval (called by ``revcycle demo seed``), through the real
services as the demo's billing clerk:

* the patient credit of the newest overpayment is refunded in cash (a paid refund: credit first);
* a payment on a partially paid invoice is refunded in part (its balance grows by exactly that);
* a patient's mistaken double prepayment of 650.00 is recorded as credit and a refund of 600.00 is
  asked for: above the clerk's 500.00 refund limit, so it waits as an approval request for an
  administrator (docs/refunds-approvals.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.approvals import gate
from revcycle.approvals.models import ApprovalRequest
from revcycle.auth import service as auth_service
from revcycle.auth.principal import Principal
from revcycle.auth.repository import AuthRepository
from revcycle.invoices.models import Invoice
from revcycle.payments import service as payments_service
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.payments.schemas import PaymentCreate
from revcycle.refunds import service as refunds
from revcycle.refunds.schemas import RefundCreate

CLERK = "billing"
PREPAYMENT = "650.00"
ASKED = "600.00"
PARTIAL_MINOR = 2500


@dataclass(frozen=True)
class RefundDemo:
    # None when the (small) demo has no such payment to refund
    credit_refund: uuid.UUID | None
    invoice_refund: uuid.UUID | None
    approval_request: uuid.UUID
    prepayment_minor: int  # the payment recorded for the approval example (all patient credit)
    invoice_refund_minor: int = PARTIAL_MINOR


def _clerk(session: Session) -> Principal:
    user = AuthRepository(session).by_username(CLERK)
    assert user is not None, "the demo's billing login"
    return auth_service.principal_for(session, user)


def _amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def seed_refunds(
    session: Session, practice_id: uuid.UUID, end: dt.date, limits: gate.Limits
) -> RefundDemo:
    clerk = _clerk(session)
    session.flush()
    # 1. The patient credit left by the newest cash or cheque overpayment goes back in cash.
    overpaid = session.scalars(
        select(Payment)
        .where(
            Payment.practice_id == practice_id,
            Payment.method.in_(("cash", "check")),
            Payment.status == "succeeded",
            Payment.unapplied_minor > 0,
            Payment.created_by.is_(None),  # the demo's own history, not the staff's activity
        )
        .order_by(Payment.received_on.desc(), Payment.id)
        .limit(1)
    ).first()
    credit_id = None
    if overpaid is not None:
        credit = refunds.refund_payment(
            session,
            clerk,
            overpaid.id,
            RefundCreate(amount=_amount(overpaid.unapplied_minor), reason="Overpayment returned"),
            idempotency_key="demo-refund-credit",
            limits=limits,
        )
        assert isinstance(credit, refunds.RefundView)
        credit_id = credit.refund.id
    # 2. Part of a cash or cheque payment on a partially paid invoice: its balance grows by that.
    paid = session.execute(
        select(Payment, PaymentAllocation)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(
            Payment.practice_id == practice_id,
            Payment.method.in_(("cash", "check")),
            Payment.status == "succeeded",
            Payment.unapplied_minor == 0,
            Payment.created_by.is_(None),
            Invoice.status == "partially_paid",  # stays so: the quotas of statuses hold
            PaymentAllocation.amount_minor > PARTIAL_MINOR,
        )
        .order_by(Payment.received_on.desc(), Payment.id)
        .limit(1)
    ).first()
    partial_id = None
    if paid is not None:
        partial = refunds.refund_payment(
            session,
            clerk,
            paid[0].id,
            RefundCreate(
                amount=_amount(PARTIAL_MINOR), reason="Billing error: lab fee charged twice"
            ),
            idempotency_key="demo-refund-partial",
            limits=limits,
        )
        assert isinstance(partial, refunds.RefundView)
        partial_id = partial.refund.id
    # 3. A double prepayment, recorded as credit; refunding most of it needs an approval.
    patient_id = session.scalars(
        select(Invoice.patient_id)
        .where(Invoice.practice_id == practice_id, Invoice.number.is_not(None))
        .order_by(Invoice.number.desc())
        .limit(1)
    ).one()
    prepaid = payments_service.record_payment(
        session,
        clerk,
        PaymentCreate.model_validate(
            {
                "patient_id": patient_id,
                "amount": PREPAYMENT,
                "method": "check",
                "reference": "CHK 4417",
                "received_on": end.isoformat(),
                "allocations": [],
            }
        ),
    )
    request = refunds.refund_payment(
        session,
        clerk,
        prepaid.payment.id,
        RefundCreate(amount=ASKED, reason="Prepaid twice for the same procedure"),
        idempotency_key="demo-refund-approval",
        limits=limits,
    )
    assert isinstance(request, ApprovalRequest)
    session.flush()
    return RefundDemo(credit_id, partial_id, request.id, prepaid.payment.amount_minor)
