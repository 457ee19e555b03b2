"""The test gateway's bank debits (ACH-style): bank-account tokens, debits that answer
``processing`` and settle (or come back returned) days later, late returns after settlement,
and the signed webhook events for each step. Like the card side, every call is a transaction of
the gateway's own; the ``*_in(session, ...)`` functions are the same steps inside a caller's
transaction (the demo seed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.db import unit_of_work
from revcycle.gateway.base import (
    BankAccountDetails,
    Charge,
    ChargeStatus,
    GatewayRefused,
    GatewayTimeout,
    ReturnCode,
)
from revcycle.gateway.testgw import ach
from revcycle.gateway.testgw.delivery import new_id, queue_event
from revcycle.gateway.testgw.models import TestgwBankDebit, TestgwBankToken
from revcycle.kit.clock import today, utcnow

EVENT_PREFIX = "bank_debit."


class BankAccountRefused(Exception):
    """Tokenisation refused the account details. Never carries them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class BankTokenResult:
    id: str
    bank: BankAccountDetails


def tokenize_bank(
    session: Session,
    *,
    fingerprint_key: bytes,
    routing_number: str,
    account_number: str,
    account_type: str,
    holder_name: str,
) -> BankTokenResult:
    """Check the account and exchange it for a ``btok_...``. Stored: routing number, bank name
    (when known), type, last 4, a keyed fingerprint; the holder name is checked, then dropped."""
    routing = ach.normalise(routing_number)
    account = ach.normalise(account_number)
    if not ach.routing_ok(routing):
        raise BankAccountRefused(
            "routing_number_invalid", "The routing number is not valid (9 digits, ABA checksum)"
        )
    if not ach.account_ok(account):
        raise BankAccountRefused(
            "account_number_invalid", "The account number is not valid (4 to 17 digits)"
        )
    if account_type not in ach.ACCOUNT_TYPES:
        raise BankAccountRefused("account_type_invalid", "The account type is checking or savings")
    if not holder_name.strip():
        raise BankAccountRefused("account_holder_name_missing", "The account holder's name")
    token = TestgwBankToken(
        id=new_id("btok"),
        routing_number=routing,
        bank_name=ach.BANK_NAMES.get(routing),
        account_type=account_type,
        last4=account[-4:],
        fingerprint=hmac.new(
            fingerprint_key, f"{routing}:{account}".encode(), hashlib.sha256
        ).hexdigest(),
        scenario=ach.scenario(account).value,
    )
    session.add(token)
    session.flush()
    return BankTokenResult(token.id, _details(token))


def _details(token: TestgwBankToken) -> BankAccountDetails:
    return BankAccountDetails(
        token.last4, token.routing_number, token.account_type, token.bank_name
    )


def _view(session: Session, row: TestgwBankDebit) -> Charge:
    token = session.get(TestgwBankToken, row.token_id)
    settled = row.status in (ChargeStatus.SUCCEEDED.value, ChargeStatus.RETURNED.value)
    return Charge(
        id=row.id,
        status=ChargeStatus(row.status),
        amount_minor=row.amount_minor,
        currency=row.currency,
        card=None,
        captured_minor=row.amount_minor if settled else 0,  # a settled debit is fully "captured"
        metadata=json.loads(row.metadata_json),
        bank=None if token is None else _details(token),
        return_code=row.return_code,
    )


def debit_json(c: Charge) -> dict[str, object]:
    return {
        "id": c.id,
        "object": "bank_debit",
        "status": c.status.value,
        "amount": c.amount_minor,
        "currency": c.currency,
        "return_code": c.return_code,
        "bank_account": None
        if c.bank is None
        else {
            "last4": c.bank.last4,
            "routing_number": c.bank.routing_number,
            "account_type": c.bank.account_type,
            "bank_name": c.bank.bank_name,
        },
        "metadata": dict(c.metadata),
    }


def _emit(session: Session, status: ChargeStatus, charge: Charge) -> None:
    queue_event(session, EVENT_PREFIX + status.value, {"object": debit_json(charge)})


def _request_hash(token: str, amount_minor: int, currency: str) -> str:
    return hashlib.sha256(json.dumps(["bank", token, amount_minor, currency]).encode()).hexdigest()


def _by_key(session: Session, key: str) -> TestgwBankDebit | None:
    return session.scalar(select(TestgwBankDebit).where(TestgwBankDebit.idempotency_key == key))


def _replay(session: Session, row: TestgwBankDebit, request_hash: str) -> Charge:
    if row.request_hash != request_hash:
        raise GatewayRefused(
            "This idempotency key was used with different parameters",
            code="idempotency_key_reused",
        )
    return _view(session, row)


def debit_in(
    session: Session,
    *,
    bank_token: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    metadata: Mapping[str, str] | None = None,
    on: dt.date | None = None,
) -> tuple[Charge, ach.Scenario | None]:
    """Submit a debit (status processing, settling two banking days after ``on``). Returns the
    debit and its account's scenario (None for a replay of the same key)."""
    request_hash = _request_hash(bank_token, amount_minor, currency)
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return _replay(session, existing, request_hash), None
    if amount_minor <= 0:
        raise GatewayRefused("The amount must be positive", code="amount_invalid")
    if currency != "USD":
        raise GatewayRefused("Bank debits are in USD only", code="currency_unsupported")
    token = session.get(TestgwBankToken, bank_token)
    if token is None:
        raise GatewayRefused("No such bank token", code="resource_missing")
    row = TestgwBankDebit(
        id=new_id("py"),
        token_id=token.id,
        status=ChargeStatus.PROCESSING.value,
        return_code=None,
        amount_minor=amount_minor,
        currency=currency,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        metadata_json=json.dumps(dict(metadata or {}), sort_keys=True),
        settles_on=ach.add_banking_days(on or today(), ach.SETTLEMENT_BANKING_DAYS),
    )
    session.add(row)
    session.flush()
    charge = _view(session, row)
    _emit(session, ChargeStatus.PROCESSING, charge)
    return charge, ach.Scenario(token.scenario)


def settle_in(session: Session, as_of: dt.date) -> dict[str, int]:
    """Settle processing debits due by ``as_of`` (succeeded, or failed with the account's return
    code) and return settled debits whose late return is due. Counts per new status."""
    counts: dict[str, int] = {}
    due = session.scalars(
        select(TestgwBankDebit)
        .where(
            (
                (TestgwBankDebit.status == ChargeStatus.PROCESSING.value)
                & (TestgwBankDebit.settles_on <= as_of)
            )
            | (
                (TestgwBankDebit.status == ChargeStatus.SUCCEEDED.value)
                & (TestgwBankDebit.returns_on <= as_of)
            )
        )
        .order_by(TestgwBankDebit.created_at, TestgwBankDebit.id)
        .with_for_update(skip_locked=True)
    ).all()
    for row in due:
        token = session.get(TestgwBankToken, row.token_id)
        scenario = ach.Scenario(token.scenario) if token else ach.Scenario.SETTLE
        if row.status == ChargeStatus.SUCCEEDED.value:
            _return(session, row, ReturnCode.INSUFFICIENT_FUNDS)
        elif scenario in ach.RETURN_CODES:
            row.status = ChargeStatus.FAILED.value
            row.return_code = ach.RETURN_CODES[scenario].value
            row.returned_at = utcnow()
            session.flush()
            _emit(session, ChargeStatus.FAILED, _view(session, row))
        else:
            row.status = ChargeStatus.SUCCEEDED.value
            row.settled_at = utcnow()
            if scenario is ach.Scenario.RETURN_AFTER_SETTLEMENT:
                row.returns_on = ach.add_banking_days(row.settles_on, ach.LATE_RETURN_BANKING_DAYS)
            session.flush()
            _emit(session, ChargeStatus.SUCCEEDED, _view(session, row))
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _return(session: Session, row: TestgwBankDebit, code: ReturnCode) -> None:
    row.status = ChargeStatus.RETURNED.value
    row.return_code = code.value
    row.returned_at = utcnow()
    row.returns_on = None
    session.flush()
    _emit(session, ChargeStatus.RETURNED, _view(session, row))


def return_in(session: Session, debit_id: str, code: ReturnCode) -> Charge:
    """Test helper (like a real sandbox's "simulate a return"): the bank returns a debit now,
    before settlement (failed) or after it (returned)."""
    row = session.scalar(
        select(TestgwBankDebit).where(TestgwBankDebit.id == debit_id).with_for_update()
    )
    if row is None:
        raise GatewayRefused("No such debit", code="resource_missing")
    if row.status == ChargeStatus.PROCESSING.value:
        row.status = ChargeStatus.FAILED.value
        row.return_code = code.value
        row.returned_at = utcnow()
        session.flush()
        _emit(session, ChargeStatus.FAILED, _view(session, row))
    elif row.status == ChargeStatus.SUCCEEDED.value:
        _return(session, row, code)
    else:
        raise GatewayRefused("The debit was returned already", code="debit_already_returned")
    return _view(session, row)


def view_in(session: Session, debit_id: str) -> Charge:
    row = session.get(TestgwBankDebit, debit_id)
    if row is None:
        raise GatewayRefused("No such debit", code="resource_missing")
    return _view(session, row)


def settle(factory: sessionmaker[Session], as_of: dt.date) -> dict[str, int]:
    """What the bank network does each banking day (``revcycle gateway settle-bank``)."""
    with unit_of_work(factory) as s:
        return settle_in(s, as_of)


def return_debit(factory: sessionmaker[Session], debit_id: str, code: ReturnCode) -> Charge:
    with unit_of_work(factory) as s:
        return return_in(s, debit_id, code)


class BankDebits:
    """:class:`revcycle.gateway.base.BankDebitGateway` for the test gateway (mixed into
    :class:`revcycle.gateway.testgw.service.TestGateway`)."""

    factory: sessionmaker[Session]

    def debit(
        self,
        bank_token: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Charge:
        try:
            with unit_of_work(self.factory) as s:
                charge, scenario = debit_in(
                    s,
                    bank_token=bank_token,
                    amount_minor=amount_minor,
                    currency=currency,
                    idempotency_key=idempotency_key,
                    metadata=metadata,
                )
        except IntegrityError:
            # A concurrent debit with the same key won the INSERT: answer with its debit.
            with unit_of_work(self.factory) as s:
                existing = _by_key(s, idempotency_key)
                if existing is None:
                    raise
                return _replay(s, existing, _request_hash(bank_token, amount_minor, currency))
        if scenario is ach.Scenario.TIMEOUT:
            raise GatewayTimeout()  # the debit exists; the answer is lost on the way back
        return charge

    def retrieve_bank_token(self, bank_token: str) -> BankAccountDetails:
        with unit_of_work(self.factory) as s:
            token = s.get(TestgwBankToken, bank_token)
            if token is None:
                raise GatewayRefused("No such bank token", code="resource_missing")
            return _details(token)

    def retrieve_debit(self, debit_id: str) -> Charge:
        with unit_of_work(self.factory) as s:
            return view_in(s, debit_id)

    def find_debit_by_idempotency_key(self, idempotency_key: str) -> Charge | None:
        with unit_of_work(self.factory) as s:
            row = _by_key(s, idempotency_key)
            return None if row is None else _view(s, row)
