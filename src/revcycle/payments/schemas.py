from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from revcycle.kit.schemas import CurrencyCode, PositiveAmount, ReadSchema, Schema, Text60


class PaymentMethod(StrEnum):
    CASH = "cash"
    CHECK = "check"
    # With a gateway ``token``: charged through the gateway (docs/payments.md). Without one: a
    # card payment taken on a terminal outside revcycle, recorded like cash.
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"


class AllocationIn(Schema):
    invoice_id: uuid.UUID
    amount: PositiveAmount


# What the gateway's tokenisation page returns (``tok_...``); opaque to revcycle.
GatewayToken = Annotated[str, StringConstraints(pattern=r"^tok_[A-Za-z0-9_]{8,64}$", max_length=68)]
# What the gateway's bank-account tokenisation returns (``btok_...``; docs/bank-transfers.md).
BankToken = Annotated[str, StringConstraints(pattern=r"^btok_[A-Za-z0-9_]{8,64}$", max_length=69)]
# Keys that would carry a raw bank account: refused like card numbers (tokenise at the gateway).
_BANK_ACCOUNT_KEYS = frozenset({"account_number", "routing_number", "bank_account", "iban"})

_PAN_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_PLAIN_RUN = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")
_UUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_TOKEN = re.compile(r"^b?tok_[A-Za-z0-9_]{8,64}$")
# Issuer prefixes and lengths of the card networks (Visa, Mastercard, Amex, Discover, JCB,
# Diners). A real ACH trace number starts with a routing number (Federal Reserve district 01-12,
# 21-32, 61-72, 80), never with Amex's 34/37, so it is not mistaken for a card.
_NETWORKS = re.compile(
    r"^(?:4(?:[0-9]{12}|[0-9]{15}|[0-9]{18})"
    r"|(?:5[1-5][0-9]{2}|222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}"
    r"|3[47][0-9]{13}"
    r"|(?:6011|65[0-9]{2}|64[4-9][0-9])[0-9]{12,15}"
    r"|35[0-9]{14,17}"
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11,16})$"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_card_number(value: str) -> bool:
    """13-19 digits (spaces or dashes between them allowed) with a card network's prefix and
    length, passing the Luhn check. Ids (UUIDs) are not card numbers."""
    if _UUID.match(value.strip()):
        return False
    # Grouped runs ("4242 4242 4242 4242"), then plain runs (a number right after other digits
    # and a space would otherwise hide inside a longer grouped run).
    runs = [re.sub(r"[ -]", "", m.group()) for m in _PAN_LIKE.finditer(value)]
    runs += _PLAIN_RUN.findall(value)
    return any(_NETWORKS.match(d) and _luhn(d) for d in runs)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if not _TOKEN.match(value):  # a gateway token may hold a digit run by chance
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class PaymentCreate(Schema):
    patient_id: uuid.UUID
    amount: PositiveAmount
    currency: CurrencyCode | None = None
    method: PaymentMethod
    received_on: dt.date | None = None
    reference: Text60 | None = None
    # Omit to apply oldest-due first; whatever is left becomes patient credit.
    allocations: Annotated[list[AllocationIn], Field(max_length=100)] | None = None
    # A gateway token for method "card" (never a card number: those are refused, unlogged).
    token: GatewayToken | None = None
    # A gateway bank token for method "bank_transfer": an ACH-style debit (never an account
    # number). Without one, a bank transfer received outside revcycle is recorded like cash.
    bank_token: BankToken | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_bank_accounts(cls, data: Any) -> Any:
        if isinstance(data, dict) and _BANK_ACCOUNT_KEYS & set(data):
            raise PydanticCustomError(
                "payment.bank_account_refused",
                "bank account numbers are never accepted here: tokenise the account at the gateway",
            )
        return data

    @model_validator(mode="after")
    def _bank_token_method(self) -> PaymentCreate:
        if self.bank_token is not None and self.method is not PaymentMethod.BANK_TRANSFER:
            raise PydanticCustomError(
                "payment.token_not_for_method",
                "a gateway bank token goes with method bank_transfer only",
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _no_card_numbers(cls, data: Any) -> Any:
        if any(looks_like_card_number(s) for s in _strings(data)):
            raise PydanticCustomError(
                "payment.card_number_refused",
                "card numbers are never accepted here: tokenise the card at the gateway",
            )
        return data

    @model_validator(mode="after")
    def _distinct(self) -> PaymentCreate:
        if self.token is not None and self.method is not PaymentMethod.CARD:
            raise PydanticCustomError(
                "payment.token_not_for_method", "a gateway token goes with method card only"
            )
        if self.allocations is not None:
            ids = [a.invoice_id for a in self.allocations]
            if len(set(ids)) != len(ids):
                raise ValueError("an invoice appears twice in allocations")
        return self


class AllocationRead(ReadSchema):
    invoice_id: uuid.UUID
    amount: str


class CardRead(ReadSchema):
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class BankAccountRead(ReadSchema):
    last4: str
    routing_number: str
    account_type: str
    bank_name: str | None


class PaymentRead(ReadSchema):
    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    method: str
    amount: str
    currency: str
    received_on: dt.date
    reference: str | None
    unapplied: str
    allocations: list[AllocationRead]
    created_at: dt.datetime
    # succeeded | pending (gateway outcome not known yet; no ledger entry) | requires_action
    # (3-D Secure; next_action_url) | declined | failed
    status: str = "succeeded"
    card: CardRead | None = None
    gateway_charge_id: str | None = None
    decline_code: str | None = None
    # Gateway bank transfers: pending until settled; returned (NACHA return_code) if it bounced.
    bank_account: BankAccountRead | None = None
    return_code: str | None = None
    settled_at: dt.datetime | None = None
    returned_at: dt.datetime | None = None
    # requires_action: send the cardholder here to complete 3-D Secure (the gateway's page)
    next_action_url: str | None = None
