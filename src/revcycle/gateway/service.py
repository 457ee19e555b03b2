"""revcycle's side of gateway webhooks: verify, then process each event exactly once.

The event row (UNIQUE provider + event id) is inserted first, in the same transaction as the
event's effect: a duplicate delivery, even a concurrent one, fails that INSERT and rolls back
whole, so an event has one effect however often it arrives.
"""

from __future__ import annotations

import json
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
)
from revcycle.gateway.models import GatewayEvent
from revcycle.payments import bank, card
from revcycle.payments.models import Payment
from revcycle.payments.repository import PaymentRepository

HANDLED = {"charge.succeeded", "charge.failed"}
# Bank debits (docs/bank-transfers.md): every step of the lifecycle is applied.
BANK_EVENTS = {
    "bank_debit.processing",
    "bank_debit.succeeded",
    "bank_debit.failed",
    "bank_debit.returned",
}


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
    return row.outcome


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
    if payment.status != card.PENDING:
        return "already_applied"
    status = card.apply_outcome(
        session, Principal.system(username="gateway-webhook"), payment.id, charge
    )
    return f"payment_{status}"
