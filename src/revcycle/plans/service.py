"""Payment plans: propose (schedule shown before acceptance), accept (optionally with autopay),
pay (at the desk, by autopay, early payoff), change (with history), miss, default, cancel.

Lock order: plan -> installments -> payment -> patient -> invoices (by id). Installment
payments are ordinary payments (payments.service) allocated to the plan's invoices, oldest due
first, so the ledger and invoice balances stay exact.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.invoices.models import Invoice
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import today, utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.notifications import service as notifications
from revcycle.patients import service as patients_service
from revcycle.patients.repository import PatientRepository
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.paymethods import service as methods_service
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.plans import calc, errors
from revcycle.plans.models import (
    PaymentPlan,
    PlanChargeAttempt,
    PlanEvent,
    PlanInstallment,
    PlanInvoice,
)
from revcycle.plans.repository import PlanRepository
from revcycle.plans.schemas import (
    PayoffCreate,
    PlanAccept,
    PlanChange,
    PlanCreate,
    PlanPaymentCreate,
)
from revcycle.practices.repository import PracticeRepository

PLANNABLE = ("open", "partially_paid")
ENDED = ("completed", "paid_off", "defaulted", "cancelled")


@dataclass(frozen=True)
class PlanView:
    plan: PaymentPlan
    invoices: list[PlanInvoice]
    installments: list[PlanInstallment]  # every version, in order
    events: list[PlanEvent]
    attempts: list[PlanChargeAttempt]

    @property
    def schedule(self) -> list[PlanInstallment]:
        return [i for i in self.installments if i.version == self.plan.version]

    @property
    def remaining_minor(self) -> int:
        return remaining(self.plan, self.installments)


def remaining(plan: PaymentPlan, installments: list[PlanInstallment]) -> int:
    """What is left to pay on the current schedule (a defaulted plan keeps its unpaid part)."""
    return sum(
        i.amount_minor - i.paid_minor
        for i in installments
        if i.version == plan.version and i.status != "cancelled"
    )


def view(session: Session, plan: PaymentPlan) -> PlanView:
    repo = PlanRepository(session)
    return PlanView(
        plan,
        repo.invoices(plan.id),
        repo.installments(plan.id),
        repo.events(plan.id),
        repo.attempts(plan.id),
    )


def _rows(installments: list[PlanInstallment]) -> list[list[Any]]:
    return [
        [i.seq, i.due_date.isoformat(), i.amount_minor, i.paid_minor, i.status]
        for i in installments
    ]


def record_event(
    session: Session,
    actor: Principal,
    plan: PaymentPlan,
    kind: str,
    *,
    reason: str | None = None,
    flush: bool = True,
    **detail: Any,
) -> None:
    """A plan event and its audit event. ``flush=False`` leaves the row to the next flush (a
    batch of autopay outcomes writes all its events with one INSERT)."""
    session.add(
        PlanEvent(
            id=uuid7(),
            plan_id=plan.id,
            kind=kind,
            actor_user_id=actor.user_id,
            actor_role=actor.role.value,
            reason=reason,
            detail=detail,
            at=utcnow(),
        )
    )
    if flush:
        session.flush()
    audit_event(session, actor, plan.id, plan.practice_id, kind, detail)


def audit_event(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    practice_id: uuid.UUID,
    kind: str,
    detail: dict[str, Any],
) -> None:
    """The audit event of a plan event (``plan:<kind>``, the detail's keys as its fields)."""
    audit.record(
        session,
        actor,
        f"plan:{kind}",
        object_type="payment_plan",
        object_id=plan_id,
        practice_id=practice_id,
        fields=sorted(detail),
    )


def notify(session: Session, plan: PaymentPlan, kind: str, key: str, **payload: Any) -> None:
    notifications.enqueue(
        session,
        practice_id=plan.practice_id,
        patient_id=plan.patient_id,
        kind=kind,
        dedupe_key=key,
        payload={"plan_id": str(plan.id), **payload},
    )


# --- access -------------------------------------------------------------------------------------


def access_plan(
    session: Session, actor: Principal, plan_id: uuid.UUID, action: Action, *, lock: bool = False
) -> PaymentPlan:
    actor.require(action)
    repo = PlanRepository(session)
    plan = repo.get_for_update(plan_id) if lock else repo.get(plan_id)
    if plan is None:
        raise errors.PlanNotFound("No such payment plan")
    if not actor.sees_patient(plan.practice_id, plan.patient_id):
        raise out_of_scope(errors.PlanNotFound("No such payment plan"), "payment_plan", plan.id)
    return plan


def invoices_in_plan(session: Session, invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """For other domains (dunning, collections): which of these invoices are in an active plan
    (invoice id -> plan id). Normal collections do not apply to them."""
    return PlanRepository(session).invoices_in_plan(invoice_ids)


def usable_method(
    session: Session, actor: Principal, plan: PaymentPlan, method_id: uuid.UUID
) -> StoredPaymentMethod:
    method = methods_service.access_method(
        session, actor, plan.patient_id, method_id, Action.PLAN_READ
    )
    if method.status != "active":
        raise errors.MethodNotUsable("This payment method was removed")
    return method


# --- propose / accept / cancel ------------------------------------------------------------------


def _plannable_invoices(
    session: Session, patient_id: uuid.UUID, invoice_ids: list[uuid.UUID]
) -> tuple[list[Invoice], dict[uuid.UUID, int]]:
    """The invoices, oldest due first, with their ledger balances; refuses what can't be planned."""
    found = InvoiceRepository(session).by_ids(invoice_ids)
    invoices = []
    for iid in invoice_ids:
        inv = found.get(iid)
        if inv is None or inv.patient_id != patient_id:
            raise errors.PlanNotFound(
                "No such invoice for this patient", code="invoice.not_found", invoice_id=str(iid)
            )
        if inv.status not in PLANNABLE:
            raise errors.InvoiceNotPlannable(
                f"Invoice {inv.display_number or inv.id} is {inv.status}",
                invoice_id=str(inv.id),
                invoice_status=inv.status,
            )
        invoices.append(inv)
    taken = PlanRepository(session).invoices_in_plan(invoice_ids)
    if taken:
        first = next(iter(taken))
        raise errors.InvoiceAlreadyInPlan(
            "An invoice is already in an active payment plan", invoice_id=str(first)
        )
    balances = LedgerRepository(session).invoice_ar_balances(invoice_ids)
    invoices.sort(key=lambda i: (i.due_date or i.issue_date or today(), i.number or 0))
    return invoices, balances


def propose_plan(session: Session, actor: Principal, data: PlanCreate) -> PlanView:
    actor.require(Action.PLAN_WRITE)
    session.flush()
    patient = patients_service.access_patient(session, actor, data.patient_id)
    practice = PracticeRepository(session).get(patient.practice_id)
    assert practice is not None
    if data.first_due_date < today():
        raise errors.BadSchedule("The first due date is in the past", code="plan.first_due_in_past")
    invoices, balances = _plannable_invoices(session, patient.id, data.invoice_ids)
    total = Money(sum(balances[i.id] for i in invoices), practice.currency)
    amount = (
        None
        if data.installment_amount is None
        else Money.parse(data.installment_amount, practice.currency)
    )
    rows = calc.schedule(
        total,
        data.frequency,
        data.first_due_date,
        count=data.installment_count,
        amount=amount,
    )
    plan = PaymentPlan(
        id=uuid7(),
        practice_id=patient.practice_id,
        patient_id=patient.id,
        status="proposed",
        frequency=data.frequency.value,
        first_due_date=data.first_due_date,
        installment_count=len(rows),
        total_minor=total.amount_minor,
        currency=total.currency,
        memo=data.memo,
        missed_count=0,
        version=1,
        created_by=actor.user_id,
        created_at=utcnow(),
    )
    session.add(plan)
    session.flush()
    session.add_all(
        PlanInvoice(
            id=uuid7(),
            plan_id=plan.id,
            invoice_id=inv.id,
            position=pos,
            balance_minor=balances[inv.id],
            in_plan=False,
        )
        for pos, inv in enumerate(invoices, start=1)
    )
    installments = _new_installments(plan, rows, version=1)
    session.add_all(installments)
    session.flush()
    record_event(
        session,
        actor,
        plan,
        "proposed",
        reason=None,
        schedule=_rows(installments),
        invoices=[str(i.id) for i in invoices],
    )
    return view(session, plan)


def _new_installments(
    plan: PaymentPlan, rows: list[tuple[dt.date, Money]], *, version: int
) -> list[PlanInstallment]:
    return [
        PlanInstallment(
            id=uuid7(),
            plan_id=plan.id,
            version=version,
            seq=seq,
            due_date=due,
            amount_minor=amount.amount_minor,
            paid_minor=0,
            currency=amount.currency,
            status="scheduled",
            next_attempt_on=due if plan.method_id is not None else None,
            attempts=0,
            updated_at=utcnow(),
        )
        for seq, (due, amount) in enumerate(rows, start=1)
    ]


def accept_plan(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: PlanAccept
) -> PlanView:
    plan = access_plan(session, actor, plan_id, Action.PLAN_ACCEPT, lock=True)
    if plan.status != "proposed":
        raise errors.WrongState(f"The plan is {plan.status}, not proposed", status_now=plan.status)
    method = (
        None
        if data.payment_method_id is None
        else usable_method(session, actor, plan, data.payment_method_id)
    )
    repo = PlanRepository(session)
    links = repo.invoices(plan.id)
    PatientRepository(session).get_for_update(plan.patient_id)
    locked = {i.id: i for i in InvoiceRepository(session).lock_many([p.invoice_id for p in links])}
    balances = LedgerRepository(session).invoice_ar_balances(list(locked))
    for link in links:
        inv = locked[link.invoice_id]
        if inv.status not in PLANNABLE or balances[inv.id] != link.balance_minor:
            raise errors.InvoiceNotPlannable(
                "An invoice's balance changed since the plan was proposed; propose it again",
                code="plan.balance_changed",
                invoice_id=str(inv.id),
            )
    if repo.invoices_in_plan([p.invoice_id for p in links]):
        raise errors.InvoiceAlreadyInPlan("An invoice is already in an active payment plan")
    for link in links:
        link.in_plan = True
    plan.status = "active"
    plan.accepted_by = actor.user_id
    plan.accepted_at = utcnow()
    plan.method_id = method.id if method else None
    for inst in repo.installments(plan.id, lock=True):
        inst.next_attempt_on = inst.due_date if method else None
    session.flush()
    record_event(
        session,
        actor,
        plan,
        "accepted",
        payment_method_id=str(method.id) if method else None,
    )
    return view(session, plan)


def _end(session: Session, plan: PaymentPlan, status: str) -> None:
    """Close the plan: its invoices leave the plan (back to normal collections if unpaid)."""
    plan.status = status
    plan.ended_at = utcnow()
    for link in PlanRepository(session).invoices(plan.id):
        link.in_plan = False
    session.flush()


def cancel_plan(session: Session, actor: Principal, plan_id: uuid.UUID, reason: str) -> PlanView:
    plan = access_plan(session, actor, plan_id, Action.PLAN_WRITE, lock=True)
    if plan.status not in ("proposed", "active"):
        raise errors.WrongState(f"The plan is {plan.status}", status_now=plan.status)
    installments = PlanRepository(session).installments(plan.id, lock=True)
    if any(i.status == "processing" for i in installments):
        raise errors.WrongState(
            "A charge is in flight; try again shortly", code="plan.charge_in_flight"
        )
    before = _rows([i for i in installments if i.version == plan.version])
    for inst in installments:
        if inst.status in ("scheduled", "missed"):
            inst.status = "cancelled"
            inst.next_attempt_on = None
    _end(session, plan, "cancelled")
    record_event(session, actor, plan, "cancelled", reason=reason, before=before)
    return view(session, plan)


# --- reading ------------------------------------------------------------------------------------


def get_plan(session: Session, actor: Principal, plan_id: uuid.UUID) -> PlanView:
    plan = access_plan(session, actor, plan_id, Action.PLAN_READ)
    audit.record_read(
        session,
        actor,
        "plan:read",
        object_type="payment_plan",
        object_id=plan.id,
        practice_id=plan.practice_id,
    )
    return view(session, plan)


def list_plans(
    session: Session,
    actor: Principal,
    *,
    patient_id: uuid.UUID | None,
    practice_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[PlanView]:
    actor.require(Action.PLAN_READ)
    limit = min(limit, MAX_LIMIT)
    rows = list(
        PlanRepository(session).search(
            practice_ids=None if actor.is_patient else actor.practice_ids,
            patient_ids=actor.patient_ids if actor.is_patient else None,
            patient_id=patient_id,
            practice_id=practice_id,
            status=status,
            before=parse_cursor_uuid(after_id(cursor)),
            limit=limit + 1,
        )
    )
    page = page_by_id(rows, limit)
    audit.record_list_read(
        session, actor, "plan:list", ((p.practice_id, p.patient_id) for p in page.items)
    )
    return Page([view(session, p) for p in page.items], page.next_cursor)


# --- paying -------------------------------------------------------------------------------------


def allocation_request(
    session: Session, plan: PaymentPlan, amount_minor: int
) -> dict[uuid.UUID, Money]:
    """Where a plan payment goes: the plan's invoices, oldest due first, up to each balance (call
    with the patient and invoices locked for an exact answer)."""
    return allocation_requests(session, [(plan, amount_minor)])[0]


def allocation_requests(
    session: Session, asks: list[tuple[PaymentPlan, int]]
) -> list[dict[uuid.UUID, Money]]:
    """:func:`allocation_request` for several (plan, amount) at once: two queries in all. Each
    answer is computed from the balances as they are now, independently of the others, as
    separate calls would."""
    minors = allocation_requests_for(session, [(plan.id, amount) for plan, amount in asks])
    return [
        {i: Money(m, plan.currency) for i, m in wanted.items()}
        for (plan, _), wanted in zip(asks, minors, strict=True)
    ]


def allocation_requests_for(
    session: Session, asks: list[tuple[uuid.UUID, int]]
) -> list[dict[uuid.UUID, int]]:
    """:func:`allocation_requests` on (plan id, amount) with answers in minor units
    (an autopay claim: no ORM object)."""
    links = PlanRepository(session).invoice_links([plan_id for plan_id, _ in asks])
    balances = LedgerRepository(session).invoice_ar_balances(
        {invoice_id for plan_links in links.values() for invoice_id in plan_links}
    )
    out = []
    for plan_id, amount_minor in asks:
        wanted: dict[uuid.UUID, int] = {}
        left = amount_minor
        for invoice_id in links.get(plan_id, ()):
            take = min(left, balances[invoice_id])
            if take > 0:
                wanted[invoice_id] = take
                left -= take
        out.append(wanted)
    return out


def apply_to_installments(
    plan: PaymentPlan,
    installments: list[PlanInstallment],
    amount_minor: int,
    *,
    target: PlanInstallment | None = None,
) -> list[list[int]]:
    """Mark ``amount_minor`` paid: on ``target`` (an autopay charge for it), else on the open
    installments of the current schedule in order (missed ones first, they are older). Returns
    [seq, amount] pairs."""
    current = [i for i in installments if i.version == plan.version]
    order = (
        [target]
        if target is not None
        else [i for i in current if i.status in ("scheduled", "missed")]
    )
    left = amount_minor
    applied = []
    for inst in order:
        take = min(left, inst.amount_minor - inst.paid_minor)
        if take <= 0:
            continue
        inst.paid_minor += take
        left -= take
        applied.append([inst.seq, take])
        if inst.paid_minor == inst.amount_minor:
            inst.status = "paid"
            inst.next_attempt_on = None
        inst.updated_at = utcnow()
    return applied


def maybe_complete(
    session: Session, actor: Principal, plan: PaymentPlan, installments: list[PlanInstallment]
) -> None:
    current = [i for i in installments if i.version == plan.version]
    if plan.status == "active" and all(i.status == "paid" for i in current):
        _end(session, plan, "completed")
        record_event(session, actor, plan, "completed")


def record_plan_payment(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: PlanPaymentCreate
) -> PlanView:
    """Money received at the desk for a plan (staff), applied to its installments in order."""
    return _pay_at_desk(session, actor, plan_id, data.amount, data.method.value, data.reference)


def payoff_at_desk(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: PayoffCreate
) -> PlanView:
    """Early payoff at the desk: everything left, now; the plan ends ``paid_off``."""
    assert data.method is not None
    return _pay_at_desk(session, actor, plan_id, None, data.method.value, data.reference)


def _pay_at_desk(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    amount_value: Decimal | None,
    method: str,
    reference: str | None,
) -> PlanView:
    payoff = amount_value is None
    actor.require(Action.PAYMENT_RECORD)
    plan = access_plan(
        session, actor, plan_id, Action.PLAN_WRITE if payoff else Action.PLAN_READ, lock=True
    )
    installments = open_for_money(session, plan)
    left = remaining(plan, installments)
    amount = (
        Money(left, plan.currency)
        if amount_value is None
        else Money.parse(amount_value, plan.currency)
    )
    if amount.amount_minor > left:
        raise errors.AmountExceedsRemaining(
            f"{amount.format()} is more than the {Money(left, plan.currency).format()} left",
            remaining=Money(left, plan.currency).format(),
        )
    payment = Payment(
        id=uuid7(),
        practice_id=plan.practice_id,
        patient_id=plan.patient_id,
        method=method,
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        received_on=today(),
        reference=reference,
        created_by=actor.user_id,
        status="succeeded",
    )
    post_plan_payment(session, actor, plan, payment)
    settle(session, actor, plan, installments, payment, payoff=payoff)
    return view(session, plan)


def open_for_money(session: Session, plan: PaymentPlan) -> list[PlanInstallment]:
    """Lock the plan's installments for a payment; refuses unless active and no charge is in
    flight (the plan row is locked by the caller)."""
    if plan.status != "active":
        raise errors.WrongState(f"The plan is {plan.status}, not active", status_now=plan.status)
    repo = PlanRepository(session)
    installments = repo.installments(plan.id, lock=True)
    if any(i.status == "processing" for i in installments) or repo.charge_in_flight(plan.id):
        raise errors.WrongState(
            "A charge is in flight; try again shortly", code="plan.charge_in_flight"
        )
    return installments


def post_plan_payment(
    session: Session, actor: Principal, plan: PaymentPlan, payment: Payment
) -> None:
    """Post ``payment`` (a new, succeeded row) to the plan's invoices, oldest due first, under
    the patient -> invoices locks; anything above their balances becomes patient credit."""
    PatientRepository(session).get_for_update(plan.patient_id)
    links = PlanRepository(session).invoices(plan.id)
    InvoiceRepository(session).lock_many([p.invoice_id for p in links])
    amount = Money(payment.amount_minor, payment.currency)
    prep = payments.Prepared(plan.patient_id, plan.practice_id, amount, payment.received_on)
    wanted = allocation_request(session, plan, amount.amount_minor)
    allocs = payments.plan_allocations(session, prep, wanted, clip=True)
    payments.post_payment(session, actor, payment, allocs)


def settle(
    session: Session,
    actor: Principal,
    plan: PaymentPlan,
    installments: list[PlanInstallment],
    payment: Payment,
    *,
    payoff: bool = False,
    target: PlanInstallment | None = None,
    flush: bool = True,
) -> None:
    """Mark a succeeded plan payment on the installments, record it, end the plan if done.
    ``flush=False``: the rows are left to the caller's next flush (a batch)."""
    applied = apply_to_installments(plan, installments, payment.amount_minor, target=target)
    record_event(
        session,
        actor,
        plan,
        "payoff" if payoff else "payment",
        flush=flush,
        payment_id=str(payment.id),
        amount_minor=payment.amount_minor,
        method=payment.method,
        installments=applied,
    )
    if payoff:
        _end(session, plan, "paid_off")
    else:
        maybe_complete(session, actor, plan, installments)
    if flush:
        session.flush()


# --- changes ------------------------------------------------------------------------------------


def change_plan(
    session: Session, actor: Principal, plan_id: uuid.UUID, data: PlanChange
) -> PlanView:
    """Reschedule what is left and/or change autopay, with the schedule before and after in the
    plan's history. Partly paid installments keep what was paid; the rest is re-split."""
    plan = access_plan(session, actor, plan_id, Action.PLAN_WRITE, lock=True)
    installments = open_for_money(session, plan)
    method = (
        None
        if data.payment_method_id is None
        else usable_method(session, actor, plan, data.payment_method_id)
    )
    current = [i for i in installments if i.version == plan.version]
    before = _rows(current)
    detail: dict[str, Any] = {"before": before}
    if method is not None or data.autopay is False:
        detail["payment_method"] = [
            str(plan.method_id) if plan.method_id else None,
            str(method.id) if method else None,
        ]
        plan.method_id = method.id if method else None
    if data.reschedules:
        left = remaining(plan, installments)
        if left <= 0:
            raise errors.WrongState("Nothing is left to reschedule", code="plan.nothing_left")
        first = data.first_due_date or min(
            (i.due_date for i in current if i.status in ("scheduled", "missed")),
            default=today(),
        )
        if data.first_due_date is not None and first < today():
            raise errors.BadSchedule(
                "The first due date is in the past", code="plan.first_due_in_past"
            )
        frequency = data.frequency or calc.Frequency(plan.frequency)
        count = data.installment_count
        amount = None
        if data.installment_amount is not None:
            amount = Money.parse(data.installment_amount, plan.currency)
        elif count is None:
            count = sum(1 for i in current if i.status in ("scheduled", "missed"))
        rows = calc.schedule(
            Money(left, plan.currency), frequency, first, count=count, amount=amount
        )
        for inst in current:
            if inst.status in ("scheduled", "missed"):
                inst.status = "cancelled"
                inst.next_attempt_on = None
        plan.version += 1
        plan.frequency = frequency.value
        plan.first_due_date = first
        plan.installment_count = len(rows)
        new = _new_installments(plan, rows, version=plan.version)
        session.add_all(new)
        current = new
        detail["after"] = _rows(new)
    else:
        for inst in current:
            if inst.status == "scheduled":
                inst.next_attempt_on = (
                    max(inst.due_date, today()) if plan.method_id is not None else None
                )
        detail["after"] = _rows(current)
    session.flush()
    record_event(session, actor, plan, "changed", reason=data.reason, **detail)
    return view(session, plan)


def detach_method(session: Session, actor: Principal, method_id: uuid.UUID, why: str) -> int:
    """A stored method was removed (or hard-declined): active plans paying with it stop autopay
    (their installments wait for a new method or a payment at the desk)."""
    repo = PlanRepository(session)
    n = 0
    for plan_id in repo.active_with_method(method_id):
        plan = repo.get_for_update(plan_id)
        if plan is None or plan.method_id != method_id:
            continue
        plan.method_id = None
        for inst in repo.installments(plan.id, lock=True):
            if inst.status == "scheduled":
                inst.next_attempt_on = None
        record_event(
            session, actor, plan, "autopay_stopped", reason=why, payment_method_id=str(method_id)
        )
        n += 1
    return n


def remove_method(
    session: Session, actor: Principal, patient_id: uuid.UUID, method_id: uuid.UUID
) -> StoredPaymentMethod:
    method = methods_service.remove_method(session, actor, patient_id, method_id)
    detach_method(session, actor, method.id, "payment method removed")
    return method


# --- missed installments and default (the worker's "plans.missed" task) ------------------------


def sweep_missed(
    session: Session,
    actor: Principal,
    plan_id: uuid.UUID,
    *,
    on: dt.date,
    grace_days: int,
    default_after: int,
) -> int:
    """Mark the plan's installments unpaid ``grace_days`` after their due date (no retry left)
    missed; ``default_after`` missed installments default the plan: its invoices return to
    normal collections. Returns the installments marked missed."""
    repo = PlanRepository(session)
    plan = repo.get_for_update(plan_id)
    if plan is None or plan.status != "active":
        return 0
    installments = repo.installments(plan.id, lock=True)
    cutoff = on - dt.timedelta(days=grace_days)
    missed = 0
    for inst in installments:
        if (
            inst.version == plan.version
            and inst.status == "scheduled"
            and inst.due_date < cutoff
            and inst.next_attempt_on is None
        ):
            inst.status = "missed"
            inst.updated_at = utcnow()
            plan.missed_count += 1
            missed += 1
            record_event(
                session,
                actor,
                plan,
                "installment_missed",
                seq=inst.seq,
                due_date=inst.due_date.isoformat(),
                unpaid_minor=inst.amount_minor - inst.paid_minor,
            )
            notify(
                session,
                plan,
                "plan.installment_missed",
                f"missed:{inst.id}",
                seq=inst.seq,
                due_date=inst.due_date.isoformat(),
                amount_minor=inst.amount_minor - inst.paid_minor,
                currency=inst.currency,
            )
    if missed and plan.missed_count >= default_after:
        for inst in installments:
            if inst.status in ("scheduled", "missed") and inst.version == plan.version:
                inst.next_attempt_on = None
        left = remaining(plan, installments)
        _end(session, plan, "defaulted")
        record_event(
            session,
            actor,
            plan,
            "defaulted",
            reason=f"{plan.missed_count} installments missed",
            missed_count=plan.missed_count,
            remaining_minor=left,
        )
        notify(
            session,
            plan,
            "plan.defaulted",
            f"defaulted:{plan.id}",
            remaining_minor=left,
            currency=plan.currency,
        )
    session.flush()
    return missed
