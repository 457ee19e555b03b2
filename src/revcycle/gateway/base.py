"""The interface revcycle uses to move card money through a gateway.

Tokenisation is deliberately **not** here: card numbers are entered on a page served by the
gateway component and exchanged there for an opaque ``tok_...``; revcycle only ever sees the token,
brand, last 4 and expiry. Every money-moving call takes an idempotency key that the gateway
honours (same key, same call -> the same charge/refund, never two), so a retry after a timeout is
always safe. Amounts are integer minor units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # authorised (and captured if ``captured``)
    REQUIRES_ACTION = "requires_action"  # 3-D Secure style challenge; nothing is authorised
    DECLINED = "declined"  # see ``decline_code``
    PENDING = "pending"  # the gateway has not decided yet; ask again with retrieve()
    # Bank debits (ACH-style, docs/bank-transfers.md): submitted, not settled yet ...
    PROCESSING = "processing"
    # ... then SUCCEEDED (settled), FAILED (returned before settlement, ``return_code``) or,
    # after SUCCEEDED, RETURNED (the bank returned a settled debit, ``return_code``).
    FAILED = "failed"
    RETURNED = "returned"


class DeclineCode(StrEnum):
    """Decline codes as the real gateways spell them (Stripe's ``decline_code``)."""

    CARD_DECLINED = "card_declined"
    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    # 3-D Secure: the cardholder failed the challenge / never completed it in time
    AUTHENTICATION_FAILED = "authentication_failed"
    AUTHENTICATION_EXPIRED = "authentication_expired"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class CardDetails:
    """What may be stored about a card: never the number, never the CVC."""

    brand: str  # visa | mastercard | amex | discover | unknown
    last4: str
    exp_month: int
    exp_year: int


class ReturnCode(StrEnum):
    """NACHA return reason codes the test gateway produces (a real gateway passes others too)."""

    INSUFFICIENT_FUNDS = "R01"
    ACCOUNT_CLOSED = "R02"
    NO_ACCOUNT = "R03"
    INVALID_ACCOUNT_NUMBER = "R04"


@dataclass(frozen=True)
class BankAccountDetails:
    """What may be stored about a bank account: never the account number."""

    last4: str
    routing_number: str  # public (it names the bank), kept for the payment record
    account_type: str  # checking | savings
    bank_name: str | None = None


@dataclass(frozen=True)
class Charge:
    id: str  # "ch_..."
    status: ChargeStatus
    amount_minor: int  # authorised amount
    currency: str
    card: CardDetails | None
    captured_minor: int = 0
    refunded_minor: int = 0
    voided: bool = False
    decline_code: DeclineCode | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    bank: BankAccountDetails | None = None  # bank debits only
    return_code: str | None = None  # bank debits: FAILED / RETURNED with a NACHA code
    # REQUIRES_ACTION: where the cardholder completes the challenge (served by the gateway)
    next_action_url: str | None = None

    @property
    def captured(self) -> bool:
        return self.captured_minor > 0

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


@dataclass(frozen=True)
class RefundResult:
    id: str  # "re_..."
    charge_id: str
    status: RefundStatus
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class SettlementLine:
    """One money movement a settlement (payout) covers: a captured charge or a refund."""

    kind: str  # "charge" | "refund"
    id: str  # ch_... / re_...
    charge_id: str
    amount_minor: int  # positive for both kinds
    fee_minor: int = 0  # the gateway's processing fee on a charge (not returned on refunds)


@dataclass(frozen=True)
class SettlementReport:
    """What the gateway pays out for one day: captured - refunded - fees (may be negative)."""

    day: dt.date
    payout_id: str
    currency: str
    gross_minor: int
    refunded_minor: int
    fees_minor: int
    lines: tuple[SettlementLine, ...]

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.refunded_minor - self.fees_minor


class GatewayError(Exception):
    """Base of the gateway's own failures. Messages never carry card data or input values."""

    code: str = "gateway.error"


class GatewayTimeout(GatewayError):
    """No answer in time: the call may or may not have happened. Recover with retrieve() (or
    repeat the call with the same idempotency key); never retry with a new key."""

    code = "gateway.timeout"

    def __init__(
        self, message: str = "The gateway did not answer in time", *, charge_id: str | None = None
    ) -> None:
        super().__init__(message)
        # Set when the gateway is known to have recorded a charge before the answer was lost.
        self.charge_id = charge_id


class GatewayUnavailable(GatewayError):
    """The gateway refused to take the call (down, overloaded): nothing happened; retry later."""

    code = "gateway.unavailable"


class GatewayRefused(GatewayError):
    """A call the gateway's own state rules refuse: unknown token/charge, capture after void,
    refund above captured minus refunded, the same idempotency key with different parameters."""

    code = "gateway.refused"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@runtime_checkable
class PaymentGateway(Protocol):
    """What revcycle needs from a card gateway. Implementations: ``testgw.client.TestGateway``."""

    provider: str  # "testgw", "stripe"... — the namespace of charge ids and webhook event ids

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
        """Authorise ``amount_minor`` on the card behind ``token``. A declined card is a Charge
        with status DECLINED (not an exception). Same key + same parameters -> the same Charge.
        ``capture=True`` authorises and captures in one call when the card is approved (Stripe's
        ``capture_method=automatic``): one round trip instead of two. A replay of the key answers
        the charge as it is (possibly authorised only, if the first call did not capture)."""
        ...

    def capture(self, charge_id: str, amount_minor: int | None = None) -> Charge:
        """Capture an authorised charge (all of it, or ``amount_minor`` of it). Idempotent: a
        second capture of a captured charge returns it unchanged."""
        ...

    def void(self, charge_id: str) -> Charge:
        """Release an authorisation that was not captured."""
        ...

    def refund(self, charge_id: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        """Refund up to captured minus already refunded. Same key -> the same refund."""
        ...

    def describe_token(self, token: str) -> CardDetails | None:
        """The card behind a token (brand, last 4, expiry), or None for an unknown token: what
        revcycle shows for a stored payment method (docs/payment-plans.md)."""
        ...

    def retrieve(self, charge_id: str) -> Charge:
        """The charge as the gateway knows it now (used to recover timed-out calls)."""
        ...

    def find_by_idempotency_key(self, idempotency_key: str) -> Charge | None:
        """The charge an authorize() with this key created, if any (recovery when a timeout lost
        even the charge id)."""
        ...

    def card_fingerprint(self, token: str) -> str | None:
        """The gateway's fingerprint of the card behind ``token`` (the same card gives the same
        value across tokens; Stripe: ``payment_method.card.fingerprint``), None if unknown. Read
        before charging so fraud rules can refuse a charge (docs/fraud.md)."""
        ...

    def settlement_report(self, day: dt.date) -> SettlementReport:
        """The day's settlement: every charge captured and refund made that day (UTC), the fees,
        and the payout id (for reconciliation; ``revcycle reconcile settlement``)."""
        ...


@runtime_checkable
class BankDebitGateway(Protocol):
    """Bank debits (ACH-style) on an opaque bank token (``btok_...``, made by the gateway
    component from routing + account number). A debit answers PROCESSING; it settles (or comes
    back returned) days later, told by a webhook or found by :meth:`retrieve_debit`. A settled
    debit can still be RETURNED later. Same idempotency key + same parameters -> the same debit."""

    provider: str

    def retrieve_bank_token(self, bank_token: str) -> BankAccountDetails:
        """What the token stands for (last 4, routing number, type, bank name); GatewayRefused
        ``resource_missing`` for an unknown token. Called before anything is recorded."""
        ...

    def debit(
        self,
        bank_token: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Charge:
        """Submit a debit. Raises GatewayTimeout (the debit may exist: recover by key),
        GatewayUnavailable (nothing happened) or GatewayRefused (unknown token, bad amount,
        currency the account can't take, key reused with other parameters)."""
        ...

    def retrieve_debit(self, debit_id: str) -> Charge:
        """The debit as the gateway knows it now."""
        ...

    def find_debit_by_idempotency_key(self, idempotency_key: str) -> Charge | None:
        """The debit a debit() with this key created, if any."""
        ...


# --- several charges in one call (autopay) -----------------------------------------------------


@dataclass(frozen=True)
class ChargeRequest:
    """One authorise-and-capture of :func:`charge_many`: the same parameters as
    :meth:`PaymentGateway.authorize` with ``capture=True``."""

    token: str
    amount_minor: int
    currency: str
    idempotency_key: str
    metadata: Mapping[str, str] = field(default_factory=dict)


# Per request: the charge, or the error a single authorize() would have raised for it
# (GatewayTimeout, GatewayUnavailable, GatewayRefused).
ChargeResult = Charge | GatewayError


@runtime_checkable
class BatchChargeGateway(Protocol):
    """A gateway that takes several charges in one call (the test gateway: one transaction)."""

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
        """Authorise and capture every request; one result per request, in order. Each request
        keeps its own idempotency key: a repeat of the call answers the same charges."""
        ...


def charge_many(gateway: PaymentGateway, requests: Sequence[ChargeRequest]) -> list[ChargeResult]:
    """Authorise and capture ``requests`` (one result per request, in order): through the
    gateway's own :meth:`BatchChargeGateway.charge_many` when it has one, else one
    ``authorize(..., capture=True)`` per request -- real card gateways have no batch charge API,
    so there the throughput of a run comes from running several workers. After the first
    ``GatewayUnavailable`` nothing more is sent: that request and every later one answer
    ``GatewayUnavailable`` (nothing happened for any of them)."""
    if isinstance(gateway, BatchChargeGateway):
        return gateway.charge_many(requests)
    return charge_one_by_one(gateway, requests)


def charge_one_by_one(
    gateway: PaymentGateway, requests: Sequence[ChargeRequest]
) -> list[ChargeResult]:
    """:func:`charge_many` for a gateway without a batch call: one authorise-and-capture each."""
    out: list[ChargeResult] = []
    for i, r in enumerate(requests):
        try:
            out.append(
                gateway.authorize(
                    r.token,
                    r.amount_minor,
                    r.currency,
                    r.idempotency_key,
                    r.metadata,
                    capture=True,
                )
            )
        except GatewayUnavailable as exc:
            out.extend([exc] * (len(requests) - i))
            break
        except GatewayError as exc:
            out.append(exc)
    return out
