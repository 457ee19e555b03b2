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

Above the caller's refund limit phase 1 stores an approval request instead (202, nothing
reserved). :func:`approve_card_refund` runs the same phases when an admin approves it: the approval
is marked ``approved`` and the refund recorded ``pending`` in one transaction, the gateway is asked
with a key derived from the approval request (a retried or concurrent approve resumes with the same
key: one gateway refund), and applying the outcome marks the request ``executed`` or ``failed``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid

from sqlalchemy.orm import Session, sessionmaker

from revcycle.approvals import gate
from revcycle.approvals import service as approvals
from revcycle.approvals.models import ApprovalRequest
from revcycle.approvals.repository import ApprovalRepository
from revcycle.approvals.schemas import ApprovalStatus
from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.fraud import screen as fraud
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
from revcycle.payments import service as payments_service
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


def approval_key(request_id: uuid.UUID) -> str:
    """The gateway key of an approved card refund: one per approval request, whoever approves."""
    return "rc_" + hashlib.sha256(f"approval:{request_id}".encode()).hexdigest()[:48]


def _start(
    factory: sessionmaker[Session],
    actor: Principal,
    payment_id: uuid.UUID,
    data: RefundCreate,
    *,
    key: str | None,
    limits: gate.Limits | None,
) -> tuple[uuid.UUID, str, int] | ApprovalRequest:
    """Phase 1. Returns (refund id, the payment's charge id, amount), or the approval request
    made instead when the amount is above the caller's limit."""
    with unit_of_work(factory) as s:
        payment = service.check_request(s, actor, payment_id, key)
        assert key is not None
        existing = RefundRepository(s).by_gateway_key(key)
        if existing is None:
            amount = Money.parse(data.amount, payment.currency)
            plan = service.lock_and_plan(s, payment.id, amount, card=True)
            limit = gate.over_limit(limits, gate.REFUND, actor, amount)
            if limit is not None:
                return gate.request_approval(
                    s,
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
            existing = service.record_refund(
                s,
                actor,
                plan,
                reason=data.reason,
                approval_request_id=None,
                status=PENDING,
                gateway_idempotency_key=key,
            ).refund
            fraud.screen_refund(s, actor, existing, limits)  # before the gateway call
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
    _settle_approval(session, actor, refund.approval_request_id, refund.id, refund.status)
    return refund.status


def _settle_approval(
    session: Session,
    actor: Principal,
    request_id: uuid.UUID | None,
    refund_id: uuid.UUID,
    status: str,
    code: str | None = None,
) -> None:
    """An approved card refund was resolved: its approval request becomes executed or failed."""
    if request_id is None:
        return
    request = ApprovalRepository(session).get_for_update(request_id)
    if request is None or request.status != ApprovalStatus.APPROVED:
        return
    if status == PAID:
        approvals.mark_executed(session, actor, request, refund_id)
    elif status == FAILED:
        approvals.mark_failed(session, actor, request, refund_id, code or "gateway_failed")


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
            _settle_approval(s, actor, refund.approval_request_id, refund.id, FAILED, code)


def refund_card(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    payment_id: uuid.UUID,
    data: RefundCreate,
    *,
    idempotency_key: str | None,
    limits: gate.Limits | None,
) -> service.RefundView | ApprovalRequest:
    key = (
        None if idempotency_key is None else gateway_key(actor.user_id, f"refund:{idempotency_key}")
    )
    started = _start(factory, actor, payment_id, data, key=key, limits=limits)
    if isinstance(started, ApprovalRequest):
        return started
    assert key is not None
    return _send(factory, gateway, actor, *started, key)


def _send(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    refund_id: uuid.UUID,
    charge_id: str,
    amount_minor: int,
    key: str,
) -> service.RefundView:
    """Phases 2 and 3 for a refund recorded pending (a retry finds it already applied)."""
    with unit_of_work(factory) as s:
        view = _view(s, refund_id)
    if view.refund.status != PENDING:  # a retry after the outcome was applied
        return view
    try:
        result = gateway.refund(charge_id, amount_minor, key)
    except GatewayTimeout:
        log.warning("gateway timeout for refund %s: left pending", refund_id)
        return view
    except GatewayUnavailable:
        _mark_failed(factory, actor, refund_id, "gateway_unavailable")
        raise payment_errors.GatewayUnavailable(
            "The payment gateway is unavailable; try again later", refund_id=str(refund_id)
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


def approve_card_refund(
    factory: sessionmaker[Session],
    gateway: PaymentGateway,
    actor: Principal,
    request_id: uuid.UUID,
) -> ApprovalRequest:
    """Approve a card refund request and run it through the gateway (phases as above). Phase 1
    repeats every check of the refund under the payment's lock; a refusal there rolls back and
    the request stays ``requested``. A gateway refusal marks the refund and the request failed
    (409); a timeout leaves both pending/approved (202) for recovery or a repeated approve."""
    with unit_of_work(factory) as s:
        request = approvals.begin_external(s, actor, request_id)
        refund = RefundRepository(s).by_approval(request.id)
        if refund is None:
            payment = payments_service.access_payment(s, actor, request.object_id)
            data = RefundCreate.model_validate(request.payload)
            plan = service.lock_and_plan(
                s, payment.id, Money.parse(data.amount, payment.currency), card=True
            )
            refund = service.record_refund(
                s,
                actor,
                plan,
                reason=data.reason,
                approval_request_id=request.id,
                status=PENDING,
                gateway_idempotency_key=approval_key(request.id),
            ).refund
        paid_by = PaymentRepository(s).get(refund.payment_id)
        assert paid_by is not None and paid_by.gateway_charge_id is not None
        assert refund.gateway_idempotency_key is not None
        args = (
            refund.id,
            paid_by.gateway_charge_id,
            refund.amount_minor,
            refund.gateway_idempotency_key,
        )
    _send(factory, gateway, actor, *args)
    with unit_of_work(factory) as s:
        done = ApprovalRepository(s).get(request_id)
        assert done is not None
        return done


def approval_needs_gateway(factory: sessionmaker[Session], request_id: uuid.UUID) -> bool:
    """Whether approving this request calls the payment gateway (a card refund). Access is
    checked by the approval itself."""
    with unit_of_work(factory) as s:
        request = ApprovalRepository(s).get(request_id)
        if request is None or request.operation != gate.REFUND:
            return False
        payment = PaymentRepository(s).get(request.object_id)
        return payment is not None and payment.method == "card"


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
