"""Settling a batch of approved autopay card charges with a constant number of statements.

Called by ``plans.autopay`` inside the batch transaction, after ``PlanRepository.lock_batch``
took every lock (plans -> installments -> payments -> patients -> invoices). Each approved
charge is applied exactly as ``autopay._apply`` -> ``payments.card.apply_outcome`` ->
``payments.service.post_payment`` -> ``plans.service.settle`` would apply it alone, in the same
order, with the same rows and audit events -- but the reads are one query per table for the whole
batch and the writes are one bulk INSERT (or executemany UPDATE) per table:

* the payment: card details, charge id, ``succeeded``, ``unapplied_minor``, its entry id;
* the ledger entry and postings (``ledger.post_entries_bulk``: COPY on PostgreSQL);
* the allocations (the wanted invoices, each cut to its AR balance: ``clip`` as for any captured
  charge), the invoices' statuses (one ledger query), one receipt number range per practice;
* the attempt ``succeeded``; the installment paid; the plan's ``payment`` event (and
  ``completed`` when it was the last one); the audit events ``payment:record`` and
  ``plan:payment``.

Anything that is not the plain case -- the attempt or payment no longer pending (another worker
applied it), a captured amount that differs, an allocation that no longer fits -- is handed back
to the caller, who applies it with the one-at-a-time code (which answers exactly as before).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.gateway.base import Charge, ChargeStatus
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.payments import card
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.payments.service import DEPOSIT_ACCOUNT
from revcycle.plans import service as plans
from revcycle.plans.models import PaymentPlan, PlanChargeAttempt, PlanInstallment
from revcycle.receipts import service as receipts


@dataclass(frozen=True)
class Approved:
    """An autopay card charge the gateway approved and captured, to settle."""

    attempt_id: uuid.UUID
    plan_id: uuid.UUID
    installment_id: uuid.UUID
    payment_id: uuid.UUID
    charge: Charge


def bulk_settleable(charge: Charge) -> bool:
    return charge.status is ChargeStatus.SUCCEEDED and charge.captured


@dataclass
class _Ready:
    item: Approved
    plan: PaymentPlan
    inst: PlanInstallment
    attempt: PlanChargeAttempt
    payment: Payment
    shares: list[tuple[Invoice, Money]]
    installments: list[PlanInstallment]


M = TypeVar("M", PaymentPlan, PlanChargeAttempt, Payment, Invoice)


def _by_id(s: Session, model: type[M], ids: set[uuid.UUID]) -> dict[uuid.UUID, M]:
    rows = s.scalars(
        select(model).where(model.id.in_(ids)).execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


def settle_approved(s: Session, actor: Principal, items: list[Approved]) -> list[Approved]:
    """Settle ``items`` (locks held by the caller); returns those left to the caller."""
    if not items:
        return []
    plan_rows = _by_id(s, PaymentPlan, {i.plan_id for i in items})
    attempts = _by_id(s, PlanChargeAttempt, {i.attempt_id for i in items})
    payments = _by_id(s, Payment, {i.payment_id for i in items})
    installments: dict[uuid.UUID, list[PlanInstallment]] = defaultdict(list)
    for row in s.scalars(
        select(PlanInstallment)
        .where(PlanInstallment.plan_id.in_(set(plan_rows)))
        .order_by(PlanInstallment.plan_id, PlanInstallment.version, PlanInstallment.seq)
        .execution_options(populate_existing=True)
    ):
        installments[row.plan_id].append(row)
    wanted: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    for p in payments.values():
        if p.allocation_request is not None:
            wanted[p.id] = [(uuid.UUID(i), int(m)) for i, m in json.loads(p.allocation_request)]
    invoice_ids = {i for shares in wanted.values() for i, _ in shares}
    invoices = _by_id(s, Invoice, invoice_ids)
    balances = LedgerRepository(s).invoice_ar_balances(invoice_ids)

    left: list[Approved] = []
    ready: list[_Ready] = []
    for item in items:
        plan, attempt, payment = (
            plan_rows.get(item.plan_id),
            attempts.get(item.attempt_id),
            payments.get(item.payment_id),
        )
        inst = next((i for i in installments[item.plan_id] if i.id == item.installment_id), None)
        if (
            plan is None
            or attempt is None
            or payment is None
            or inst is None
            or attempt.status != "pending"
            or payment.status not in card.UNRESOLVED
            or item.charge.captured_minor != payment.amount_minor
            or payment.id not in wanted
        ):
            left.append(item)
            continue
        shares = _shares(payment, wanted[payment.id], invoices, balances)
        if shares is None:
            left.append(item)
            continue
        ready.append(_Ready(item, plan, inst, attempt, payment, shares, installments[item.plan_id]))
    if ready:
        _write(s, actor, ready)
    return left


def _shares(
    payment: Payment,
    wanted: list[tuple[uuid.UUID, int]],
    invoices: dict[uuid.UUID, Invoice],
    balances: dict[uuid.UUID, int],
) -> list[tuple[Invoice, Money]] | None:
    """``payments.service.plan_allocations(..., clip=True)`` on the batch's running balances
    (an earlier charge of the batch already took its share); None when it would refuse."""
    if sum(m for _, m in wanted) > payment.amount_minor:
        return None
    shares: list[tuple[Invoice, Money]] = []
    for invoice_id, _ in wanted:
        found = invoices.get(invoice_id)
        if found is None or found.patient_id != payment.patient_id:
            return None
    for invoice_id, minor in wanted:
        inv = invoices[invoice_id]
        take = min(minor, balances[invoice_id])
        if take > 0:
            shares.append((inv, Money(take, inv.currency)))
    for inv, share in shares:
        balances[inv.id] -= share.amount_minor
    return shares


def _write(s: Session, actor: Principal, ready: list[_Ready]) -> None:
    specs = []
    for r in ready:
        payment, charge = r.payment, r.item.charge
        if charge.card is not None:
            payment.card_brand = charge.card.brand
            payment.card_last4 = charge.card.last4
            payment.card_exp_month = charge.card.exp_month
            payment.card_exp_year = charge.card.exp_year
        payment.gateway_charge_id = charge.id
        payment.status = card.SUCCEEDED
        payment.next_action_url = None
        amount = Money(payment.amount_minor, payment.currency)
        applied = sum(m.amount_minor for _, m in r.shares)
        unapplied = Money(amount.amount_minor - applied, amount.currency)
        payment.unapplied_minor = unapplied.amount_minor
        legs = [ledger.debit(DEPOSIT_ACCOUNT[payment.method], amount)]
        legs += [
            ledger.credit(
                AccountCode.PATIENT_AR, share, patient_id=payment.patient_id, invoice_id=inv.id
            )
            for inv, share in r.shares
        ]
        if unapplied.is_positive():
            legs.append(
                ledger.credit(AccountCode.PATIENT_CREDIT, unapplied, patient_id=payment.patient_id)
            )
        specs.append(
            ledger.EntrySpec(
                practice_id=payment.practice_id,
                kind=EntryKind.PAYMENT.value,
                legs=legs,
                effective_date=payment.received_on,
                memo=f"{payment.method} payment",
                created_by=payment.created_by,
                source_type="payment",
                source_id=payment.id,
            )
        )
    for r, entry_id in zip(ready, ledger.post_entries_bulk(s, specs), strict=True):
        r.payment.entry_id = entry_id
    s.add_all(
        [
            PaymentAllocation(
                id=uuid7(),
                position=position,
                payment_id=r.payment.id,
                invoice_id=inv.id,
                amount_minor=share.amount_minor,
                currency=share.currency,
            )
            for r in ready
            for position, (inv, share) in enumerate(r.shares, start=1)
        ]
    )
    s.flush()
    touched = {inv.id: inv for r in ready for inv, _ in r.shares}
    invoices_service.refresh_statuses(s, list(touched.values()))
    s.flush()
    receipts.assign_payments(s, [r.payment for r in ready])
    for r in ready:
        audit.record(
            s,
            actor,
            "payment:record",
            object_type="payment",
            object_id=r.payment.id,
            practice_id=r.payment.practice_id,
            fields=["amount", "method", "allocations"],
        )
        r.attempt.status = card.SUCCEEDED
        r.attempt.decline_code = r.payment.decline_code
        plans.settle(s, actor, r.plan, r.installments, r.payment, target=r.inst, flush=False)
    s.flush()
