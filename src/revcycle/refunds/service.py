"""Refunds of payments, to the original method.

A refund takes money back first from the payment's unapplied patient credit, then from its
invoice allocations in reverse order of application (reopening those invoices' balances). Each
refund posts two balanced entries: ``refund`` (debit patient credit / patient AR per invoice,
credit refunds payable) and ``refund.payout`` (debit refunds payable, credit cash or clearing).
Card refunds go through the payment gateway in phases outside the database transaction, like
card payments (:mod:`revcycle.refunds.card`); their payout credits card clearing.

Lock order: patient -> payment -> invoices (by id). The refundable amount is computed and checked
under the payment's row lock (SELECT ... FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite), so
two concurrent refunds cannot both pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.approvals import gate
from revcycle.approvals.models import ApprovalRequest
from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.fraud import screen as fraud
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import today
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.patients.repository import PatientRepository
from revcycle.payments import service as payments_service
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.receipts import service as receipts
from revcycle.refunds import calc, errors
from revcycle.refunds.models import Refund, RefundPart
from revcycle.refunds.repository import PAID, RefundRepository
from revcycle.refunds.schemas import RefundCreate

# Where the money goes back out: the account the payment came into.
PAYOUT_ACCOUNT = {
    "cash": AccountCode.CASH,
    "check": AccountCode.CASH,
    "bank_transfer": AccountCode.CARD_CLEARING,
    "card": AccountCode.CARD_CLEARING,  # through the gateway only (refunds.card)
}
COLLECTIBLE = {"open", "partially_paid", "paid"}


@dataclass(frozen=True)
class RefundView:
    refund: Refund
    parts: list[RefundPart]


@dataclass(frozen=True)
class Plan:
    payment: Payment
    amount: Money
    parts: list[calc.Source]
    invoices: dict[uuid.UUID, Invoice]


def lock_and_plan(
    session: Session, payment_id: uuid.UUID, amount: Money, *, card: bool = False
) -> Plan:
    """Lock, re-read and decide which money the refund takes back; refuse when it can't."""
    payments = PaymentRepository(session)
    seen = payments.get(payment_id)
    assert seen is not None
    PatientRepository(session).get_for_update(seen.patient_id)
    payment = payments.get_for_update(payment_id)
    assert payment is not None
    ledger_repo = LedgerRepository(session)
    if payment.status == "returned":  # a bank transfer the bank returned (docs/bank-transfers.md)
        raise errors.PaymentReturned("The bank returned this payment; there is nothing to refund")
    if payment.entry_id is None:  # a gateway payment still pending, declined or failed
        raise errors.PaymentNotSettled("This payment has not been received; nothing to refund")
    if ledger_repo.reversal_of(payment.entry_id) is not None:
        raise errors.PaymentVoid("This payment was voided; there is nothing to refund")
    if payment.method not in PAYOUT_ACCOUNT or (payment.method == "card") != card:
        raise errors.MethodUnavailable(
            "Card payments are refunded through the payment gateway only"
            if payment.method == "card"
            else "This payment's method is not refunded through the payment gateway",
            method=payment.method,
        )
    if amount.currency != payment.currency:
        raise errors.CurrencyMismatch(
            f"This payment is in {payment.currency}", expected=payment.currency
        )
    refunded = RefundRepository(session).refunded_by_source(payment.id)
    _, patient_credit = ledger_repo.patient_balances(payment.patient_id)
    credit = max(0, min(payment.unapplied_minor - refunded.get(None, 0), patient_credit))
    allocations = PaymentRepository(session).allocations([payment.id])[payment.id]
    locked = {
        i.id: i
        for i in InvoiceRepository(session).lock_many(sorted(a.invoice_id for a in allocations))
    }
    applied: list[calc.Source] = []
    for a in allocations:
        invoice = locked[a.invoice_id]
        remaining = a.amount_minor - refunded.get(a.invoice_id, 0)
        # A void or written-off invoice's payment stays where it is (no balance to reopen).
        applied.append((a.invoice_id, remaining if invoice.status in COLLECTIBLE else 0))
    refundable = credit + sum(r for _, r in applied)
    if amount.amount_minor > refundable:
        raise errors.ExceedsRefundable(
            f"{amount.format()} is more than the {Money(refundable, amount.currency).format()} "
            "still refundable on this payment",
            refundable=Money(refundable, amount.currency).format(),
        )
    return Plan(payment, amount, calc.plan_refund(amount.amount_minor, credit, applied), locked)


def post_entries(
    session: Session,
    actor: Principal,
    payment: Payment,
    refund_id: uuid.UUID,
    amount: Money,
    parts: list[calc.Source],
) -> tuple[uuid.UUID, uuid.UUID]:
    """The refund's two entries: ``refund`` (patient credit / AR per invoice -> refunds payable)
    and ``refund.payout`` (refunds payable -> the payment method's account)."""
    legs: list[ledger.Leg] = []
    for invoice_id, minor in parts:
        part = Money(minor, amount.currency)
        if invoice_id is None:
            legs.append(
                ledger.debit(AccountCode.PATIENT_CREDIT, part, patient_id=payment.patient_id)
            )
        else:
            legs.append(
                ledger.debit(
                    AccountCode.PATIENT_AR,
                    part,
                    patient_id=payment.patient_id,
                    invoice_id=invoice_id,
                )
            )
    legs.append(ledger.credit(AccountCode.REFUNDS_PAYABLE, amount, patient_id=payment.patient_id))

    def spec(kind: EntryKind, legs: list[ledger.Leg], memo: str) -> ledger.EntrySpec:
        return ledger.EntrySpec(
            practice_id=payment.practice_id,
            kind=kind.value,
            legs=legs,
            effective_date=today(),
            memo=memo,
            created_by=actor.user_id,
            source_type="refund",
            source_id=refund_id,
        )

    entry_id = ledger.post_entry(
        session, spec(EntryKind.REFUND, legs, f"Refund of a {payment.method} payment")
    )
    payout_legs = [
        ledger.debit(AccountCode.REFUNDS_PAYABLE, amount, patient_id=payment.patient_id),
        ledger.credit(PAYOUT_ACCOUNT[payment.method], amount),
    ]
    payout_id = ledger.post_entry(
        session, spec(EntryKind.REFUND_PAYOUT, payout_legs, f"Refund paid out ({payment.method})")
    )
    return entry_id, payout_id


def record_refund(
    session: Session,
    actor: Principal,
    plan: Plan,
    *,
    reason: str | None,
    approval_request_id: uuid.UUID | None,
    status: str = PAID,
    gateway_idempotency_key: str | None = None,
) -> RefundView:
    """Record the refund and its parts; a ``paid`` one also posts its entries and reopens the
    invoices (a ``pending`` card refund only reserves the amount: its parts count as refunded)."""
    payment, amount = plan.payment, plan.amount
    refund_id = uuid7()
    entry_id: uuid.UUID | None = None
    payout_id: uuid.UUID | None = None
    if status == PAID:
        entry_id, payout_id = post_entries(session, actor, payment, refund_id, amount, plan.parts)
    refund = Refund(
        id=refund_id,
        practice_id=payment.practice_id,
        patient_id=payment.patient_id,
        payment_id=payment.id,
        method=payment.method,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        status=status,
        reason=reason,
        entry_id=entry_id,
        payout_entry_id=payout_id,
        approval_request_id=approval_request_id,
        gateway_idempotency_key=gateway_idempotency_key,
        created_by=actor.user_id,
    )
    session.add(refund)
    parts = [
        RefundPart(
            refund_id=refund_id,
            payment_id=payment.id,
            invoice_id=invoice_id,
            amount_minor=minor,
            currency=amount.currency,
            position=position,
        )
        for position, (invoice_id, minor) in enumerate(plan.parts, start=1)
    ]
    session.add_all(parts)
    session.flush()
    reopened = [plan.invoices[i] for i, _ in plan.parts if i is not None]
    if reopened and status == PAID:
        invoices_service.refresh_statuses(session, reopened)
    if status == PAID:
        receipts.assign_refund(session, refund)  # drawer + receipt number
    audit.record(
        session,
        actor,
        "payment:refund" if status == PAID else f"payment:refund_{status}",
        object_type="refund",
        object_id=refund_id,
        practice_id=payment.practice_id,
        fields=["amount", "method", "parts", "reason"],
        detail={
            "payment_id": str(payment.id),
            "approval_request_id": str(approval_request_id) if approval_request_id else None,
        },
    )
    return RefundView(refund, parts)


def check_request(
    session: Session,
    actor: Principal,
    payment_id: uuid.UUID,
    idempotency_key: str | None,
) -> Payment:
    """Who may refund this payment, and the Idempotency-Key every refund needs."""
    actor.require(Action.PAYMENT_REFUND)
    payment = payments_service.access_payment(session, actor, payment_id)
    if actor.is_patient:  # not reachable through the matrix; belt and braces
        raise out_of_scope(errors.RefundNotFound("No such payment"), "payment", payment.id)
    if idempotency_key is None:
        raise errors.IdempotencyKeyRequired(
            "Refunds need an Idempotency-Key header so a retry cannot refund twice"
        )
    return payment


def refund_payment(
    session: Session,
    actor: Principal,
    payment_id: uuid.UUID,
    data: RefundCreate,
    *,
    idempotency_key: str | None,
    limits: gate.Limits | None,
) -> RefundView | ApprovalRequest:
    """Refund (part of) a payment, or, above the caller's limit, ask for approval instead.
    Card payments are refunded by :func:`revcycle.refunds.card.refund_card` instead."""
    payment = check_request(session, actor, payment_id, idempotency_key)
    amount = Money.parse(data.amount, payment.currency)
    plan = lock_and_plan(session, payment.id, amount)
    limit = gate.over_limit(limits, gate.REFUND, actor, amount)
    if limit is not None:
        return gate.request_approval(
            session,
            actor,
            operation=gate.REFUND,
            object_type="payment",
            object_id=payment.id,
            practice_id=payment.practice_id,
            patient_id=payment.patient_id,
            amount=amount,
            limit=limit,
            payload=data.model_dump(mode="json"),
        )
    view = record_refund(session, actor, plan, reason=data.reason, approval_request_id=None)
    fraud.screen_refund(session, actor, view.refund, limits)  # may refuse or hold it
    return view


def execute_approved(session: Session, approver: Principal, request: ApprovalRequest) -> Refund:
    """Run an approved refund request, re-checking everything (the refundable amount may have
    changed since the request)."""
    payment = payments_service.access_payment(session, approver, request.object_id)
    data = RefundCreate.model_validate(request.payload)
    amount = Money.parse(data.amount, payment.currency)
    plan = lock_and_plan(session, payment.id, amount)
    return record_refund(
        session, approver, plan, reason=data.reason, approval_request_id=request.id
    ).refund


# reading -------------------------------------------------------------------------------------


def get_refund(session: Session, actor: Principal, refund_id: uuid.UUID) -> RefundView:
    actor.require(Action.PAYMENT_READ)
    repo = RefundRepository(session)
    refund = repo.get(refund_id)
    if refund is None:
        raise errors.RefundNotFound("No such refund")
    if not actor.sees_patient(refund.practice_id, refund.patient_id):
        raise out_of_scope(errors.RefundNotFound("No such refund"), "refund", refund.id)
    audit.record_read(
        session,
        actor,
        "refund:read",
        object_type="refund",
        object_id=refund.id,
        practice_id=refund.practice_id,
    )
    return RefundView(refund, repo.parts([refund.id])[refund.id])


def payment_refunds(session: Session, actor: Principal, payment_id: uuid.UUID) -> list[RefundView]:
    payment = payments_service.access_payment(session, actor, payment_id)
    repo = RefundRepository(session)
    refunds = list(repo.for_payment(payment.id))
    parts = repo.parts([r.id for r in refunds])
    audit.record_read(
        session,
        actor,
        "payment:refunds_read",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
    )
    return [RefundView(r, parts[r.id]) for r in refunds]
