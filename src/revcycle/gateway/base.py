"""The interface revcycle uses to move card money through a gateway.

Tokenisation is deliberately **not** here: card numbers are entered on a page served by the
gateway component and exchanged there for an opaque ``tok_...``; revcycle only ever sees the token,
brand, last 4 and expiry. Every money-moving call takes an idempotency key that the gateway
honours (same key, same call -> the same charge/refund, never two), so a retry after a timeout is
always safe. Amounts are integer minor units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # authorised (and captured if ``captured``)
    REQUIRES_ACTION = "requires_action"  # 3-D Secure style challenge; nothing is authorised
    DECLINED = "declined"  # see ``decline_code``
    PENDING = "pending"  # the gateway has not decided yet; ask again with retrieve()


class DeclineCode(StrEnum):
    """Decline codes as the real gateways spell them (Stripe's ``decline_code``)."""

    CARD_DECLINED = "card_declined"
    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"


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
    ) -> Charge:
        """Authorise ``amount_minor`` on the card behind ``token``. A declined card is a Charge
        with status DECLINED (not an exception). Same key + same parameters -> the same Charge."""
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
