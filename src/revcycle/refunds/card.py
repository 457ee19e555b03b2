"""Card refunds through the payment gateway: the same three phases as card payments.

1. Under the payment's row lock (a short transaction): every check other refunds get (scope,
   refundable amount, currency) and the refund recorded ``pending`` with its parts, which reserve
   the amount (a concurrent refund sees it as refunded). No ledger entry. Commit.
2. ``gateway.refund`` with a key derived from the request's Idempotency-Key (same key -> the same
   gateway refund, never two), no database lock held.
3. Lock again (patient -> payment -> refund -> invoices) and apply: succeeded -> the ledger
   entries (payout credits card clearing), invoices reopened, ``paid``; refused/failed -> ``failed``
   (no entry, the reservation released); timeout -> left ``pending`` for
   :func:`recover_pending_refunds` (``revcycle gateway recover-pending``).

Card refunds above the caller's refund limit are refused (``refund.card_over_limit``): approval
requests do not run gateway calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy.orm import Session, sessionmaker

from revcycle.approvals import gate
from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.gateway.base import (
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentGateway,
    RefundResult,
    RefundStatus,
)
from revcycle.invoices import service as invoices_service
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import utcnow
from revcycle.money import Money
from revcycle.patients.repository import PatientRepository
from revcycle.payments import errors as payment_errors
from revcycle.payments.card import gateway_key
from revcycle.payments.repository import PaymentRepository
from revcycle.receipts import service as receipts
from revcycle.refunds import errors, service
from revcycle.refunds.repository import FAILED, PAID, PENDING, RefundRepository
from revcycle.refunds.schemas import RefundCreate

log = logging.getLogger("revcycle.refunds")


def _view(session: Session, refund_id: uuid.UUID) -> service.RefundView:
    repo = RefundRepository(session)
    refund = repo.get(refund_id)
    assert refund is not None
    return service.RefundView(refund, repo.parts([refund.id])[refund.id])


def _start(
    factory: sessionmaker[Session],
    actor: Principal,
    payment_id: uuid.UUID,
    data: RefundCreate,
    *,
    key: str | None,
    limits: gate.Limits | None,
) -> tuple[uuid.UUID, str, int]:
    """Phase 1. Returns (refund id, the payment's charge id, amount)."""
    with unit_of_work(factory) as s:
        payment = service.check_request(s, actor, payment_id, key)
        assert key is not None
        existing = RefundRepository(s).by_gateway_key(key)
        if existing is None:
            amount = Money.parse(data.amount, payment.currency)
            plan = service.lock_and_plan(s, payment.id, amount, card=True)
            if gate.over_limit(limits, gate.REFUND, actor, amount) is not None:
                raise errors.CardOverLimit(
                    "Card refunds above your refund limit cannot be sent for approval; ask a "
                    "user whose limit covers it"
                )
            existing = service.record_refund(
                s,
                actor,
                plan,
                reason=data.reason,
                approval_request_id=None,
                status=PENDING,
                gateway_idempotency_key=key,
            ).refund
        assert payment.gateway_charge_id is not None  # a settled card payment has its charge
        return existing.id, payment.gateway_charge_id, existing.amount_minor


def apply_result(
    session: Session, actor: Principal, refund_id: uuid.UUID, result: RefundResult
) -> str:
    """Phase 3: apply the gateway's answer to a pending card refund. Returns its status; a
    refund no longer pending is left as it is (already applied)."""
    repo = RefundRepository(session)
    seen = repo.get(refund_id)
    assert seen is not None
    PatientRepository(session).get_for_update(seen.patient_id)
    payment = PaymentRepository(session).get_for_update(seen.payment_id)
    refund = repo.lock(refund_id)
    assert payment is not None and refund is not None
    if refund.status != PENDING or result.status is RefundStatus.PENDING:
        return refund.status
    refund.gateway_refund_id = result.id
    if result.status is RefundStatus.FAILED:
        refund.status, refund.failure_code = FAILED, "gateway_failed"
    else:
        parts = repo.parts([refund.id])[refund.id]
        invoice_ids = sorted(p.invoice_id for p in parts if p.invoice_id is not None)
        invoices = InvoiceRepository(session).lock_many(invoice_ids)
        refund.entry_id, refund.payout_entry_id = service.post_entries(
            session,
            actor,
            payment,
            refund.id,
            Money(refund.amount_minor, refund.currency),
            [(p.invoice_id, p.amount_minor) for p in parts],
        )
        refund.status = PAID
        session.flush()
        if invoices:
            invoices_service.refresh_statuses(session, list(invoices))
        receipts.assign_refund(session, refund)  # receipt number (card: no drawer)
    session.flush()
    audit.record(
        session,
        actor,
        f"payment:refund_{refund.status}",
        object_type="refund",
        object_id=refund.id,
        practice_id=refund.practice_id,
        fields=["status"],
        detail={"payment_id": str(refund.payment_id)},
    )
    return refund.status


def _mark_failed(
    factory: sessionmaker[Session], actor: Principal, refund_id: uuid.UUID, code: str
) -> None:
    with unit_of_work(factory) as s:
        refund = RefundRepository(s).lock(refund_id)
        if refund is not None and refund.status == PENDING:
            refund.status, refund.failure_code = FAILED, code
            audit.record(
                s,
                actor,
                "payment:refund_failed",
                object_type="refund",
                object_id=refund.id,
                practice_id=refund.practice_id,
                fields=["status"],
                detail={"payment_id": str(refund.payment_id), "code": code},
            )


def refund_card(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    payment_id: uuid.UUID,
    data: RefundCreate,
    *,
    idempotency_key: str | None,
    limits: gate.Limits | None,
) -> service.RefundView:
    key = (
        None if idempotency_key is None else gateway_key(actor.user_id, f"refund:{idempotency_key}")
    )
    refund_id, charge_id, amount_minor = _start(
        factory, actor, payment_id, data, key=key, limits=limits
    )
    with unit_of_work(factory) as s:
        view = _view(s, refund_id)
    if view.refund.status != PENDING:  # a retry after the outcome was applied
        return view
    assert key is not None
    try:
        result = gateway.refund(charge_id, amount_minor, key)
    except GatewayTimeout:
        log.warning("gateway timeout for refund %s: left pending", refund_id)
        return view
    except GatewayUnavailable:
        _mark_failed(factory, actor, refund_id, "gateway_unavailable")
        raise payment_errors.GatewayUnavailable(
            "The payment gateway is unavailable; try again later"
        ) from None
    except GatewayRefused as exc:
        _mark_failed(factory, actor, refund_id, exc.code)
        raise errors.GatewayRefused(
            "The payment gateway refused this refund; nothing was refunded",
            refund_id=str(refund_id),
            gateway_code=exc.code,
        ) from None
    with unit_of_work(factory) as s:
        status = apply_result(s, actor, refund_id, result)
        view = _view(s, refund_id)
    if status == FAILED:
        raise errors.GatewayRefused(
            "The payment gateway could not refund this card; nothing was refunded",
            refund_id=str(refund_id),
            gateway_code="gateway_failed",
        )
    return view


def is_card_payment(factory: sessionmaker[Session], payment_id: uuid.UUID) -> bool:
    """Which flow a refund request takes (both check access themselves)."""
    with unit_of_work(factory) as s:
        payment = PaymentRepository(s).get(payment_id)
        return payment is not None and payment.method == "card"


def recover_pending_refunds(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    *,
    older_than: dt.timedelta = dt.timedelta(seconds=60),
    limit: int = 100,
) -> dict[str, int]:
    """Resolve pending card refunds (gateway timeouts) by repeating the refund with its own key:
    the gateway answers with the refund it already made, or makes it once. Counts per status."""
    actor = Principal.system(username="gateway-recovery")
    with unit_of_work(factory) as s:
        pending = []
        for r in RefundRepository(s).pending_card(
            created_before=utcnow() - older_than, limit=limit
        ):
            payment = PaymentRepository(s).get(r.payment_id)
            assert payment is not None and payment.gateway_charge_id is not None
            pending.append(
                (r.id, payment.gateway_charge_id, r.amount_minor, r.gateway_idempotency_key or "")
            )
    counts: dict[str, int] = {}
    for refund_id, charge_id, amount_minor, key in pending:
        try:
            result = gateway.refund(charge_id, amount_minor, key)
            with unit_of_work(factory) as s:
                status = apply_result(s, actor, refund_id, result)
        except GatewayRefused as exc:
            _mark_failed(factory, actor, refund_id, exc.code)
            status = FAILED
        except (GatewayTimeout, GatewayUnavailable):
            status = PENDING
        counts[status] = counts.get(status, 0) + 1
    return counts
