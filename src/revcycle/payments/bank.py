"""Bank transfers (ACH-style debits) through the payment gateway (docs/bank-transfers.md).

Accounting: a debit is only *submitted* when it is taken; the money arrives days later, or
never (a return). So a bank payment is ``pending`` with **no ledger entry and no allocations**
until the gateway says it settled; then it is posted exactly like a card capture (debit clearing
1010, credit the invoices' AR, the rest patient credit). A return before settlement leaves
nothing to undo: the payment becomes ``returned`` with its NACHA code. A return after settlement
posts the exact reversal of the payment entry (``payment.return``) and, when part of that money
was meanwhile refunded or spent as credit, a correction so no invoice is reopened beyond what
it was and patient credit never goes negative: that part is owed by the patient outside any
invoice. No returned-payment fee is invented.

The flow mirrors card payments (:mod:`revcycle.payments.card`): check and record ``pending``
(one transaction), submit the debit outside any transaction (same key -> same debit), apply the
answer (``processing`` keeps it pending). A timeout leaves it pending for
:func:`recover_pending_bank`, which also polls processing debits and settled ones still inside
the return window; the gateway's webhooks do the same through :func:`apply_bank_outcome`.

Lock order when an outcome is applied: payment -> patient -> invoices (by id), as for cards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid

from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.errors import InvalidInput
from revcycle.fraud import addresses as fraud_addresses
from revcycle.gateway.base import (
    BankAccountDetails,
    BankDebitGateway,
    Charge,
    ChargeStatus,
    GatewayRefused,
    GatewayTimeout,
    GatewayUnavailable,
)
from revcycle.invoices import service as invoices_service
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import today, utcnow
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.patients.repository import PatientRepository
from revcycle.payments import card, errors
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.payments.schemas import PaymentCreate
from revcycle.refunds.repository import RefundRepository

log = logging.getLogger("revcycle.payments")

METHOD = "bank_transfer"
PENDING, SUCCEEDED, RETURNED, FAILED = "pending", "succeeded", "returned", "failed"
ACH_CURRENCY = "USD"
# Invoices whose balance a return may reopen (a void or written-off one stays at zero).
COLLECTIBLE = {"open", "partially_paid", "paid"}
# How long after settlement a settled debit is still polled for a late return.
RETURN_WINDOW = dt.timedelta(days=5)


def bank_gateway(gateway: object) -> BankDebitGateway:
    if not isinstance(gateway, BankDebitGateway):
        raise errors.BankTransfersUnavailable("The payment gateway does not take bank debits")
    return gateway


def _refused(exc: GatewayRefused) -> InvalidInput:
    return InvalidInput(
        "The gateway refused this bank token", code="payment.token_refused", gateway_code=exc.code
    )


def _set_bank(payment: Payment, bank: BankAccountDetails) -> None:
    payment.bank_last4 = bank.last4
    payment.bank_routing_number = bank.routing_number
    payment.bank_account_type = bank.account_type
    payment.bank_name = bank.bank_name


def record_pending(
    session: Session,
    actor: Principal,
    data: PaymentCreate,
    *,
    key: str,
    provider: str,
    bank: BankAccountDetails,
) -> Payment:
    """Check the request as any payment (access, currency, amount, date, allocations against
    balances under the patient -> invoices locks) and record it ``pending``: no entry, no
    allocations. The same ``key`` again returns the payment it recorded."""
    existing = PaymentRepository(session).by_gateway_key(key)
    if existing is not None:
        payments.access_payment(session, actor, existing.id)
        return existing
    prep = payments.prepare(session, actor, data)
    if prep.amount.currency != ACH_CURRENCY:
        raise errors.BankCurrencyUnsupported(
            f"Bank debits are in {ACH_CURRENCY} only", currency=prep.amount.currency
        )
    wanted = payments.wanted_allocations(data, prep.amount.currency)
    payments.plan_allocations(session, prep, wanted)  # refuse now what settlement would refuse
    payment = Payment(
        id=uuid7(),
        practice_id=prep.practice_id,
        patient_id=prep.patient_id,
        method=METHOD,
        amount_minor=prep.amount.amount_minor,
        currency=prep.amount.currency,
        received_on=prep.received_on,
        reference=data.reference,
        unapplied_minor=0,
        created_by=actor.user_id,
        status=PENDING,
        gateway_provider=provider,
        gateway_idempotency_key=key,
        client_addr_bidx=fraud_addresses.digest(actor.client_addr),
        allocation_request=None
        if wanted is None
        else json.dumps([[str(i), m.amount_minor] for i, m in wanted.items()]),
    )
    _set_bank(payment, bank)
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        "payment:bank_attempt",
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["amount", "method"],
    )
    return payment


def _view(factory: sessionmaker[Session], payment_id: uuid.UUID) -> payments.PaymentView:
    with unit_of_work(factory) as s:
        payment = PaymentRepository(s).get(payment_id)
        assert payment is not None
        return payments.PaymentView(
            payment, PaymentRepository(s).allocations([payment_id])[payment_id]
        )


def take_bank_payment(
    factory: sessionmaker[Session],
    gateway: object,
    actor: Principal,
    data: PaymentCreate,
    *,
    idempotency_key: str,
) -> payments.PaymentView:
    """Debit ``data.bank_token`` (a stored bank token works the same: autopay calls this).
    Returns the payment, normally ``pending`` (the debit is processing). Nothing is written when
    the request is refused or the token is unknown; a gateway timeout leaves it ``pending``."""
    assert data.bank_token is not None
    gw = bank_gateway(gateway)
    key = card.gateway_key(actor.user_id, idempotency_key)
    with unit_of_work(factory) as s:
        existing = PaymentRepository(s).by_gateway_key(key)
        if existing is not None:
            payments.access_payment(s, actor, existing.id)
    if existing is None:
        try:
            bank = gw.retrieve_bank_token(data.bank_token)
        except GatewayRefused as exc:
            raise _refused(exc) from None
        except (GatewayUnavailable, GatewayTimeout):
            raise errors.GatewayUnavailable(
                "The payment gateway is unavailable; try again later"
            ) from None
        with unit_of_work(factory) as s:
            payment_id = record_pending(s, actor, data, key=key, provider=gw.provider, bank=bank).id
    else:
        payment_id = existing.id
        if existing.status != PENDING:  # a retry after the outcome was applied
            return _view(factory, payment_id)
    view = _view(factory, payment_id)
    try:
        charge = gw.debit(
            data.bank_token,
            view.payment.amount_minor,
            view.payment.currency,
            key,
            {"payment_id": str(payment_id)},
        )
    except GatewayTimeout:
        log.warning("gateway timeout for bank payment %s: left pending", payment_id)
        return view
    except GatewayUnavailable:
        card._mark_failed(factory, payment_id, "gateway_unavailable")
        raise errors.GatewayUnavailable(
            "The payment gateway is unavailable; try again later"
        ) from None
    except GatewayRefused as exc:
        card._mark_failed(factory, payment_id, exc.code)
        raise _refused(exc) from None
    with unit_of_work(factory) as s:
        apply_bank_outcome(s, actor, payment_id, charge)
    return _view(factory, payment_id)


def apply_bank_outcome(
    session: Session, actor: Principal, payment_id: uuid.UUID, charge: Charge
) -> str:
    """Apply what the gateway says about a bank payment's debit (from the debit call, a webhook
    or a poll). Idempotent: an outcome already applied changes nothing. Returns the status."""
    payment = PaymentRepository(session).lock_gateway_payment(payment_id)
    assert payment is not None
    if payment.status == PENDING:
        payment.gateway_charge_id = charge.id
        if charge.bank is not None:
            _set_bank(payment, charge.bank)
        if charge.status in (ChargeStatus.SUCCEEDED, ChargeStatus.RETURNED):
            settled = dataclasses.replace(
                charge, status=ChargeStatus.SUCCEEDED, captured_minor=charge.amount_minor
            )
            card.apply_outcome(session, actor, payment.id, settled)
            payment.settled_at = utcnow()
            session.flush()
        elif charge.status is ChargeStatus.FAILED:
            payment.status = RETURNED
            payment.return_code = charge.return_code
            payment.returned_at = utcnow()
            session.flush()
            _audit(session, actor, payment, "payment:bank_returned")
            return RETURNED
        else:
            session.flush()
            return payment.status  # still processing
    if (
        payment.status == SUCCEEDED
        and payment.method == METHOD
        and charge.status is ChargeStatus.RETURNED
    ):
        return_settled(session, actor, payment, charge.return_code or "R00")
    return payment.status


def _audit(session: Session, actor: Principal, payment: Payment, action: str) -> None:
    audit.record(
        session,
        actor,
        action,
        object_type="payment",
        object_id=payment.id,
        practice_id=payment.practice_id,
        fields=["status", "return_code"],
        detail={"return_code": payment.return_code},
    )


def return_legs(
    payment: Payment,
    shares: list[tuple[uuid.UUID, int, bool]],
    refunded: dict[uuid.UUID | None, int],
    credit_now: int,
) -> list[ledger.Leg]:
    """The correction after the exact reversal of a returned payment's entry: ``shares`` are its
    allocations (invoice id, amount, still collectible). What was refunded from an invoice's
    share (or the whole share of a void/written-off invoice), and the payment's credit that is
    no longer held, move to the patient's receivable outside any invoice."""
    currency, patient_id = payment.currency, payment.patient_id
    legs: list[ledger.Leg] = []
    owed = 0
    for invoice_id, amount, collectible in shares:
        excess = min(amount, refunded.get(invoice_id, 0)) if collectible else amount
        if excess > 0:
            legs.append(
                ledger.credit(
                    AccountCode.PATIENT_AR,
                    Money(excess, currency),
                    patient_id=patient_id,
                    invoice_id=invoice_id,
                )
            )
            owed += excess
    held = max(0, min(payment.unapplied_minor - refunded.get(None, 0), credit_now))
    gone = payment.unapplied_minor - held
    if gone > 0:
        legs.append(
            ledger.credit(AccountCode.PATIENT_CREDIT, Money(gone, currency), patient_id=patient_id)
        )
        owed += gone
    if owed:
        legs.append(
            ledger.debit(AccountCode.PATIENT_AR, Money(owed, currency), patient_id=patient_id)
        )
    return legs


def return_settled(session: Session, actor: Principal, payment: Payment, code: str) -> None:
    """A settled bank payment came back: reverse its entry exactly, correct for what was
    refunded or spent meanwhile, reopen its invoices. The payment row is locked by the caller."""
    assert payment.entry_id is not None
    PatientRepository(session).get_for_update(payment.patient_id)
    allocations = PaymentRepository(session).allocations([payment.id])[payment.id]
    invoices = {
        i.id: i
        for i in InvoiceRepository(session).lock_many(sorted({a.invoice_id for a in allocations}))
    }
    refunded = RefundRepository(session).refunded_by_source(payment.id)
    _, credit_now = LedgerRepository(session).patient_balances(payment.patient_id)
    memo = f"Bank transfer returned ({code})"
    ledger.reverse_entry(
        session,
        payment.entry_id,
        kind=EntryKind.PAYMENT_RETURN.value,
        effective_date=today(),
        created_by=actor.user_id,
        memo=memo,
    )
    shares = [
        (a.invoice_id, a.amount_minor, invoices[a.invoice_id].status in COLLECTIBLE)
        for a in allocations
    ]
    legs = return_legs(payment, shares, refunded, credit_now)
    if legs:
        ledger.post_entry(
            session,
            ledger.EntrySpec(
                practice_id=payment.practice_id,
                kind=EntryKind.PAYMENT_RETURN.value,
                legs=legs,
                effective_date=today(),
                memo=f"{memo}: refunded or spent before the return",
                created_by=actor.user_id,
                source_type="payment",
                source_id=payment.id,
            ),
        )
    payment.status = RETURNED
    payment.return_code = code
    payment.returned_at = utcnow()
    session.flush()
    invoices_service.refresh_statuses(session, list(invoices.values()))
    _audit(session, actor, payment, "payment:bank_returned_after_settlement")


def _poll(gw: BankDebitGateway, charge_id: str | None, key: str | None) -> Charge | None:
    if charge_id is not None:
        return gw.retrieve_debit(charge_id)
    return gw.find_debit_by_idempotency_key(key or "")


def recover_pending_bank(
    factory: sessionmaker[Session],
    gateway: object,
    *,
    older_than: dt.timedelta = dt.timedelta(seconds=60),
    limit: int = 100,
) -> dict[str, int]:
    """The worker's poll (``revcycle gateway recover-pending``): pending bank payments older than
    ``older_than`` (timeouts, processing debits) and settled ones still inside the return window
    are compared with the gateway. A pending one the gateway never saw fails (``not_charged``);
    the rest get the gateway's outcome. Returns counts per resulting status."""
    if not isinstance(gateway, BankDebitGateway):
        return {}
    actor = Principal.system(username="gateway-recovery")
    now = utcnow()
    with unit_of_work(factory) as s:
        repo = PaymentRepository(s)
        rows = [
            (p.id, p.gateway_charge_id, p.gateway_idempotency_key, p.status)
            for p in repo.bank_to_poll(
                created_before=now - older_than, settled_after=now - RETURN_WINDOW, limit=limit
            )
        ]
    counts: dict[str, int] = {}
    for payment_id, charge_id, key, before in rows:
        try:
            found = _poll(gateway, charge_id, key)
        except (GatewayTimeout, GatewayUnavailable, GatewayRefused) as exc:
            log.warning("bank payment %s not polled: %s", payment_id, type(exc).__name__)
            status = before  # try again next run
        else:
            if found is None:
                card._mark_failed(factory, payment_id, "not_charged")
                status = FAILED
            else:
                with unit_of_work(factory) as s:
                    status = apply_bank_outcome(s, actor, payment_id, found)
        if status != before or status == PENDING:
            counts[status] = counts.get(status, 0) + 1
    return counts
