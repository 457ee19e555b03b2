"""Settling a batch of approved autopay card charges with a constant number of statements.

Called by ``plans.autopay`` inside the batch transaction, after ``PlanRepository.lock_batch``
took every lock (plans -> installments -> payments -> patients -> invoices). Each approved
charge is applied exactly as ``autopay._apply`` -> ``payments.card.apply_outcome`` ->
``payments.service.post_payment`` -> ``plans.service.settle`` would apply it alone, in the same
order, with the same rows and audit events -- but the reads are one query per table for the whole
batch and the writes are one bulk statement per table (COPY / ``UPDATE ... FROM unnest`` on
PostgreSQL, :mod:`revcycle.kit.bulk`), on plain rows -- no ORM object, no unit of work:

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
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.gateway.base import Charge, ChargeStatus
from revcycle.invoices import service as invoices_service
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.payments import card
from revcycle.payments.repository import PaymentRepository
from revcycle.payments.service import DEPOSIT_ACCOUNT
from revcycle.plans import service as plans_service
from revcycle.plans.repository import PlanRepository
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


class _Plan:
    """A locked plan's state while the batch is applied (several installments of one plan may
    be in the batch: each sees the changes of the ones before, as one at a time)."""

    __slots__ = ("id", "practice_id", "status", "version", "installments")

    def __init__(self, row: Any, installments: list[dict[str, Any]]) -> None:
        self.id: uuid.UUID = row.id
        self.practice_id: uuid.UUID = row.practice_id
        self.status: str = row.status
        self.version: int = row.version
        self.installments = installments  # mutable dicts, (version, seq) order


@dataclass
class _Ready:
    item: Approved
    plan: _Plan
    inst: dict[str, Any]
    payment: Any  # the payment's row
    shares: list[tuple[uuid.UUID, str, int]]  # (invoice id, currency, minor)


def settle_approved(s: Session, actor: Principal, items: list[Approved]) -> list[Approved]:
    """Settle ``items`` (locks held by the caller); returns those left to the caller."""
    if not items:
        return []
    repo = PlanRepository(s)
    plan_ids = list({i.plan_id for i in items})
    plan_rows = repo.plan_rows(plan_ids)
    by_plan: dict[uuid.UUID, list[dict[str, Any]]] = {p: [] for p in plan_rows}
    for row in repo.installment_rows(plan_ids):
        by_plan[row.plan_id].append(dict(row._mapping))
    plans = {pid: _Plan(row, by_plan[pid]) for pid, row in plan_rows.items()}
    attempts = repo.attempt_statuses([i.attempt_id for i in items])
    payments = PaymentRepository(s).rows([i.payment_id for i in items])
    wanted: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    for p in payments.values():
        if p.allocation_request is not None:
            wanted[p.id] = [(uuid.UUID(i), int(m)) for i, m in json.loads(p.allocation_request)]
    invoice_ids = list({i for shares in wanted.values() for i, _ in shares})
    invoices = InvoiceRepository(s).rows(invoice_ids)
    balances = LedgerRepository(s).invoice_ar_balances(invoice_ids)

    left: list[Approved] = []
    ready: list[_Ready] = []
    for item in items:
        plan, status, payment = (
            plans.get(item.plan_id),
            attempts.get(item.attempt_id),
            payments.get(item.payment_id),
        )
        inst = (
            None
            if plan is None
            else next((i for i in plan.installments if i["id"] == item.installment_id), None)
        )
        if (
            plan is None
            or payment is None
            or inst is None
            or status != "pending"
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
        ready.append(_Ready(item, plan, inst, payment, shares))
    if ready:
        _write(s, actor, ready, invoices)
    return left


def _shares(
    payment: Any,
    wanted: list[tuple[uuid.UUID, int]],
    invoices: dict[uuid.UUID, Any],
    balances: dict[uuid.UUID, int],
) -> list[tuple[uuid.UUID, str, int]] | None:
    """``payments.service.plan_allocations(..., clip=True)`` on the batch's running balances
    (an earlier charge of the batch already took its share); None when it would refuse."""
    if sum(m for _, m in wanted) > payment.amount_minor:
        return None
    for invoice_id, _ in wanted:
        found = invoices.get(invoice_id)
        if found is None or found.patient_id != payment.patient_id:
            return None
    shares: list[tuple[uuid.UUID, str, int]] = []
    for invoice_id, minor in wanted:
        take = min(minor, balances[invoice_id])
        if take > 0:
            shares.append((invoice_id, invoices[invoice_id].currency, take))
    for invoice_id, _, take in shares:
        balances[invoice_id] -= take
    return shares


def _write(
    s: Session, actor: Principal, ready: list[_Ready], invoices: dict[uuid.UUID, Any]
) -> None:
    specs = []
    for r in ready:
        p = r.payment
        amount = Money(p.amount_minor, p.currency)
        unapplied = Money(p.amount_minor - sum(m for _, _, m in r.shares), p.currency)
        legs = [ledger.debit(DEPOSIT_ACCOUNT[p.method], amount)]
        legs += [
            ledger.credit(
                AccountCode.PATIENT_AR, Money(m, cur), patient_id=p.patient_id, invoice_id=inv
            )
            for inv, cur, m in r.shares
        ]
        if unapplied.is_positive():
            legs.append(
                ledger.credit(AccountCode.PATIENT_CREDIT, unapplied, patient_id=p.patient_id)
            )
        specs.append(
            ledger.EntrySpec(
                practice_id=p.practice_id,
                kind=EntryKind.PAYMENT.value,
                legs=legs,
                effective_date=p.received_on,
                memo=f"{p.method} payment",
                created_by=p.created_by,
                source_type="payment",
                source_id=p.id,
            )
        )
    entry_ids = ledger.post_entries_bulk(s, specs, flush_first=False)
    updates = []
    for r, entry_id in zip(ready, entry_ids, strict=True):
        p, charge = r.payment, r.item.charge
        c = charge.card
        updates.append(
            {
                "id": p.id,
                "card_brand": p.card_brand if c is None else c.brand,
                "card_last4": p.card_last4 if c is None else c.last4,
                "card_exp_month": p.card_exp_month if c is None else c.exp_month,
                "card_exp_year": p.card_exp_year if c is None else c.exp_year,
                "gateway_charge_id": charge.id,
                "status": card.SUCCEEDED,
                "next_action_url": None,
                "unapplied_minor": p.amount_minor - sum(m for _, _, m in r.shares),
                "entry_id": entry_id,
            }
        )
    payments = PaymentRepository(s)
    payments.update_many(updates)
    payments.insert_allocations(
        [
            {
                "id": uuid7(),
                "position": position,
                "payment_id": r.payment.id,
                "invoice_id": inv,
                "amount_minor": m,
                "currency": cur,
            }
            for r in ready
            for position, (inv, cur, m) in enumerate(r.shares, start=1)
        ]
    )
    touched = {inv for r in ready for inv, _, _ in r.shares}
    invoices_service.refresh_statuses_by_id(
        s, {i: (invoices[i].status, invoices[i].total_minor) for i in sorted(touched)}
    )
    _settle_plans(s, actor, ready)
    # the receipt sequence is locked last: held only from here to COMMIT (receipts.service)
    receipts.assign_gateway_payments(
        s,
        [
            receipts.Settled(
                r.payment.id,
                r.payment.practice_id,
                r.payment.patient_id,
                r.payment.method,
                r.payment.amount_minor,
                r.payment.currency,
            )
            for r in ready
        ],
    )


def _settle_plans(s: Session, actor: Principal, ready: list[_Ready]) -> None:
    """``plans.service.settle(..., target=inst)`` for each approved charge, in order: the
    installment paid, the plan's ``payment`` event (``completed`` and the plan ended when it was
    the last), their audit events -- as rows, one statement per table."""
    now = utcnow()
    role = actor.role.value
    events: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    changed: dict[uuid.UUID, dict[str, Any]] = {}
    ended: list[dict[str, Any]] = []

    def event(plan: _Plan, kind: str, detail: dict[str, Any]) -> None:
        events.append(
            {
                "id": uuid7(),
                "plan_id": plan.id,
                "kind": kind,
                "actor_user_id": actor.user_id,
                "actor_role": role,
                "reason": None,
                "detail": detail,
                "at": now,
            }
        )
        plans_service.audit_event(s, actor, plan.id, plan.practice_id, kind, detail)

    for r in ready:
        p, plan, inst = r.payment, r.plan, r.inst
        audit.record(
            s,
            actor,
            "payment:record",
            object_type="payment",
            object_id=p.id,
            practice_id=p.practice_id,
            fields=["amount", "method", "allocations"],
        )
        attempts.append(
            {"id": r.item.attempt_id, "status": card.SUCCEEDED, "decline_code": p.decline_code}
        )
        # plans.service.apply_to_installments with a target
        applied = []
        take = min(p.amount_minor, inst["amount_minor"] - inst["paid_minor"])
        if take > 0:
            inst["paid_minor"] += take
            applied.append([inst["seq"], take])
            if inst["paid_minor"] == inst["amount_minor"]:
                inst["status"] = "paid"
                inst["next_attempt_on"] = None
            changed[inst["id"]] = inst
            inst["updated_at"] = now
        event(
            plan,
            "payment",
            {
                "payment_id": str(p.id),
                "amount_minor": p.amount_minor,
                "method": p.method,
                "installments": applied,
            },
        )
        # plans.service.maybe_complete
        current = [i for i in plan.installments if i["version"] == plan.version]
        if plan.status == "active" and all(i["status"] == "paid" for i in current):
            plan.status = "completed"
            ended.append({"id": plan.id, "status": "completed", "ended_at": now})
            event(plan, "completed", {})
    repo = PlanRepository(s)
    repo.update_attempts(attempts)
    repo.update_installments(
        [
            {
                "id": i["id"],
                "paid_minor": i["paid_minor"],
                "status": i["status"],
                "next_attempt_on": i["next_attempt_on"],
                "updated_at": i["updated_at"],
            }
            for i in changed.values()
        ]
    )
    repo.end_plans(ended)
    repo.insert_events(events)
