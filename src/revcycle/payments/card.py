"""Card payments through the payment gateway: a short saga around the gateway call.

1. One transaction checks the request (patient, currency, amount, allocations against balances)
   and records the payment as ``pending`` with the key revcycle will send to the gateway. No
   ledger entry yet. It commits before the gateway is called: no database lock is held across a
   network call, and a crash after the charge still leaves a row that knows how to find it.
2. The gateway authorises and captures (same key -> same charge, never two).
3. One transaction applies the outcome under the payment's row lock: captured -> the ledger
   entry (card clearing), allocations, ``succeeded``; declined -> ``declined`` with its code
   (kept: card-testing and velocity rules need declined attempts); timeout -> stays ``pending``
   for :func:`recover_pending` or the gateway's webhook, whichever comes first (the row lock and
   the status check make the second a no-op).

Lock order inside step 3: payment -> patient -> invoices (by id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.errors import InvalidInput
from revcycle.fraud import addresses as fraud_addresses
from revcycle.fraud import screen as fraud
from revcycle.gateway.base import (
    Charge,
    ChargeStatus,
    DeclineCode,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentGateway,
)
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.money import Money
from revcycle.payments import errors
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.payments.schemas import PaymentCreate

log = logging.getLogger("revcycle.payments")

PENDING, SUCCEEDED, DECLINED, FAILED = "pending", "succeeded", "declined", "failed"
REQUIRES_ACTION = "requires_action"  # 3-D Secure: waiting for the cardholder (next_action_url)
UNRESOLVED = frozenset({PENDING, REQUIRES_ACTION})  # the gateway's outcome is still to come


@dataclass(frozen=True)
class CardOutcome:
    view: payments.PaymentView
    declined: bool = False


def gateway_key(user_id: uuid.UUID | None, idempotency_key: str) -> str:
    """The key sent to the gateway: the caller's Idempotency-Key scoped to the caller."""
    raw = f"{user_id}:{idempotency_key}".encode()
    return "rc_" + hashlib.sha256(raw).hexdigest()[:48]


def _view(session: Session, payment: Payment) -> payments.PaymentView:
    allocations = PaymentRepository(session).allocations([payment.id])[payment.id]
    return payments.PaymentView(payment, allocations)


def record_pending(
    session: Session,
    actor: Principal,
    data: PaymentCreate,
    *,
    key: str,
    provider: str,
    fingerprint: str | None,
) -> Payment:
    """Check the request as any payment (access, currency, amount, date, allocations against
    balances) and record it ``pending`` before the charge, then screen it (the fraud rules may
    refuse it). The same ``key`` again returns the payment it recorded."""
    existing = PaymentRepository(session).by_gateway_key(key)
    if existing is not None:
        payments.access_payment(session, actor, existing.id)
        return existing
    prep = payments.prepare(session, actor, data)
    wanted = payments.wanted_allocations(data, prep.amount.currency)
    # Refuse now what would be refused later: nothing is charged for a request we can't apply.
    payments.plan_allocations(session, prep, wanted)
    payment = Payment(
        id=uuid7(),
        practice_id=prep.practice_id,
        patient_id=prep.patient_id,
        method="card",
        amount_minor=prep.amount.amount_minor,
        currency=prep.amount.currency,
        received_on=prep.received_on,
        reference=data.reference,
        unapplied_minor=0,
        created_by=actor.user_id,
        status=PENDING,
        gateway_provider=provider,
        gateway_idempotency_key=key,
        card_fingerprint=fingerprint,
        client_addr_bidx=fraud_addresses.digest(actor.client_addr),
        allocation_request=None
        if wanted is None
        else json.dumps([[str(i), m.amount_minor] for i, m in wanted.items()]),
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        "payment:card_attempt",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["amount", "method"],
    )
    fraud.screen_payment(session, actor, payment)  # before the charge: may refuse it
    return payment


def _start(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    data: PaymentCreate,
    key: str,
) -> Payment:
    fingerprint = gateway.card_fingerprint(data.token or "")  # for the fraud rules
    with unit_of_work(factory) as s:
        return record_pending(
            s, actor, data, key=key, provider=gateway.provider, fingerprint=fingerprint
        )


class Chargeable(Protocol):
    """What a card charge needs of its pending payment (a ``Payment`` row, or the autopay
    claim's plain copy of it)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def gateway_idempotency_key(self) -> str | None: ...


def _charge(gateway: PaymentGateway, payment: Chargeable, token: str) -> Charge:
    """Authorise and capture in one gateway call (``capture=True``). A replayed key may answer a
    charge authorised but not captured (a call made before one-step capture, or a gateway that
    ignored it): it is captured here, as before."""
    charge = gateway.authorize(
        token,
        payment.amount_minor,
        payment.currency,
        payment.gateway_idempotency_key or "",
        {"payment_id": str(payment.id)},
        capture=True,
    )
    if charge.status is ChargeStatus.SUCCEEDED and not charge.captured and not charge.voided:
        charge = gateway.capture(charge.id)
    return charge


def apply_outcome(session: Session, actor: Principal, payment_id: uuid.UUID, charge: Charge) -> str:
    """Apply what the gateway says about a pending payment's charge. Returns the payment's
    status afterwards; a payment no longer pending is left as it is (already applied)."""
    return _apply_outcome(session, actor, payment_id, charge)[0]


def _apply_outcome(
    session: Session, actor: Principal, payment_id: uuid.UUID, charge: Charge
) -> tuple[str, payments.PaymentView | None]:
    """:func:`apply_outcome`, also answering the payment's view when this call settled it (the
    allocations it just wrote; no outcome -> no allocations), else None (read it)."""
    repo = PaymentRepository(session)
    payment = repo.lock_gateway_payment(payment_id)
    assert payment is not None
    if payment.status not in UNRESOLVED:
        return payment.status, None
    if charge.card is not None:
        payment.card_brand = charge.card.brand
        payment.card_last4 = charge.card.last4
        payment.card_exp_month = charge.card.exp_month
        payment.card_exp_year = charge.card.exp_year
    payment.gateway_charge_id = charge.id
    if charge.status is ChargeStatus.SUCCEEDED and charge.captured:
        if charge.captured_minor != payment.amount_minor:
            # Never happens with our own calls (full capture); refuse to guess.
            raise InvalidInput("The captured amount differs", code="payment.capture_mismatch")
        prep = payments.Prepared(
            payment.patient_id,
            payment.practice_id,
            Money(payment.amount_minor, payment.currency),
            payment.received_on,
        )
        wanted = None
        if payment.allocation_request is not None:
            wanted = {
                uuid.UUID(i): Money(m, payment.currency)
                for i, m in json.loads(payment.allocation_request)
            }
        plan = payments.plan_allocations(session, prep, wanted, clip=True)
        payment.status = SUCCEEDED
        payment.next_action_url = None
        allocations = payments.post_payment(session, actor, payment, plan)
        return SUCCEEDED, payments.PaymentView(payment, allocations)
    if charge.status is ChargeStatus.DECLINED:
        # An abandoned 3-D Secure check failed (nobody declined it); the rest are declines.
        expired = charge.decline_code is DeclineCode.AUTHENTICATION_EXPIRED
        payment.status = FAILED if expired else DECLINED
        payment.decline_code = charge.decline_code.value if charge.decline_code else None
        payment.next_action_url = None
    elif charge.status is ChargeStatus.REQUIRES_ACTION:
        if payment.status == REQUIRES_ACTION:
            return REQUIRES_ACTION, None  # still waiting for the cardholder
        payment.status = REQUIRES_ACTION
        payment.next_action_url = charge.next_action_url
    elif charge.voided or charge.status is ChargeStatus.SUCCEEDED:
        payment.status = FAILED  # authorised but voided before capture
        payment.decline_code = "voided"
    else:
        return PENDING, None
    session.flush()
    audit.record(
        session,
        actor,
        f"payment:card_{payment.status}",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["status"],
    )
    # declined / failed / waiting for 3-D Secure: no entry, so no allocations
    return payment.status, payments.PaymentView(payment, [])


def _finish(
    factory: sessionmaker[Session], actor: Principal, payment_id: uuid.UUID, charge: Charge
) -> payments.PaymentView:
    with unit_of_work(factory) as s:
        _, view = _apply_outcome(s, actor, payment_id, charge)
        if view is not None:
            # built from what was just written: nothing is read after the receipt number
            return view
        payment = PaymentRepository(s).get(payment_id)
        assert payment is not None
        return _view(s, payment)


def _mark_failed(factory: sessionmaker[Session], payment_id: uuid.UUID, code: str) -> None:
    with unit_of_work(factory) as s:
        payment = PaymentRepository(s).lock_gateway_payment(payment_id)
        if payment is not None and payment.status in UNRESOLVED:
            payment.status = FAILED
            payment.decline_code = code


def take_card_payment(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    data: PaymentCreate,
    *,
    idempotency_key: str,
) -> CardOutcome:
    assert data.token is not None
    key = gateway_key(actor.user_id, idempotency_key)
    payment = _start(factory, gateway, actor, data, key)
    if payment.status != PENDING:  # a retry after the outcome was applied (e.g. after a crash)
        with unit_of_work(factory) as s:
            return CardOutcome(_view(s, payment), declined=payment.status == DECLINED)
    try:
        charge = _charge(gateway, payment, data.token)
    except GatewayTimeout:
        # The charge may exist: keep the payment pending for recover_pending / the webhook.
        log.warning("gateway timeout for payment %s: left pending", payment.id)
        with unit_of_work(factory) as s:
            return CardOutcome(_view(s, payment))
    except GatewayUnavailable:
        _mark_failed(factory, payment.id, "gateway_unavailable")
        raise errors.GatewayUnavailable(
            "The payment gateway is unavailable; try again later"
        ) from None
    except GatewayRefused as exc:
        _mark_failed(factory, payment.id, exc.code)
        raise InvalidInput(
            "The gateway refused this token", code="payment.token_refused", gateway_code=exc.code
        ) from None
    view = _finish(factory, actor, payment.id, charge)
    return CardOutcome(view, declined=view.payment.status == DECLINED)


def recover_pending(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    *,
    older_than: dt.timedelta = dt.timedelta(seconds=60),
    limit: int = 100,
) -> dict[str, int]:
    """Resolve pending card payments by asking the gateway (the worker's job; for now
    ``revcycle gateway recover-pending``). Only payments older than ``older_than`` are taken, so
    a request still in flight is left alone. Returns counts per resulting status."""
    actor = Principal.system(username="gateway-recovery")
    with unit_of_work(factory) as s:
        pending = [
            (p.id, p.gateway_charge_id, p.gateway_idempotency_key)
            for p in PaymentRepository(s).pending_gateway(
                created_before=utcnow() - older_than, limit=limit
            )
        ]
    counts: dict[str, int] = {}
    for payment_id, charge_id, key in pending:
        try:
            if charge_id is not None:
                found: Charge | None = gateway.retrieve(charge_id)
            else:
                found = gateway.find_by_idempotency_key(key or "")
            if found is None:
                # The authorisation never reached the gateway: nothing was charged.
                _mark_failed(factory, payment_id, "not_charged")
                status = FAILED
            else:
                if found.status is ChargeStatus.SUCCEEDED and not found.captured:
                    found = gateway.capture(found.id) if not found.voided else found
                with unit_of_work(factory) as s:
                    status = apply_outcome(s, actor, payment_id, found)
        except (GatewayTimeout, GatewayUnavailable):
            status = PENDING  # try again next run
        counts[status] = counts.get(status, 0) + 1
    return counts
