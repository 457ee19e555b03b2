"""Card-number checks and the Stripe-style test cards (pure code, no I/O)."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum


class Scenario(StrEnum):
    """What the test gateway does when a token made from this card is charged."""

    APPROVE = "approve"
    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    REQUIRES_ACTION = "requires_action"
    TIMEOUT = "timeout"  # records the charge, then the answer is lost (GatewayTimeout)


TEST_CARDS: dict[str, Scenario] = {
    "4242424242424242": Scenario.APPROVE,
    "5555555555554444": Scenario.APPROVE,
    "378282246310005": Scenario.APPROVE,
    "4000000000000002": Scenario.GENERIC_DECLINE,
    "4000000000009995": Scenario.INSUFFICIENT_FUNDS,
    "4000000000000069": Scenario.EXPIRED_CARD,
    "4000000000000127": Scenario.INCORRECT_CVC,
    "4000000000000119": Scenario.PROCESSING_ERROR,
    "4000002500003155": Scenario.REQUIRES_ACTION,
    "4000000000000408": Scenario.TIMEOUT,
}

_DIGITS = re.compile(r"^[0-9]{12,19}$")
_CVC = re.compile(r"^[0-9]{3,4}$")


def normalise(number: str) -> str:
    """Digits only: spaces and dashes, as people type them, are dropped."""
    return number.replace(" ", "").replace("-", "")


def luhn_ok(digits: str) -> bool:
    if not _DIGITS.match(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720":
        return "mastercard"
    if digits.startswith("6011") or digits.startswith("65"):
        return "discover"
    return "unknown"


def cvc_ok(cvc: str, card_brand: str) -> bool:
    if not _CVC.match(cvc):
        return False
    return len(cvc) == (4 if card_brand == "amex" else 3)


def expired(exp_month: int, exp_year: int, today: dt.date) -> bool:
    """A card is valid through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def scenario(digits: str) -> Scenario:
    """Any other valid number is approved, like a real test gateway's generic cards."""
    return TEST_CARDS.get(digits, Scenario.APPROVE)
