"""The test gateway's behaviour: tokenisation, charges with real state rules, refunds, and the
webhook outbox. Each call is its own transaction in the gateway's tables: a charge the gateway
made stays made even when revcycle's own transaction rolls back (as with a real gateway)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.gateway.base import (
    CardDetails,
    Charge,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DeclineCode,
    GatewayRefused,
    GatewayTimeout,
    RefundResult,
    RefundStatus,
    SettlementReport,
    charge_one_by_one,
)
from revcycle.gateway.testgw import cards, delivery, settlement, threeds
from revcycle.gateway.testgw.bank import BankDebits
from revcycle.gateway.testgw.models import (
    TestgwCharge,
    TestgwRefund,
    TestgwToken,
    TestgwWebhook,
)
from revcycle.kit import bulk
from revcycle.kit.clock import today, utcnow

PROVIDER = "testgw"

_CHARGES = cast(Table, TestgwCharge.__table__)
_WEBHOOKS = cast(Table, TestgwWebhook.__table__)

_DECLINES = {
    cards.Scenario.GENERIC_DECLINE: DeclineCode.GENERIC_DECLINE,
    cards.Scenario.INSUFFICIENT_FUNDS: DeclineCode.INSUFFICIENT_FUNDS,
    cards.Scenario.EXPIRED_CARD: DeclineCode.EXPIRED_CARD,
    cards.Scenario.INCORRECT_CVC: DeclineCode.INCORRECT_CVC,
    cards.Scenario.PROCESSING_ERROR: DeclineCode.PROCESSING_ERROR,
}


class CardRefused(Exception):
    """Tokenisation refused the card details (codes as Stripe spells them). Never carries them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenResult:
    id: str
    card: CardDetails


def tokenize(
    session: Session,
    *,
    fingerprint_key: bytes,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    on: dt.date | None = None,
) -> TokenResult:
    digits = cards.normalise(number)
    if not cards.luhn_ok(digits):
        raise CardRefused("incorrect_number", "The card number is not valid")
    if not 1 <= exp_month <= 12:
        raise CardRefused("invalid_expiry_month", "The expiry month is not valid")
    if exp_year < 100:
        exp_year += 2000
    if not 2000 <= exp_year <= 2100:
        raise CardRefused("invalid_expiry_year", "The expiry year is not valid")
    if cards.expired(exp_month, exp_year, on or today()):
        raise CardRefused("expired_card", "The card has expired")
    card_brand = cards.brand(digits)
    if not cards.cvc_ok(cvc, card_brand):
        raise CardRefused("invalid_cvc", "The security code is not valid")
    token = TestgwToken(
        id=delivery.new_id("tok"),
        brand=card_brand,
        last4=digits[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        fingerprint=hmac.new(fingerprint_key, digits.encode(), hashlib.sha256).hexdigest(),
        scenario=cards.scenario(digits).value,
    )
    session.add(token)
    session.flush()
    return TokenResult(token.id, CardDetails(card_brand, token.last4, exp_month, exp_year))


def _charge(row: TestgwCharge, token: TestgwToken | None) -> Charge:
    return Charge(
        id=row.id,
        status=ChargeStatus(row.status),
        amount_minor=row.amount_minor,
        currency=row.currency,
        card=CardDetails(token.brand, token.last4, token.exp_month, token.exp_year)
        if token
        else None,
        captured_minor=row.captured_minor,
        refunded_minor=row.refunded_minor,
        voided=row.voided,
        decline_code=DeclineCode(row.decline_code) if row.decline_code else None,
        metadata=json.loads(row.metadata_json),
        next_action_url=threeds.action_url(row.id)
        if row.status == ChargeStatus.REQUIRES_ACTION.value
        else None,
    )


def _charge_json(c: Charge) -> dict[str, object]:
    return {
        "id": c.id,
        "object": "charge",
        "status": c.status.value,
        "amount": c.amount_minor,
        "currency": c.currency,
        "amount_captured": c.captured_minor,
        "amount_refunded": c.refunded_minor,
        "voided": c.voided,
        "decline_code": c.decline_code.value if c.decline_code else None,
        "card": None
        if c.card is None
        else {
            "brand": c.card.brand,
            "last4": c.card.last4,
            "exp_month": c.card.exp_month,
            "exp_year": c.card.exp_year,
        },
        "metadata": dict(c.metadata),
    }


def _refund_json(r: TestgwRefund) -> dict[str, object]:
    """The refund a ``charge.refunded`` event is about; its idempotency key lets the caller that
    asked for it match its own pending refund (a dashboard refund has a key of its own)."""
    return {
        "id": r.id,
        "object": "refund",
        "charge": r.charge_id,
        "amount": r.amount_minor,
        "currency": r.currency,
        "status": r.status,
        "idempotency_key": r.idempotency_key,
    }


def _emit(
    session: Session, event_type: str, charge: Charge, *, refund: TestgwRefund | None = None
) -> None:
    data: dict[str, object] = {"object": _charge_json(charge)}
    if refund is not None:
        data["refund"] = _refund_json(refund)
    delivery.queue_event(session, event_type, data)


def _request_hash(token: str, amount_minor: int, currency: str) -> str:
    return hashlib.sha256(json.dumps([token, amount_minor, currency]).encode()).hexdigest()


def _by_key(session: Session, key: str) -> TestgwCharge | None:
    return session.scalar(select(TestgwCharge).where(TestgwCharge.idempotency_key == key))


def _replay(session: Session, row: TestgwCharge, request_hash: str) -> Charge:
    if row.request_hash != request_hash:
        raise GatewayRefused(
            "This idempotency key was used with different parameters",
            code="idempotency_key_reused",
        )
    return _charge(row, session.get(TestgwToken, row.token_id))


def authorize_in(
    session: Session,
    *,
    token: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
    capture: bool = False,
) -> tuple[Charge, cards.Scenario | None]:
    """Authorise a charge on a token in ``session`` (declined, requiring action or succeeded by
    the card's scenario), and capture it at once with ``capture`` when it succeeded. Returns the
    charge and the card's scenario (None for a replay)."""
    if amount_minor <= 0:
        raise GatewayRefused("The amount must be positive", code="amount_invalid")
    request_hash = _request_hash(token, amount_minor, currency)
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _replay(session, existing, request_hash), None
    tok = session.get(TestgwToken, token)
    if tok is None:
        raise GatewayRefused("No such token", code="resource_missing")
    scenario = cards.Scenario(tok.scenario)
    decline = _DECLINES.get(scenario)
    status = (
        ChargeStatus.DECLINED
        if decline
        else ChargeStatus.REQUIRES_ACTION
        if scenario is cards.Scenario.REQUIRES_ACTION
        else ChargeStatus.SUCCEEDED
    )
    captured = capture and status is ChargeStatus.SUCCEEDED
    row = TestgwCharge(
        id=delivery.new_id("ch"),
        token_id=tok.id,
        status=status.value,
        decline_code=decline.value if decline else None,
        amount_minor=amount_minor,
        currency=currency,
        captured_minor=amount_minor if captured else 0,
        captured_at=utcnow() if captured else None,
        refunded_minor=0,
        voided=False,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        metadata_json=json.dumps(dict(metadata or {}), sort_keys=True),
    )
    session.add(row)
    session.flush()
    charge = _charge(row, tok)
    if status is ChargeStatus.DECLINED:
        _emit(session, "charge.failed", charge)
    elif captured:
        _emit(session, "charge.succeeded", charge)  # as capture() emits it
    return charge, scenario


def charge_many_in(session: Session, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
    """:func:`authorize_in` with ``capture=True`` for several requests (distinct keys) at once:
    one read of the keys, one of the tokens, then every new charge and its outbox event in one
    bulk INSERT each. A key already used answers its charge (or ``idempotency_key_reused``); a
    timeout-scenario card records its charge and answers :class:`GatewayTimeout`."""
    keys = [r.idempotency_key for r in requests]
    existing = {
        row.idempotency_key: row
        for row in session.scalars(
            select(TestgwCharge).where(bulk.among(session, TestgwCharge.idempotency_key, keys))
        )
    }
    tokens = {
        t.id: t
        for t in session.scalars(
            select(TestgwToken).where(
                bulk.among(session, TestgwToken.id, {r.token for r in requests})
            )
        )
    }
    card_of = {
        t.id: CardDetails(t.brand, t.last4, t.exp_month, t.exp_year) for t in tokens.values()
    }
    out: list[ChargeResult] = []
    rows: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    now = utcnow()
    for r in requests:
        if r.amount_minor <= 0:
            out.append(GatewayRefused("The amount must be positive", code="amount_invalid"))
            continue
        request_hash = _request_hash(r.token, r.amount_minor, r.currency)
        done = existing.get(r.idempotency_key)
        if done is not None:
            try:
                out.append(_replay(session, done, request_hash))
            except GatewayRefused as exc:
                out.append(exc)
            continue
        tok = tokens.get(r.token)
        if tok is None:
            out.append(GatewayRefused("No such token", code="resource_missing"))
            continue
        scenario = cards.Scenario(tok.scenario)
        decline = _DECLINES.get(scenario)
        status = (
            ChargeStatus.DECLINED
            if decline
            else ChargeStatus.REQUIRES_ACTION
            if scenario is cards.Scenario.REQUIRES_ACTION
            else ChargeStatus.SUCCEEDED
        )
        captured = status is ChargeStatus.SUCCEEDED
        charge_id = delivery.new_id("ch")
        metadata = dict(r.metadata)
        rows.append(
            {
                "id": charge_id,
                "token_id": tok.id,
                "status": status.value,
                "decline_code": decline.value if decline else None,
                "amount_minor": r.amount_minor,
                "currency": r.currency,
                "captured_minor": r.amount_minor if captured else 0,
                "captured_at": now if captured else None,
                "refunded_minor": 0,
                "voided": False,
                "idempotency_key": r.idempotency_key,
                "request_hash": request_hash,
                "metadata_json": json.dumps(metadata, sort_keys=True),
                "created_at": now,
            }
        )
        # what _charge() answers for the stored row, built without one
        charge = Charge(
            id=charge_id,
            status=status,
            amount_minor=r.amount_minor,
            currency=r.currency,
            card=card_of[tok.id],
            captured_minor=r.amount_minor if captured else 0,
            refunded_minor=0,
            voided=False,
            decline_code=decline,
            metadata=metadata,
            next_action_url=threeds.action_url(charge_id)
            if status is ChargeStatus.REQUIRES_ACTION
            else None,
        )
        if status is ChargeStatus.DECLINED:
            events.append(delivery.event_row("charge.failed", {"object": _charge_json(charge)}))
        elif captured:
            events.append(delivery.event_row("charge.succeeded", {"object": _charge_json(charge)}))
        out.append(GatewayTimeout() if scenario is cards.Scenario.TIMEOUT else charge)
    bulk.insert_rows(session, _CHARGES, rows)  # COPY on PostgreSQL
    bulk.insert_rows(session, _WEBHOOKS, events)
    return out


def card_fingerprint_in(session: Session, token: str) -> str | None:
    row = session.get(TestgwToken, token)
    return None if row is None else row.fingerprint


class TestGateway(BankDebits):
    """:class:`revcycle.gateway.base.PaymentGateway` over the test gateway's own tables (and
    :class:`~revcycle.gateway.base.BankDebitGateway`: bank debits, from ``BankDebits``)."""

    __test__ = False  # not a pytest test class

    provider = PROVIDER

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    # --- helpers -----------------------------------------------------------------------------
    def _locked(self, s: Session, charge_id: str) -> TestgwCharge:
        row = s.scalar(select(TestgwCharge).where(TestgwCharge.id == charge_id).with_for_update())
        if row is None:
            raise GatewayRefused("No such charge", code="resource_missing")
        return row

    def _view(self, s: Session, row: TestgwCharge) -> Charge:
        return _charge(row, s.get(TestgwToken, row.token_id))

    # --- PaymentGateway ----------------------------------------------------------------------
    def authorize(
        self,
        token: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
        *,
        capture: bool = False,
    ) -> Charge:
        try:
            with unit_of_work(self.factory) as s:
                charge, scenario = authorize_in(
                    s,
                    token=token,
                    amount_minor=amount_minor,
                    currency=currency,
                    idempotency_key=idempotency_key,
                    metadata=metadata,
                    capture=capture,
                )
        except IntegrityError:
            # A concurrent authorize with the same key won the INSERT: answer with its charge.
            with unit_of_work(self.factory) as s:
                existing = _by_key(s, idempotency_key)
                if existing is None:
                    raise
                return _replay(s, existing, _request_hash(token, amount_minor, currency))
        if scenario is cards.Scenario.TIMEOUT:
            raise GatewayTimeout()  # the charge exists; the answer is lost on the way back
        return charge

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        """:class:`~revcycle.gateway.base.BatchChargeGateway`: every charge in ONE transaction
        (:func:`charge_many_in`). Repeated keys in one call, or a concurrent call that took one
        of the keys first, fall back to one :meth:`authorize` each (each answers by key)."""
        if len({r.idempotency_key for r in requests}) != len(requests):
            return charge_one_by_one(self, requests)
        try:
            with unit_of_work(self.factory) as s:
                return charge_many_in(s, requests)
        except IntegrityError:
            return charge_one_by_one(self, requests)

    def capture(self, charge_id: str, amount_minor: int | None = None) -> Charge:
        with unit_of_work(self.factory) as s:
            row = self._locked(s, charge_id)
            if row.voided:
                raise GatewayRefused("The charge was voided", code="charge_voided")
            if row.status != ChargeStatus.SUCCEEDED.value:
                raise GatewayRefused("The charge cannot be captured", code="charge_not_capturable")
            if row.captured_minor > 0:
                return self._view(s, row)  # captured already: idempotent
            amount = row.amount_minor if amount_minor is None else amount_minor
            if not 0 < amount <= row.amount_minor:
                raise GatewayRefused("The capture amount is not valid", code="amount_too_large")
            row.captured_minor = amount
            row.captured_at = utcnow()
            s.flush()
            charge = self._view(s, row)
            _emit(s, "charge.succeeded", charge)
            return charge

    def void(self, charge_id: str) -> Charge:
        with unit_of_work(self.factory) as s:
            row = self._locked(s, charge_id)
            if row.captured_minor > 0:
                raise GatewayRefused("The charge was captured", code="charge_already_captured")
            if not row.voided and row.status == ChargeStatus.SUCCEEDED.value:
                row.voided = True
                s.flush()
                _emit(s, "charge.voided", self._view(s, row))
            return self._view(s, row)

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        with unit_of_work(self.factory) as s:
            row = self._locked(s, charge_id)
            # Looked up under the charge's lock: a concurrent call with the same key has either
            # committed its refund (found here) or not started.
            done = s.scalar(
                select(TestgwRefund).where(TestgwRefund.idempotency_key == idempotency_key)
            )
            if done is not None:
                if (done.charge_id, done.amount_minor) != (charge_id, amount_minor):
                    raise GatewayRefused(
                        "This idempotency key was used with different parameters",
                        code="idempotency_key_reused",
                    )
                return _refund(done)
            if row.captured_minor == 0:
                raise GatewayRefused("The charge was not captured", code="charge_not_captured")
            if amount_minor <= 0:
                raise GatewayRefused("The amount must be positive", code="amount_invalid")
            if amount_minor > row.captured_minor - row.refunded_minor:
                raise GatewayRefused(
                    "The refund exceeds what is left to refund", code="amount_too_large"
                )
            row.refunded_minor += amount_minor
            refund = TestgwRefund(
                id=delivery.new_id("re"),
                charge_id=row.id,
                amount_minor=amount_minor,
                currency=row.currency,
                status=RefundStatus.SUCCEEDED.value,
                idempotency_key=idempotency_key,
            )
            s.add(refund)
            s.flush()
            _emit(s, "charge.refunded", self._view(s, row), refund=refund)
            return _refund(refund)

    def describe_token(self, token: str) -> CardDetails | None:
        with unit_of_work(self.factory) as s:
            tok = s.get(TestgwToken, token)
            if tok is None:
                return None
            return CardDetails(tok.brand, tok.last4, tok.exp_month, tok.exp_year)

    def retrieve(self, charge_id: str) -> Charge:
        with unit_of_work(self.factory) as s:
            row = s.get(TestgwCharge, charge_id)
            if row is None:
                raise GatewayRefused("No such charge", code="resource_missing")
            if threeds.expired(row, utcnow()):
                return self._complete(s, charge_id, approve=None)
            return self._view(s, row)

    def complete_action(self, charge_id: str, *, approve: bool) -> Charge:
        """The cardholder answered the 3-D Secure challenge (the gateway's own page)."""
        with unit_of_work(self.factory) as s:
            return self._complete(s, charge_id, approve=approve)

    def _complete(self, s: Session, charge_id: str, *, approve: bool | None) -> Charge:
        row = self._locked(s, charge_id)
        now = utcnow()
        event = (
            threeds.expire(row, now)
            if approve is None
            else threeds.complete(row, approve=approve, now=now)
        )
        s.flush()
        charge = self._view(s, row)
        if event is not None:
            _emit(s, event, charge)
        return charge

    def find_by_idempotency_key(self, idempotency_key: str) -> Charge | None:
        with unit_of_work(self.factory) as s:
            row = _by_key(s, idempotency_key)
            return None if row is None else self._view(s, row)

    def card_fingerprint(self, token: str) -> str | None:
        with unit_of_work(self.factory) as s:
            return card_fingerprint_in(s, token)

    def settlement_report(self, day: dt.date) -> SettlementReport:
        with unit_of_work(self.factory) as s:
            return settlement.report(s, day)


def _refund(r: TestgwRefund) -> RefundResult:
    return RefundResult(r.id, r.charge_id, RefundStatus(r.status), r.amount_minor, r.currency)


Send = delivery.Send


def deliver_webhooks(
    factory: sessionmaker[Session],
    *,
    secret: str,
    send: delivery.Send,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> tuple[int, int]:
    """Send the due outbox events (:mod:`.delivery`: back-off, dead after the last attempt).
    Returns (delivered, failed)."""
    result = delivery.deliver(factory, secret=secret, send=send, now=now, limit=limit)
    return result.delivered, result.failed
