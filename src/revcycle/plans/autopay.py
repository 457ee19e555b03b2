"""Autopay: charging due installments from stored payment methods (the worker's
``plans.autopay`` task), and early payoff from a stored card. The card-payment saga of
payments/card.py, with the claim done by the worker:

1. **Claim** (one transaction, a small batch): due installments of active plans with an active
   method, ``FOR UPDATE OF plan_installments SKIP LOCKED`` on PostgreSQL. Each becomes
   ``processing`` with a pending payment whose gateway key is derived from the installment id
   and the attempt number, and a ``plan_charge_attempts`` row (UNIQUE installment + attempt).
2. **Charge** (no database lock held): the batch's cards in one
   :func:`~revcycle.gateway.base.charge_many` call (one transaction on the test gateway; one
   ``authorize`` per card on a gateway without a batch call); bank methods through
   :func:`_charge_method` -- the one dispatch point per method kind: ``card`` (authorise +
   capture) or ``bank`` (an ACH debit that answers ``processing``).
3. **Apply** (one transaction per batch, :func:`_process_batch`; lock order plan ->
   installments -> payment -> patient -> invoices): approved card charges settled together by
   :mod:`revcycle.plans.autopay_settle` (the same rows as one at a time, one statement per
   table); every other outcome as alone (:func:`_apply`): the ledger entry via
   payments.card.apply_outcome, then the installment (paid / retry / stop and ask for a new
   method) and a notification per decline. A bank debit leaves the payment pending (no entry)
   and the attempt and installment ``processing``.
4. **Bank sync** (:func:`sync_bank`, at the start of every run): once the debit settled (the
   payment is posted by payments.bank on the webhook or the poll) the installment is paid; a
   return before settlement is a decline; a return after settlement re-opens the installment and
   is handled as a decline too (docs/payment-plans.md, "Autopay by bank debit").

A crash or a gateway timeout leaves the attempt pending; the next run resumes it with the same
key, so the gateway answers with the same charge: never two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.errors import DomainError
from revcycle.gateway.base import (
    BankDebitGateway,
    Charge,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayError,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentGateway,
    charge_many,
)
from revcycle.kit import gcpause
from revcycle.kit.clock import today, utcnow
from revcycle.kit.ids import uuid7
from revcycle.payments import bank, card
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.plans import autopay_settle as settle
from revcycle.plans import calc, errors
from revcycle.plans import service as plans
from revcycle.plans.models import PaymentPlan, PlanChargeAttempt, PlanInstallment
from revcycle.plans.repository import PlanRepository

log = logging.getLogger("revcycle.plans")

ACTOR = Principal.system(username="autopay")
STALE_AFTER = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class PendingPayment:
    """What the charge and its outcome need of a claimed attempt's payment, as it was when
    claimed (a plain copy: a claim of hundreds builds no ORM objects)."""

    id: uuid.UUID
    method: str
    amount_minor: int
    currency: str
    gateway_idempotency_key: str | None
    status: str

    @classmethod
    def of(cls, p: Payment) -> PendingPayment:
        return cls(p.id, p.method, p.amount_minor, p.currency, p.gateway_idempotency_key, p.status)


@dataclass(frozen=True, slots=True)
class Claimed:
    attempt_id: uuid.UUID
    plan_id: uuid.UUID
    installment_id: uuid.UUID | None
    payment: PendingPayment
    kind: str
    token: str


def charge_key(installment_id: uuid.UUID, attempt: int) -> str:
    """The gateway idempotency key of one autopay attempt: a retry of the same attempt (after a
    crash, by another worker) gets the same charge back."""
    raw = f"plan-installment:{installment_id}:{attempt}".encode()
    return "rc_plan_" + hashlib.sha256(raw).hexdigest()[:48]


def _charge_method(
    gateway: PaymentGateway, kind: str, token: str, payment: PendingPayment
) -> Charge:
    """THE dispatch point per stored-method kind. ``card``: authorise + capture through the card
    gateway, exactly as card payments do. ``bank`` (ACH ``btok_``): a debit through the same
    ``BankDebitGateway.debit`` as bank payments (payments/bank.py), answering ``processing``."""
    if kind == "card":
        return card._charge(gateway, payment, token)  # noqa: SLF001 - the shared card path
    if kind == "bank":
        if not isinstance(gateway, BankDebitGateway):
            raise GatewayRefused("The gateway takes no bank debits", code="bank_debits_unsupported")
        return gateway.debit(
            token,
            payment.amount_minor,
            payment.currency,
            payment.gateway_idempotency_key or "",
            {"payment_id": str(payment.id)},
        )
    raise GatewayRefused(f"{kind} debits are not supported", code="method_kind_unsupported")


def _payment_method(kind: str) -> str:
    """The payment row's ``method`` for a stored method's kind."""
    return bank.METHOD if kind == "bank" else "card"


def _pending_payment(
    plan: PaymentPlan,
    amount_minor: int,
    key: str,
    provider: str,
    on: dt.date,
    reference: str,
    wanted: dict[uuid.UUID, int],
    created_by: uuid.UUID | None,
    method: str = "card",
) -> Payment:
    return Payment(
        id=uuid7(),
        practice_id=plan.practice_id,
        patient_id=plan.patient_id,
        method=method,
        amount_minor=amount_minor,
        currency=plan.currency,
        received_on=on,
        reference=reference,
        unapplied_minor=0,
        created_by=created_by,
        status=card.PENDING,
        gateway_provider=provider,
        gateway_idempotency_key=key,
        allocation_request=json.dumps([[str(i), m] for i, m in wanted.items()]),
    )


def _attempt_audit(s: Session, actor: Principal, payment: Payment) -> None:
    audit.record(
        s,
        actor,
        "payment:bank_attempt" if payment.method == bank.METHOD else "payment:card_attempt",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["amount", "method"],
    )


def _claim(
    factory: sessionmaker[Session], gateway: PaymentGateway, on: dt.date, limit: int
) -> list[Claimed]:
    """One transaction: lock a batch of due installments (SKIP LOCKED), then for each a pending
    payment with its gateway key and a pending attempt. Set-based: the allocation requests of
    the whole batch take two queries, the installments one UPDATE, the payments and attempts
    one bulk INSERT each (COPY on PostgreSQL); no ORM object is built."""
    out: list[Claimed] = []
    with unit_of_work(factory) as s:
        repo = PlanRepository(s)
        due = repo.claim_due(on=on, limit=limit)
        if not due:
            return out
        requests = plans.allocation_requests_for(
            s, [(d.plan_id, d.amount_minor - d.paid_minor) for d in due]
        )
        repo.mark_processing([d.id for d in due])
        now = utcnow()
        payments: list[dict[str, object]] = []
        attempts: list[dict[str, object]] = []
        provider = gateway.provider
        for d, wanted in zip(due, requests, strict=True):
            attempt_no = d.attempts + 1
            key = charge_key(d.id, attempt_no)
            method = _payment_method(d.kind)
            amount = d.amount_minor - d.paid_minor
            payment_id, attempt_id = uuid7(), uuid7()
            payments.append(
                {
                    "id": payment_id,
                    "practice_id": d.practice_id,
                    "patient_id": d.patient_id,
                    "method": method,
                    "amount_minor": amount,
                    "currency": d.currency,
                    "received_on": on,
                    "reference": f"plan installment {d.seq}",
                    "unapplied_minor": 0,
                    "created_by": None,
                    "status": card.PENDING,
                    "gateway_provider": provider,
                    "gateway_idempotency_key": key,
                    "allocation_request": json.dumps([[str(i), m] for i, m in wanted.items()]),
                    "created_at": now,
                }
            )
            attempts.append(
                {
                    "id": attempt_id,
                    "plan_id": d.plan_id,
                    "installment_id": d.id,
                    "attempt": attempt_no,
                    "purpose": "autopay",
                    "method_id": d.method_id,
                    "payment_id": payment_id,
                    "status": "pending",
                    "decline_code": None,
                    "created_at": now,
                }
            )
            audit.record(
                s,
                ACTOR,
                "payment:bank_attempt" if method == bank.METHOD else "payment:card_attempt",
                object_type="payment",
                object_id=payment_id,
                practice_id=d.practice_id,
                fields=["amount", "method"],
            )
            out.append(
                Claimed(
                    attempt_id,
                    d.plan_id,
                    d.id,
                    PendingPayment(payment_id, method, amount, d.currency, key, card.PENDING),
                    d.kind,
                    d.token,
                )
            )
        PaymentRepository(s).insert_many(payments)
        repo.insert_attempts(attempts)
    return out


def _resumable(factory: sessionmaker[Session], now: dt.datetime, limit: int) -> list[Claimed]:
    out = []
    with unit_of_work(factory) as s:
        for attempt in PlanRepository(s).claim_stale(started_before=now - STALE_AFTER, limit=limit):
            payment = PaymentRepository(s).get(attempt.payment_id)
            method = s.get(StoredPaymentMethod, attempt.method_id)
            assert payment is not None and method is not None
            out.append(
                Claimed(
                    attempt.id,
                    attempt.plan_id,
                    attempt.installment_id,
                    PendingPayment.of(payment),
                    method.kind,
                    method.token,
                )
            )
    return out


PROCESSING = "processing"  # a bank debit submitted, not settled yet
RETURNED = "returned"  # a bank debit returned (before or after settlement)


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | declined | failed | pending | processing (bank) | returned (bank)
    decline_code: str | None = None


def _apply(
    s: Session,
    actor: Principal,
    c: Claimed,
    charge: Charge | None,
    refused: str | None,
    settings: Settings,
    on: dt.date,
    payoff: bool = False,
) -> Outcome:
    repo = PlanRepository(s)
    plan = repo.get_for_update(c.plan_id)
    assert plan is not None
    installments = repo.installments(plan.id, lock=True)
    attempt = s.scalar(
        select(PlanChargeAttempt)
        .where(PlanChargeAttempt.id == c.attempt_id)
        .execution_options(populate_existing=True)
    )
    assert attempt is not None
    payments = PaymentRepository(s)
    if attempt.status != "pending":  # another worker finished it
        payment = payments.get(c.payment.id)
        assert payment is not None
        return Outcome(attempt.status, payment.decline_code)
    if refused is not None:
        payment = payments.lock_gateway_payment(c.payment.id)
        assert payment is not None
        if payment.status == card.PENDING:
            payment.status, payment.decline_code = card.FAILED, refused
        status = card.FAILED
    elif charge is not None and c.payment.method == bank.METHOD:
        status = bank.apply_bank_outcome(s, actor, c.payment.id, charge)
        if status == bank.PENDING:
            # The debit is submitted and settles in days: the installment stays ``processing``
            # (not claimable, no desk payment on the plan) until sync_bank sees the outcome.
            attempt.status = PROCESSING
            s.flush()
            return Outcome(PROCESSING)
    elif charge is not None:
        status = card.apply_outcome(s, actor, c.payment.id, charge)
    else:
        p = payments.get(c.payment.id)
        assert p is not None
        status = p.status
    payment = payments.get(c.payment.id)
    assert payment is not None
    if status == card.PENDING:
        return Outcome(card.PENDING)
    attempt.status = status
    attempt.decline_code = payment.decline_code
    inst = next((i for i in installments if i.id == c.installment_id), None)
    if status == card.SUCCEEDED:
        plans.settle(s, actor, plan, installments, payment, payoff=payoff, target=inst)
        return Outcome(status)
    code = payment.return_code or payment.decline_code or "declined"
    if inst is not None:
        _declined(s, actor, plan, inst, attempt, code, settings, on)
    else:
        plans.record_event(
            s,
            actor,
            plan,
            "payoff_declined",
            decline_code=code,
            payment_id=str(payment.id),
        )
    s.flush()
    return Outcome(status, code)


def _declined(
    s: Session,
    actor: Principal,
    plan: PaymentPlan,
    inst: PlanInstallment,
    attempt: PlanChargeAttempt,
    code: str,
    settings: Settings,
    on: dt.date,
) -> None:
    inst.status = "scheduled"
    inst.last_decline_code = code
    if calc.is_hard_decline(code):
        # Retrying will not help (expired, stolen, authentication needed): stop autopay on the
        # plan and ask the patient for another method.
        plans.record_event(
            s,
            actor,
            plan,
            "installment_declined",
            seq=inst.seq,
            decline_code=code,
            hard=True,
            next_attempt_on=None,
        )
        if plan.method_id is not None:
            plans.detach_method(s, actor, plan.method_id, f"hard decline: {code}")
        inst.next_attempt_on = None
        plans.notify(
            s,
            plan,
            "plan.payment_method_update_needed",
            f"hard:{attempt.id}",
            seq=inst.seq,
            decline_code=code,
            amount_minor=inst.amount_minor - inst.paid_minor,
            currency=inst.currency,
        )
        return
    retries = calc.retry_dates(inst.due_date, calc.parse_retry_days(settings.plan_retry_days))
    index = inst.attempts - 1
    nxt = retries[index] if index < len(retries) else None
    if nxt is not None:
        nxt = max(nxt, on + dt.timedelta(days=1))
    inst.next_attempt_on = nxt
    plans.record_event(
        s,
        actor,
        plan,
        "installment_declined",
        seq=inst.seq,
        decline_code=code,
        hard=False,
        next_attempt_on=nxt.isoformat() if nxt else None,
    )
    plans.notify(
        s,
        plan,
        "plan.installment_declined",
        f"decline:{attempt.id}",
        seq=inst.seq,
        decline_code=code,
        due_date=inst.due_date.isoformat(),
        amount_minor=inst.amount_minor - inst.paid_minor,
        currency=inst.currency,
        next_retry_on=nxt.isoformat() if nxt else None,
    )


def _process(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    c: Claimed,
    settings: Settings,
    on: dt.date,
    actor: Principal = ACTOR,
    payoff: bool = False,
) -> Outcome:
    charge: Charge | None = None
    refused: str | None = None
    if c.payment.status == card.PENDING:
        try:
            charge = _charge_method(gateway, c.kind, c.token, c.payment)
        except GatewayTimeout:
            return Outcome(card.PENDING)  # resumed by the next run with the same key
        except GatewayUnavailable:
            _release(factory, c)
            raise
        except GatewayRefused as exc:
            refused = exc.code
    with unit_of_work(factory) as s:
        return _apply(s, actor, c, charge, refused, settings, on, payoff)


def _process_batch(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    claimed: list[Claimed],
    settings: Settings,
    on: dt.date,
) -> tuple[int, bool]:
    """Charge a claimed batch (the cards in one :func:`_charge_cards` call, no lock held), then
    apply every answer in ONE transaction: :meth:`PlanRepository.lock_batch` takes the locks
    class by class in the documented order first, then the approved card charges are settled
    together (:func:`revcycle.plans.autopay_settle.settle_approved`) and every other outcome is
    applied exactly as alone (:func:`_apply`). One commit and one audit seal per batch.

    Exactly-once and crash safety are unchanged: every attempt was committed ``pending`` with
    its own gateway key before any charge, so a crash anywhere here leaves pending attempts that
    the next run resumes with the same key (the gateway answers with the same charge). If the
    batch transaction fails, the outcomes are applied one transaction each instead, so one bad
    outcome does not hold back the others. A timeout leaves that attempt pending;
    ``GatewayUnavailable`` releases the current one and stops the run (the rest of the batch is
    resumed later, like any stale pending attempt).
    Returns (charges attempted, gateway unavailable)."""
    answers: list[tuple[Claimed, Charge | None, str | None]] = []
    attempted, unavailable = 0, False
    batched = _charge_cards(gateway, claimed)
    for c in claimed:
        charge: Charge | None = None
        refused: str | None = None
        if c.attempt_id in batched:
            result = batched[c.attempt_id]
            if isinstance(result, GatewayTimeout):
                attempted += 1
                continue  # resumed by the next run with the same key
            if isinstance(result, GatewayUnavailable):
                _release(factory, c)  # nothing was sent for it
                unavailable = True
                continue
            if isinstance(result, GatewayRefused):
                refused = result.code
            elif isinstance(result, Exception):
                raise result
            else:
                charge = result
        elif unavailable:
            break  # not sent: resumed later like any stale pending attempt
        elif c.payment.status == card.PENDING:
            try:
                charge = _charge_method(gateway, c.kind, c.token, c.payment)
            except GatewayTimeout:
                attempted += 1
                continue  # resumed by the next run with the same key
            except GatewayUnavailable:
                _release(factory, c)
                unavailable = True
                break
            except GatewayRefused as exc:
                refused = exc.code
        answers.append((c, charge, refused))
        attempted += 1
    if not answers:
        return attempted, unavailable
    try:
        with unit_of_work(factory) as s:
            PlanRepository(s).lock_batch(
                [c.plan_id for c, _, _ in answers], [c.payment.id for c, _, _ in answers]
            )
            bulk = {
                c.attempt_id: c
                for c, charge, refused in answers
                if charge is not None
                and refused is None
                and c.kind == "card"
                and c.installment_id is not None
                and settle.bulk_settleable(charge)
            }
            left = settle.settle_approved(
                s,
                ACTOR,
                [
                    settle.Approved(c.attempt_id, c.plan_id, c.installment_id, c.payment.id, ch)
                    for c, ch, _ in answers
                    if c.attempt_id in bulk and c.installment_id is not None and ch is not None
                ],
            )
            done = set(bulk) - {a.attempt_id for a in left}
            for c, charge, refused in answers:
                if c.attempt_id not in done:
                    _apply(s, ACTOR, c, charge, refused, settings, on)
    except (DomainError, SQLAlchemyError):
        log.warning("autopay batch of %d not applied at once: one by one", len(answers))
        for c, charge, refused in answers:
            with unit_of_work(factory) as s:
                _apply(s, ACTOR, c, charge, refused, settings, on)
    return attempted, unavailable


def _charge_cards(gateway: PaymentGateway, claimed: list[Claimed]) -> dict[uuid.UUID, ChargeResult]:
    """Authorise and capture every pending card attempt of a claimed batch in one
    :func:`~revcycle.gateway.base.charge_many` call (one transaction on the test gateway; one
    call per charge on a gateway without a batch API). attempt id -> the gateway's answer. A
    replayed key answering a charge authorised but not captured is captured here, as
    ``payments.card._charge`` does."""
    todo = [c for c in claimed if c.kind == "card" and c.payment.status == card.PENDING]
    if not todo:
        return {}
    results = charge_many(
        gateway,
        [
            ChargeRequest(
                c.token,
                c.payment.amount_minor,
                c.payment.currency,
                c.payment.gateway_idempotency_key or "",
                {"payment_id": str(c.payment.id)},
            )
            for c in todo
        ],
    )
    out: dict[uuid.UUID, ChargeResult] = {}
    for c, result in zip(todo, results, strict=True):
        if (
            isinstance(result, Charge)
            and result.status is ChargeStatus.SUCCEEDED
            and not result.captured
            and not result.voided
        ):
            try:
                result = gateway.capture(result.id)
            except GatewayError as exc:
                result = exc
        out[c.attempt_id] = result
    return out


def _release(factory: sessionmaker[Session], c: Claimed) -> None:
    """The gateway refused to take the call (nothing happened): the attempt fails as
    ``gateway_unavailable`` and the installment is due again on the next run."""
    with unit_of_work(factory) as s:
        repo = PlanRepository(s)
        plan = repo.get_for_update(c.plan_id)
        assert plan is not None
        installments = repo.installments(plan.id, lock=True)
        attempt = s.get(PlanChargeAttempt, c.attempt_id)
        payment = PaymentRepository(s).lock_gateway_payment(c.payment.id)
        assert attempt is not None and payment is not None
        if attempt.status != "pending":
            return
        attempt.status = payment.status = card.FAILED
        attempt.decline_code = payment.decline_code = "gateway_unavailable"
        for inst in installments:
            if inst.id == c.installment_id and inst.status == "processing":
                inst.status = "scheduled"


# --- bank debits: the outcome arrives days later ------------------------------------------------


def _reopen(
    s: Session,
    actor: Principal,
    plan: PaymentPlan,
    inst: PlanInstallment,
    payment: Payment,
) -> None:
    """A settled debit that paid ``inst`` came back: take its money off the installment (the
    ledger side is payments.bank.return_settled) and, when it had completed the plan, make the
    plan active again with its invoices back in plan (those no other plan took meanwhile)."""
    inst.paid_minor = max(0, inst.paid_minor - payment.amount_minor)
    inst.status = "scheduled"
    inst.updated_at = utcnow()
    reopened = plan.status == "completed"
    if reopened:
        plan.status = "active"
        plan.ended_at = None
        links = PlanRepository(s).invoices(plan.id)
        held = plans.invoices_in_plan(s, [link.invoice_id for link in links])
        for link in links:
            if link.invoice_id not in held:
                link.in_plan = True
    s.flush()
    plans.record_event(
        s,
        actor,
        plan,
        "payment_returned",
        seq=inst.seq,
        payment_id=str(payment.id),
        amount_minor=payment.amount_minor,
        return_code=payment.return_code,
        plan_reopened=reopened,
    )


def _sync_one(
    s: Session,
    actor: Principal,
    attempt_id: uuid.UUID,
    plan_id: uuid.UUID,
    settings: Settings,
    on: dt.date,
) -> str | None:
    repo = PlanRepository(s)
    plan = repo.get_for_update(plan_id)
    assert plan is not None
    installments = repo.installments(plan.id, lock=True)
    attempt = s.scalar(
        select(PlanChargeAttempt)
        .where(PlanChargeAttempt.id == attempt_id)
        .execution_options(populate_existing=True)
    )
    assert attempt is not None
    payment = PaymentRepository(s).lock_gateway_payment(attempt.payment_id)
    assert payment is not None
    inst = next((i for i in installments if i.id == attempt.installment_id), None)
    assert inst is not None
    before = attempt.status
    if before == PROCESSING and payment.status == bank.SUCCEEDED:
        attempt.status = card.SUCCEEDED
        plans.settle(s, actor, plan, installments, payment, target=inst)
    elif before == PROCESSING and payment.status in (bank.RETURNED, bank.FAILED):
        # Returned before it was counted (or, if the settlement was never seen here, after: the
        # ledger then holds the payment and its exact reversal): a declined installment.
        attempt.status = RETURNED if payment.status == bank.RETURNED else card.FAILED
        attempt.decline_code = payment.return_code or payment.decline_code
        _bank_declined(s, actor, plan, inst, attempt, settings, on)
    elif before == card.SUCCEEDED and payment.status == bank.RETURNED:
        attempt.status = RETURNED
        attempt.decline_code = payment.return_code
        _reopen(s, actor, plan, inst, payment)
        _bank_declined(s, actor, plan, inst, attempt, settings, on)
    else:
        return None  # another worker did it
    s.flush()
    return attempt.status


def _bank_declined(
    s: Session,
    actor: Principal,
    plan: PaymentPlan,
    inst: PlanInstallment,
    attempt: PlanChargeAttempt,
    settings: Settings,
    on: dt.date,
) -> None:
    code = attempt.decline_code or "declined"
    if plan.status == "active":
        _declined(s, actor, plan, inst, attempt, code, settings, on)
    else:
        # cancelled / defaulted / paid off meanwhile: nothing is charged again
        inst.status = "scheduled"
        inst.last_decline_code = code
        inst.next_attempt_on = None
        plans.record_event(
            s, actor, plan, "installment_declined", seq=inst.seq, decline_code=code, hard=False
        )


def sync_bank(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    *,
    actor: Principal = ACTOR,
    limit: int = 500,
) -> dict[str, int]:
    """Carry bank-debit outcomes (applied to the payments by payments.bank: webhook or poll) to
    the installments they pay: one transaction per attempt under plan -> installments -> payment
    locks, re-checked after locking, so concurrent workers apply each outcome once. Returns
    counts per new attempt status."""
    on = now.date()
    counts: dict[str, int] = {}
    with unit_of_work(factory) as s:
        todo = PlanRepository(s).bank_attempts_to_sync(limit=limit)
    for attempt_id, plan_id in todo:
        with unit_of_work(factory) as s:
            status = _sync_one(s, actor, attempt_id, plan_id, settings, on)
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
    return counts


def run_once(
    factory: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    *,
    gateway: PaymentGateway | None = None,
) -> int:
    """Charge everything due on ``now``'s date (in batches of ``autopay_batch_size``), after
    resuming attempts left pending by a crash or a timeout. Returns the charges attempted."""
    if gateway is None:
        from revcycle.gateway.factory import build_gateway

        gateway = build_gateway(settings, factory)
    on = now.date()
    done = 0
    sync_bank(factory, settings, now)
    try:
        for c in _resumable(factory, now, settings.autopay_batch_size):
            _process(factory, gateway, c, settings, on)
            done += 1
        while True:
            # a batch allocates many short-lived rows and no cycles: no collector passes in it
            with gcpause.paused():
                claimed = _claim(factory, gateway, on, settings.autopay_batch_size)
                if not claimed:
                    break
                n, unavailable = _process_batch(factory, gateway, claimed, settings, on)
            done += n
            if unavailable:
                break  # nothing was charged for the current one; the next run tries again
    except GatewayUnavailable:
        pass  # nothing was charged for the current one; the next run tries again
    return done


def run_missed(factory: sessionmaker[Session], settings: Settings, now: dt.datetime) -> int:
    """The ``plans.missed`` task: installments past grace -> missed; too many -> default."""
    on = now.date()
    cutoff = on - dt.timedelta(days=settings.plan_grace_days)
    with unit_of_work(factory) as s:
        plan_ids = PlanRepository(s).plans_with_overdue(due_before=cutoff, limit=1000)
    total = 0
    for plan_id in plan_ids:
        with unit_of_work(factory) as s:
            total += plans.sweep_missed(
                s,
                ACTOR,
                plan_id,
                on=on,
                grace_days=settings.plan_grace_days,
                default_after=settings.plan_default_after_missed,
            )
    return total


# --- early payoff from a stored card -----------------------------------------------------------


def payoff_with_method(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    settings: Settings,
    actor: Principal,
    plan_id: uuid.UUID,
    method_id: uuid.UUID,
    *,
    idempotency_key: str,
) -> tuple[plans.PlanView, Outcome]:
    key = card.gateway_key(actor.user_id, idempotency_key)
    with unit_of_work(factory) as s:
        existing = PaymentRepository(s).by_gateway_key(key)
        if existing is None:
            actor.require(Action.PAYMENT_RECORD)
            plan = plans.access_plan(s, actor, plan_id, Action.PLAN_WRITE, lock=True)
            installments = plans.open_for_money(s, plan)
            method = plans.usable_method(s, actor, plan, method_id)
            if method.kind != "card":
                # A bank debit settles days later (or comes back): a payoff must be final now.
                raise errors.MethodNotUsable("An early payoff from a stored method needs a card")
            left = plans.remaining(plan, installments)
            on = today()
            wanted = {i: m.amount_minor for i, m in plans.allocation_request(s, plan, left).items()}
            payment = _pending_payment(
                plan, left, key, gateway.provider, on, "plan payoff", wanted, actor.user_id
            )
            s.add(payment)
            attempt = PlanChargeAttempt(
                id=uuid7(),
                plan_id=plan.id,
                installment_id=None,
                attempt=1,
                purpose="payoff",
                method_id=method.id,
                payment_id=payment.id,
                status="pending",
            )
            s.add(attempt)
            s.flush()
            _attempt_audit(s, actor, payment)
            c = Claimed(
                attempt.id, plan.id, None, PendingPayment.of(payment), method.kind, method.token
            )
        else:
            attempt_row = PlanRepository(s).attempt_for_payment(existing.id)
            assert attempt_row is not None
            plans.access_plan(s, actor, attempt_row.plan_id, Action.PLAN_WRITE)
            m = s.get(StoredPaymentMethod, attempt_row.method_id)
            assert m is not None
            c = Claimed(
                attempt_row.id,
                attempt_row.plan_id,
                None,
                PendingPayment.of(existing),
                m.kind,
                m.token,
            )
            on = existing.received_on
    try:
        outcome = _process(factory, gateway, c, settings, on, actor=actor, payoff=True)
    except GatewayUnavailable:
        raise errors.MethodNotUsable(
            "The payment gateway is unavailable; try again later",
            code="payment.gateway_unavailable",
            status=503,
        ) from None
    with unit_of_work(factory) as s:
        plan_row = PlanRepository(s).get(c.plan_id)
        assert plan_row is not None
        return plans.view(s, plan_row), outcome
