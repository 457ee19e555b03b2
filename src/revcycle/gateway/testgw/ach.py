"""Bank-account checks and the ACH-style test accounts (pure code, no I/O).

Routing numbers are checked with python-stdnum's ``us.rtn`` (9 digits, ABA checksum with
weights 3-7-1). The magic account numbers are modelled on Stripe's ACH test accounts;
docs/bank-transfers.md lists them.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from stdnum.exceptions import ValidationError
from stdnum.us import rtn

from revcycle.gateway.base import ReturnCode

SETTLEMENT_BANKING_DAYS = 2  # processing -> settled
LATE_RETURN_BANKING_DAYS = 2  # settled -> returned (scenario RETURN_AFTER_SETTLEMENT)
ACCOUNT_TYPES = ("checking", "savings")


class Scenario(StrEnum):
    """What the test gateway does with a debit on an account."""

    SETTLE = "settle"
    INSUFFICIENT_FUNDS = "R01"
    ACCOUNT_CLOSED = "R02"
    NO_ACCOUNT = "R03"
    INVALID_ACCOUNT_NUMBER = "R04"
    RETURN_AFTER_SETTLEMENT = "return_after_settlement"  # settles, then R01 two days later
    TIMEOUT = "timeout"  # records the debit, then the answer is lost (GatewayTimeout)


TEST_ROUTING_NUMBER = "110000000"
TEST_ACCOUNTS: dict[str, Scenario] = {
    "000123456789": Scenario.SETTLE,
    "000222222227": Scenario.INSUFFICIENT_FUNDS,
    "000111111113": Scenario.ACCOUNT_CLOSED,
    "000111111116": Scenario.NO_ACCOUNT,
    "000444444440": Scenario.INVALID_ACCOUNT_NUMBER,
    "000666666661": Scenario.RETURN_AFTER_SETTLEMENT,
    "000888888885": Scenario.TIMEOUT,
}
# The few routing numbers whose bank the test gateway can name (a real one has the FedACH list).
BANK_NAMES = {
    TEST_ROUTING_NUMBER: "Test Bank",
    "011000015": "Federal Reserve Bank of Boston",
    "021000021": "JPMorgan Chase Bank",
    "026009593": "Bank of America",
}
RETURN_CODES = {
    Scenario.INSUFFICIENT_FUNDS: ReturnCode.INSUFFICIENT_FUNDS,
    Scenario.ACCOUNT_CLOSED: ReturnCode.ACCOUNT_CLOSED,
    Scenario.NO_ACCOUNT: ReturnCode.NO_ACCOUNT,
    Scenario.INVALID_ACCOUNT_NUMBER: ReturnCode.INVALID_ACCOUNT_NUMBER,
}

_ACCOUNT = re.compile(r"^[0-9]{4,17}$")


def normalise(value: str) -> str:
    """Digits as people type them: spaces and dashes dropped."""
    return value.replace(" ", "").replace("-", "")


def routing_ok(routing: str) -> bool:
    """9 digits with a valid ABA checksum (python-stdnum ``us.rtn``)."""
    if not re.fullmatch(r"[0-9]{9}", routing):
        return False
    try:
        rtn.validate(routing)
    except ValidationError:
        return False
    return True


def account_ok(account: str) -> bool:
    return bool(_ACCOUNT.match(account))


def scenario(account: str) -> Scenario:
    """Any other valid account settles, like a real test gateway's generic accounts."""
    return TEST_ACCOUNTS.get(account, Scenario.SETTLE)


def add_banking_days(day: dt.date, n: int) -> dt.date:
    """``n`` Monday-to-Friday days after ``day`` (bank holidays are not modelled)."""
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day
