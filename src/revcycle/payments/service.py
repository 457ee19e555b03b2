"""Recording money received at the front desk (cash, cheque, card terminal, bank transfer) and
applying it to invoices; the excess becomes patient credit. Gateway payments, refunds and plans
build on these primitives (issue 4).

Lock order: patient -> invoices (by id).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import InvalidInput, out_of_scope
from revcycle.fraud import addresses as fraud_addresses
from revcycle.fraud import screen as fraud
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import today
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.patients import service as patients_service
from revcycle.patients.repository import PatientRepository
from revcycle.payments import errors
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.payments.repository import PaymentRepository
from revcycle.payments.schemas import PaymentCreate
from revcycle.practices.repository import PracticeRepository
from revcycle.receipts import service as receipts

DEPOSIT_ACCOUNT = {
    "cash": AccountCode.CASH,
    "check": AccountCode.CASH,
    "card": AccountCode.CARD_CLEARING,
    "bank_transfer": AccountCode.CARD_CLEARING,
}


@dataclass(frozen=True)
class PaymentView:
    payment: Payment
    allocations: list[PaymentAllocation]


def _payable(invoice: Invoice) -> None:
    messages = {
        "draft": ("invoice.not_issued", "has not been issued"),
        "void": ("invoice.voided", "is void"),
        "written_off": ("invoice.written_off", "was written off"),
        "paid": ("invoice.already_paid", "is already paid"),
    }
    if invoice.status in messages:
        code, text = messages[invoice.status]
        raise errors.InvoiceNotPayable(
            f"Invoice {invoice.display_number or invoice.id} {text}",
            code=code,
            invoice_id=str(invoice.id),
        )


@dataclass(frozen=True)
class Prepared:
    """A payment request checked against the patient and practice (no locks taken yet)."""

    patient_id: uuid.UUID
    practice_id: uuid.UUID
    amount: Money
    received_on: dt.date
    # The practice's policy: may money beyond the open balances become patient credit?
    allow_overpayment: bool = True
    # prepare() read the patient under its row lock: plan_allocations need not lock it again.
    patient_locked: bool = False


def prepare(session: Session, actor: Principal, data: PaymentCreate) -> Prepared:
    actor.require(Action.PAYMENT_RECORD)
    session.flush()  # invoices issued earlier in this unit of work must be visible to queries
    # Every caller plans the allocations next, which starts with the patient's row lock: take it
    # on this first read (one statement instead of a read and a locking re-read).
    patient = patients_service.access_patient(session, actor, data.patient_id, for_update=True)
    practice = PracticeRepository(session).get(patient.practice_id)
    assert practice is not None
    if data.currency is not None and data.currency != practice.currency:
        raise errors.CurrencyMismatch(
            f"This practice bills in {practice.currency}, not {data.currency}",
            expected=practice.currency,
            got=data.currency,
        )
    amount = Money.parse(data.amount, practice.currency)
    received_on = data.received_on or today()
    if received_on > today():
        raise InvalidInput("The payment date is in the future", code="payment.date_in_future")
    return Prepared(
        patient.id,
        practice.id,
        amount,
        received_on,
        practice.allow_overpayment,
        patient_locked=True,
    )


Plan = list[tuple[Invoice, Money]]


def plan_allocations(
    session: Session,
    prep: Prepared,
    wanted: dict[uuid.UUID, Money] | None,
    *,
    clip: bool = False,
) -> Plan:
    """Lock the patient, then the invoices (by id), and decide where the money goes: the
    allocations asked for (``wanted``, in order), or oldest-due first. With ``clip`` (money the
    gateway already captured) a share above an invoice's balance is cut to the balance instead
    of refused; the rest becomes patient credit."""
    amount = prep.amount
    # Lock order: patient, then invoices by id. Concurrent payments for one patient serialise.
    if not prep.patient_locked:
        # The lock only: the row itself (PHI fields to decrypt) is not needed here.
        PatientRepository(session).lock_many([prep.patient_id])
    inv_repo = InvoiceRepository(session)
    plan: Plan = []
    if wanted is not None:
        locked = {i.id: i for i in inv_repo.lock_many(sorted(wanted))}
        total = Money.zero(amount.currency)
        for invoice_id, share in wanted.items():
            inv = locked.get(invoice_id)
            if inv is None or inv.patient_id != prep.patient_id:
                raise errors.PaymentNotFound(
                    "No such invoice for this patient",
                    code="invoice.not_found",
                    invoice_id=str(invoice_id),
                )
            if not clip:
                _payable(inv)
            total = total + share
        if total > amount:
            raise errors.AllocationsExceedAmount(
                f"Allocations total {total.format()} but the payment is {amount.format()}"
            )
        balances = LedgerRepository(session).invoice_ar_balances(wanted)
        for invoice_id, share in wanted.items():
            inv = locked[invoice_id]
            if share.amount_minor > balances[inv.id]:
                if clip:
                    if balances[inv.id] > 0:
                        plan.append((inv, Money(balances[inv.id], inv.currency)))
                    continue
                raise errors.AllocationExceedsBalance(
                    f"{share.format()} exceeds the balance "
                    f"{Money(balances[inv.id], inv.currency).format()} of "
                    f"{inv.display_number}",
                    invoice_id=str(inv.id),
                    balance=Money(balances[inv.id], inv.currency).format(),
                )
            plan.append((inv, share))
    else:
        candidates = inv_repo.open_for_patient(prep.patient_id)
        balances = LedgerRepository(session).invoice_ar_balances([i.id for i in candidates])
        candidates.sort(key=lambda i: (i.due_date or i.issue_date or today(), i.number or 0))
        left = amount.amount_minor
        for inv in candidates:
            if left == 0:
                break
            take = min(left, balances[inv.id])
            if take > 0:
                plan.append((inv, Money(take, amount.currency)))
                left -= take
    applied = sum(m.amount_minor for _, m in plan)
    if not clip and not prep.allow_overpayment and applied < amount.amount_minor:
        # Money not yet taken can be refused; captured money (clip) is kept as credit instead.
        raise errors.Overpayment(
            f"{amount.format()} is more than the {Money(applied, amount.currency).format()} "
            "this payment can be applied to, and this practice does not keep overpayments as "
            "patient credit",
            applicable=Money(applied, amount.currency).format(),
        )
    return plan


def wanted_allocations(data: PaymentCreate, currency: str) -> dict[uuid.UUID, Money] | None:
    if data.allocations is None:
        return None
    return {a.invoice_id: Money.parse(a.amount, currency) for a in data.allocations}


def post_payment(
    session: Session, actor: Principal, payment: Payment, plan: Plan
) -> list[PaymentAllocation]:
    """Post the balanced ledger entry for ``payment`` (debit the deposit account, credit the
    invoices' AR and any excess to patient credit) and store its allocations."""
    amount = Money(payment.amount_minor, payment.currency)
    applied = sum((m.amount_minor for _, m in plan), 0)
    unapplied = Money(amount.amount_minor - applied, amount.currency)
    payment.unapplied_minor = unapplied.amount_minor
    legs = [ledger.debit(DEPOSIT_ACCOUNT[payment.method], amount)]
    legs += [
        ledger.credit(
            AccountCode.PATIENT_AR, share, patient_id=payment.patient_id, invoice_id=inv.id
        )
        for inv, share in plan
    ]
    if unapplied.is_positive():
        legs.append(
            ledger.credit(AccountCode.PATIENT_CREDIT, unapplied, patient_id=payment.patient_id)
        )
    payment.entry_id = ledger.post_entry(
        session,
        ledger.EntrySpec(
            practice_id=payment.practice_id,
            kind=EntryKind.PAYMENT.value,
            legs=legs,
            effective_date=payment.received_on,
            memo=f"{payment.method} payment",
            created_by=payment.created_by,
            source_type="payment",
            source_id=payment.id,
        ),
        # A stored payment settling (a gateway payment), nothing new in the session: the entry
        # goes in first and the payment's changes with its entry id are ONE UPDATE below.
        flush_first=bool(session.new),
    )
    session.add(payment)
    allocations = [
        PaymentAllocation(
            position=position,
            payment_id=payment.id,
            invoice_id=inv.id,
            amount_minor=share.amount_minor,
            currency=share.currency,
        )
        for position, (inv, share) in enumerate(plan, start=1)
    ]
    session.add_all(allocations)
    session.flush()
    invoices_service.refresh_statuses(session, [inv for inv, _ in plan])
    # Written now, not with the receipt: the receipt number locks the practice's sequence row
    # until COMMIT, so as little as possible runs after it (docs/performance.md).
    session.flush()
    # drawer + receipt number, taken last
    receipts.assign_payment(session, payment, just_posted=True)
    audit.record(
        session,
        actor,
        "payment:record",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["amount", "method", "allocations"],
    )
    return allocations


def record_payment(session: Session, actor: Principal, data: PaymentCreate) -> PaymentView:
    """Money received outside a gateway (cash, cheque, a card terminal, a bank transfer)."""
    prep = prepare(session, actor, data)
    plan = plan_allocations(session, prep, wanted_allocations(data, prep.amount.currency))
    payment = Payment(
        practice_id=prep.practice_id,
        patient_id=prep.patient_id,
        method=data.method.value,
        amount_minor=prep.amount.amount_minor,
        currency=prep.amount.currency,
        received_on=prep.received_on,
        reference=data.reference,
        created_by=actor.user_id,
        status="succeeded",
        client_addr_bidx=fraud_addresses.digest(actor.client_addr),
        id=uuid7(),
    )
    allocations = post_payment(session, actor, payment, plan)
    fraud.screen_payment(session, actor, payment)  # may refuse it: docs/fraud.md
    return PaymentView(payment, allocations)


def access_payment(session: Session, actor: Principal, payment_id: uuid.UUID) -> Payment:
    actor.require(Action.PAYMENT_READ)
    payment = PaymentRepository(session).get(payment_id)
    if payment is None:
        raise errors.PaymentNotFound("No such payment")
    if not actor.sees_patient(payment.practice_id, payment.patient_id):
        raise out_of_scope(errors.PaymentNotFound("No such payment"), "payment", payment.id)
    return payment


def get_payment(session: Session, actor: Principal, payment_id: uuid.UUID) -> PaymentView:
    payment = access_payment(session, actor, payment_id)
    audit.record_read(
        session,
        actor,
        "payment:read",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
    )
    return PaymentView(payment, PaymentRepository(session).allocations([payment.id])[payment.id])


def list_payments(
    session: Session,
    actor: Principal,
    *,
    patient_id: uuid.UUID | None,
    practice_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
) -> Page[PaymentView]:
    actor.require(Action.PAYMENT_READ)
    limit = min(limit, MAX_LIMIT)
    repo = PaymentRepository(session)
    rows = list(
        repo.search(
            practice_ids=None if actor.is_patient else actor.practice_ids,
            patient_ids=actor.patient_ids if actor.is_patient else None,
            patient_id=patient_id,
            practice_id=practice_id,
            received_from=received_from,
            received_to=received_to,
            before=parse_cursor_uuid(after_id(cursor)),
            limit=limit + 1,
        )
    )
    page = page_by_id(rows, limit)
    allocs = repo.allocations([p.id for p in page.items])
    audit.record_list_read(
        session, actor, "payment:list", ((p.practice_id, p.patient_id) for p in page.items)
    )
    return Page([PaymentView(p, allocs[p.id]) for p in page.items], page.next_cursor)
