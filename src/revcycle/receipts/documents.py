"""What a receipt says: built from the payment or refund, its receipt number and the ledger
(the account balance after it). Reading one is a PHI read and is audited; patients read their
own only (others answer 404)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.invoices.repository import InvoiceRepository
from revcycle.ledger.repository import LedgerRepository
from revcycle.patients.models import Patient
from revcycle.patients.repository import PatientRepository
from revcycle.payments import service as payments_service
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.practices.models import Practice
from revcycle.practices.repository import PracticeRepository
from revcycle.receipts import errors
from revcycle.receipts.models import Receipt
from revcycle.receipts.repository import ReceiptRepository
from revcycle.refunds.errors import RefundNotFound
from revcycle.refunds.models import Refund
from revcycle.refunds.repository import RefundRepository

METHOD_NAMES = {
    "cash": "Cash",
    "check": "Cheque",
    "card": "Card",
    "bank_transfer": "Bank transfer",
}


@dataclass(frozen=True)
class AppliedLine:
    invoice_id: uuid.UUID | None  # None: patient credit
    invoice_number: str | None
    amount_minor: int


@dataclass(frozen=True)
class ReceiptView:
    kind: str  # payment | refund
    receipt: Receipt
    practice: Practice
    patient: Patient
    date: dt.date  # received on (payment) / paid out on (refund)
    method: str
    method_detail: str  # "Visa ending 4242", "Cheque no. 1001"; never more
    amount_minor: int
    currency: str
    applied: list[AppliedLine]  # payment: invoices paid; refund: where the money came back from
    credited_minor: int  # payment: the part kept as patient credit; refund: taken from credit
    balance_after_minor: int  # the account after this: amount due (+) or credit held (-)
    payment_id: uuid.UUID
    refund_id: uuid.UUID | None = None
    payment_receipt_number: str | None = None  # a refund: the payment it refunds
    reason: str | None = None


def method_detail(payment: Payment) -> str:
    """How the money was paid, as printed: card brand and last 4, cheque number, reference."""
    name = METHOD_NAMES.get(payment.method, payment.method)
    if payment.method == "card":
        if payment.card_last4:
            return f"{(payment.card_brand or 'card').title()} ending {payment.card_last4}"
        return name
    if payment.method == "check":
        return f"Cheque no. {payment.reference}" if payment.reference else name
    if payment.reference:
        return f"{name}, ref. {payment.reference}"
    return name


def balance_after(session: Session, patient_id: uuid.UUID, entry_id: uuid.UUID | None) -> int:
    """The patient's account (AR minus credit held) right after ``entry_id``, in ledger order."""
    running = 0
    seen = False
    for row in LedgerRepository(session).patient_account_lines(patient_id):
        if seen and row.id != entry_id:
            break
        running += int(row.ar) + int(row.credit)
        seen = seen or row.id == entry_id
    return running


def _context(
    session: Session, practice_id: uuid.UUID, patient_id: uuid.UUID
) -> tuple[Practice, Patient]:
    practice = PracticeRepository(session).get(practice_id)
    patient = PatientRepository(session).get(patient_id)
    assert practice is not None and patient is not None
    return practice, patient


def _numbers(session: Session, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, str | None]:
    invoices = InvoiceRepository(session).by_ids(sorted({i for i in ids if i is not None}))
    return {i: inv.display_number for i, inv in invoices.items()}


def payment_receipt(session: Session, actor: Principal, payment_id: uuid.UUID) -> ReceiptView:
    payment = payments_service.access_payment(session, actor, payment_id)
    receipt = ReceiptRepository(session).for_payment(payment.id)
    if receipt is None:
        raise errors.NotSettled(
            f"This payment is {payment.status}: only settled payments have a receipt",
            status_now=payment.status,
        )
    audit.record_read(
        session,
        actor,
        "receipt:read",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        detail={"receipt": receipt.display_number},
    )
    return build_payment_view(session, payment, receipt)


def build_payment_view(session: Session, payment: Payment, receipt: Receipt) -> ReceiptView:
    practice, patient = _context(session, payment.practice_id, payment.patient_id)
    allocations = PaymentRepository(session).allocations([payment.id])[payment.id]
    numbers = _numbers(session, [a.invoice_id for a in allocations])
    return ReceiptView(
        kind="payment",
        receipt=receipt,
        practice=practice,
        patient=patient,
        date=payment.received_on,
        method=payment.method,
        method_detail=method_detail(payment),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        applied=[
            AppliedLine(a.invoice_id, numbers.get(a.invoice_id), a.amount_minor)
            for a in allocations
        ],
        credited_minor=payment.unapplied_minor,
        balance_after_minor=balance_after(session, payment.patient_id, payment.entry_id),
        payment_id=payment.id,
    )


def _access_refund(session: Session, actor: Principal, refund_id: uuid.UUID) -> Refund:
    actor.require(Action.PAYMENT_READ)
    refund = RefundRepository(session).get(refund_id)
    if refund is None:
        raise RefundNotFound("No such refund")
    if not actor.sees_patient(refund.practice_id, refund.patient_id):
        raise out_of_scope(RefundNotFound("No such refund"), "refund", refund.id)
    return refund


def refund_receipt(session: Session, actor: Principal, refund_id: uuid.UUID) -> ReceiptView:
    refund = _access_refund(session, actor, refund_id)
    receipt = ReceiptRepository(session).for_refund(refund.id)
    if receipt is None:
        raise errors.NotSettled(
            f"This refund is {refund.status}: only paid refunds have a receipt",
            status_now=refund.status,
        )
    audit.record_read(
        session,
        actor,
        "receipt:read",
        object_type="refund",
        object_id=refund.id,
        practice_id=refund.practice_id,
        detail={"receipt": receipt.display_number},
    )
    return build_refund_view(session, refund, receipt)


def build_refund_view(session: Session, refund: Refund, receipt: Receipt) -> ReceiptView:
    practice, patient = _context(session, refund.practice_id, refund.patient_id)
    payment = PaymentRepository(session).get(refund.payment_id)
    assert payment is not None
    parts = RefundRepository(session).parts([refund.id])[refund.id]
    numbers = _numbers(session, [p.invoice_id for p in parts])
    payout = (
        LedgerRepository(session).get_entry(refund.payout_entry_id)
        if refund.payout_entry_id
        else None
    )
    paid_receipt = ReceiptRepository(session).for_payment(payment.id)
    return ReceiptView(
        kind="refund",
        receipt=receipt,
        practice=practice,
        patient=patient,
        date=payout.effective_date if payout is not None else receipt.issued_at.date(),
        method=refund.method,
        method_detail=method_detail(payment)
        if payment.method != "check"
        else "Cash (refund of a cheque payment)",
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        applied=[
            AppliedLine(
                p.invoice_id, numbers.get(p.invoice_id) if p.invoice_id else None, p.amount_minor
            )
            for p in parts
        ],
        credited_minor=sum(p.amount_minor for p in parts if p.invoice_id is None),
        balance_after_minor=balance_after(session, refund.patient_id, refund.entry_id),
        payment_id=payment.id,
        refund_id=refund.id,
        payment_receipt_number=paid_receipt.display_number if paid_receipt else None,
        reason=refund.reason,
    )
