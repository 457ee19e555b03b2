"""revcycle's side of gateway webhooks: verify, then process each event exactly once.

The event row (UNIQUE provider + event id) is inserted first, in the same transaction as the
event's effect: a duplicate delivery, even a concurrent one, fails that INSERT and rolls back
whole, so an event has one effect however often it arrives.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.errors import Conflict, InvalidInput
from revcycle.gateway.base import (
    BankAccountDetails,
    CardDetails,
    Charge,
    ChargeStatus,
    DeclineCode,
    RefundResult,
    RefundStatus,
)
from revcycle.gateway.models import GatewayEvent, GatewayUnmatchedRefund
from revcycle.payments import bank, card
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository
from revcycle.refunds import card as refunds_card
from revcycle.refunds import repository as refund_repo
from revcycle.refunds.repository import RefundRepository

log = logging.getLogger("revcycle.gateway")

HANDLED = {"charge.succeeded", "charge.failed"}
# Bank debits (docs/bank-transfers.md): every step of the lifecycle is applied.
BANK_EVENTS = {
    "bank_debit.processing",
    "bank_debit.succeeded",
    "bank_debit.failed",
    "bank_debit.returned",
}
REFUNDED = "charge.refunded"


class EventReplayed(Conflict):
    code = "webhook.replayed"


def parse_event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise InvalidInput("The event is not JSON", code="webhook.malformed") from None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 80
        and isinstance(event.get("type"), str)
        and len(event["type"]) <= 40
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    ):
        raise InvalidInput("The event is not a gateway event", code="webhook.malformed")
    return event


def charge_from_event(obj: dict[str, Any]) -> Charge:
    c = obj.get("card")
    decline = obj.get("decline_code")
    return Charge(
        id=str(obj["id"]),
        status=ChargeStatus(obj["status"]),
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]),
        card=None
        if not isinstance(c, dict)
        else CardDetails(str(c["brand"]), str(c["last4"]), int(c["exp_month"]), int(c["exp_year"])),
        captured_minor=int(obj.get("amount_captured", 0)),
        refunded_minor=int(obj.get("amount_refunded", 0)),
        voided=bool(obj.get("voided", False)),
        decline_code=DeclineCode(decline) if decline else None,
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
    )


def already_processed(session: Session, provider: str, event_id: str) -> bool:
    return (
        session.scalar(
            select(GatewayEvent.id).where(
                GatewayEvent.provider == provider, GatewayEvent.event_id == event_id
            )
        )
        is not None
    )


def process_event(session: Session, provider: str, event: dict[str, Any]) -> str:
    """Record the event and apply it. Raises EventReplayed for an event already processed (the
    caller's transaction then rolls back: nothing written)."""
    if already_processed(session, provider, event["id"]):
        raise EventReplayed("This event was already processed")
    obj = event["data"]["object"]
    row = GatewayEvent(
        provider=provider,
        event_id=event["id"],
        type=event["type"],
        charge_id=str(obj.get("id"))[:40] if obj.get("id") else None,
        outcome="recorded",
    )
    session.add(row)
    session.flush()  # the UNIQUE constraint decides between concurrent duplicates here
    if event["type"] in HANDLED:
        try:
            charge = charge_from_event(obj)
        except (KeyError, ValueError, TypeError):
            raise InvalidInput(
                "The event's charge is malformed", code="webhook.malformed"
            ) from None
        row.outcome = _apply_charge(session, charge)
    elif event["type"] in BANK_EVENTS:
        row.outcome = _apply_bank_debit(session, obj)
    elif event["type"] == REFUNDED and isinstance(event["data"].get("refund"), dict):
        try:
            refund = refund_from_event(event["data"]["refund"])
        except (KeyError, ValueError, TypeError):
            raise InvalidInput(
                "The event's refund is malformed", code="webhook.malformed"
            ) from None
        key = event["data"]["refund"].get("idempotency_key")
        row.outcome = _apply_refund(
            session, provider, event["id"], refund, key if isinstance(key, str) else None
        )
    return row.outcome


def refund_from_event(obj: dict[str, Any]) -> RefundResult:
    return RefundResult(
        id=str(obj["id"])[:40],
        charge_id=str(obj["charge"])[:40],
        status=RefundStatus(obj["status"]),
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"])[:3],
    )


def _apply_refund(
    session: Session, provider: str, event_id: str, result: RefundResult, key: str | None
) -> str:
    """A refund at the gateway: resolve our pending refund it answers (the event can arrive before
    our own call returns or recovery runs: the same apply step, under the same locks, once);
    a refund we never asked for is kept as unmatched for staff to look at."""
    repo = RefundRepository(session)
    refund = (repo.by_gateway_key(key) if key else None) or repo.by_gateway_refund_id(result.id)
    if refund is not None:
        if refund.status != refund_repo.PENDING:
            return "already_applied"
        status = refunds_card.apply_result(
            session, Principal.system(username="gateway-webhook"), refund.id, result
        )
        return f"refund_{status}"
    payment = PaymentRepository(session).by_charge_id(result.charge_id)
    session.add(
        GatewayUnmatchedRefund(
            provider=provider,
            gateway_refund_id=result.id,
            charge_id=result.charge_id,
            payment_id=payment.id if payment else None,
            practice_id=payment.practice_id if payment else None,
            amount_minor=result.amount_minor,
            currency=result.currency,
            event_id=event_id,
        )
    )
    log.warning("gateway refund %s was not made by revcycle: recorded as unmatched", result.id)
    return "refund_unmatched"


def debit_from_event(obj: dict[str, Any]) -> Charge:
    acct = obj.get("bank_account")
    return Charge(
        id=str(obj["id"]),
        status=ChargeStatus(obj["status"]),
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]),
        card=None,
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        bank=None
        if not isinstance(acct, dict)
        else BankAccountDetails(
            str(acct["last4"])[:4],
            str(acct["routing_number"])[:9],
            str(acct["account_type"])[:10],
            None if acct.get("bank_name") is None else str(acct["bank_name"])[:60],
        ),
        return_code=None if obj.get("return_code") is None else str(obj["return_code"])[:4],
    )


def _apply_bank_debit(session: Session, obj: dict[str, Any]) -> str:
    try:
        charge = debit_from_event(obj)
    except (KeyError, ValueError, TypeError):
        raise InvalidInput("The event's debit is malformed", code="webhook.malformed") from None
    payment = _payment_for(session, charge)
    if payment is None or payment.method != bank.METHOD:
        return "no_payment"
    before = payment.status
    status = bank.apply_bank_outcome(
        session, Principal.system(username="gateway-webhook"), payment.id, charge
    )
    return f"payment_{status}" if status != before else "already_applied"


def _payment_for(session: Session, charge: Charge) -> Payment | None:
    repo = PaymentRepository(session)
    payment = repo.by_charge_id(charge.id)
    if payment is None:
        try:
            payment = repo.get(uuid.UUID(charge.metadata.get("payment_id", "")))
        except ValueError:
            return None
    return payment


def _apply_charge(session: Session, charge: Charge) -> str:
    repo = PaymentRepository(session)
    payment = repo.by_charge_id(charge.id)
    if payment is None:
        try:
            payment_id = uuid.UUID(charge.metadata.get("payment_id", ""))
        except ValueError:
            return "no_payment"
        payment = repo.get(payment_id)
    if payment is None:
        return "no_payment"
    if payment.status not in card.UNRESOLVED:
        return "already_applied"
    status = card.apply_outcome(
        session, Principal.system(username="gateway-webhook"), payment.id, charge
    )
    return f"payment_{status}"
