"""Every rule as a pure function: it fires at its threshold and not one below, and says so with
the numbers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from revcycle.fraud import rules
from revcycle.fraud.rules import BY_CODE, RuleAction, Subject, band_floor, effective, evaluate

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def subject(**kw: Any) -> Subject:
    base: dict[str, Any] = {
        "kind": "payment",
        "practice_id": uuid.uuid4(),
        "currency": "USD",
        "now": NOW,
        "amount_minor": 500,
        "method": "card",
    }
    return Subject(**(base | kw))


def check(code: str, s: Subject, facts: dict[str, int], **params: int) -> str | None:
    eff = effective(BY_CODE[code], (True, None, params) if params else None)
    finding = evaluate(s, eff, facts)
    return None if finding is None else finding.explanation


def test_card_testing_per_fingerprint_and_per_user() -> None:
    s = subject()
    assert check("card_testing", s, {"fingerprint_declines": 2, "user_declines": 4}) is None
    assert check("card_testing", s, {"fingerprint_declines": 3, "user_declines": 0}) == (
        "3 declines for small amounts (up to 10.00) on this card fingerprint in 10 minutes "
        "(limit 3)"
    )
    assert check("card_testing", s, {"fingerprint_declines": 0, "user_declines": 5}) == (
        "5 declines for small amounts (up to 10.00) on card payments taken by this user in "
        "10 minutes (limit 5)"
    )


def test_card_testing_per_client_address() -> None:
    s = subject()
    below = {"fingerprint_declines": 2, "user_declines": 4, "address_declines": 9}
    assert check("card_testing", s, below) is None
    assert check("card_testing", s, below | {"address_declines": 10}) == (
        "10 declines for small amounts (up to 10.00) on card payments from this client address "
        "in 10 minutes (limit 10)"
    )
    assert check("card_testing", s, {"address_declines": 3}, address_declines=3) == (
        "3 declines for small amounts (up to 10.00) on card payments from this client address "
        "in 10 minutes (limit 3)"
    )
    # the card and the user are named first when several limits are reached
    assert check("card_testing", s, {"fingerprint_declines": 3, "address_declines": 10}) == (
        "3 declines for small amounts (up to 10.00) on this card fingerprint in 10 minutes "
        "(limit 3)"
    )


def test_card_many_patients() -> None:
    s = subject()
    assert check("card_many_patients", s, {"patients": 2}) is None
    assert check("card_many_patients", s, {"patients": 3}) == (
        "This card fingerprint was used for 3 patients in 7 days (limit 3)"
    )


def test_duplicate_payment() -> None:
    s = subject(method="cash", amount_minor=12000)
    assert check("duplicate_payment", s, {"duplicates": 0}) is None
    assert check("duplicate_payment", s, {"duplicates": 1}) == (
        "1 other cash payment of 120.00 for this patient in 10 minutes (limit 1)"
    )
    assert check("duplicate_payment", s, {"duplicates": 1}, duplicates=2) is None


def test_refund_method_mismatch() -> None:
    same = subject(kind="refund", method="cash", paid_method="cash")
    assert check("refund_method_mismatch", same, {}) is None
    other = subject(kind="refund", method="cash", paid_method="card")
    assert check("refund_method_mismatch", other, {}) == (
        "Refund by cash of a payment made by card"
    )


def test_just_under_limit_band_and_repeats() -> None:
    assert band_floor(50000, 5) == 47500
    assert band_floor(999, 5) == 950  # 949.05 rounded up: 949 is outside
    under = subject(kind="refund", amount_minor=47500, approval_limit_minor=50000)
    assert check("refund_just_under_limit", under, {"in_band": 0}) is None  # once is no pattern
    assert check("refund_just_under_limit", under, {"in_band": 1}) == (
        "2 refunds by this user within 5% below the 500.00 approval limit in 7 days (limit 2); "
        "this one is 475.00"
    )
    below_band = subject(kind="refund", amount_minor=47499, approval_limit_minor=50000)
    assert check("refund_just_under_limit", below_band, {"in_band": 5}) is None
    at_limit = subject(kind="refund", amount_minor=50000, approval_limit_minor=50000)
    assert check("refund_just_under_limit", at_limit, {"in_band": 1}) is not None
    no_limit = subject(kind="refund", amount_minor=47500, approval_limit_minor=None)
    assert check("refund_just_under_limit", no_limit, {"in_band": 9}) is None


@pytest.mark.parametrize(
    ("refunded", "collected", "fires"),
    [
        (50000, 100000, True),  # exactly 50 %
        (49999, 100000, False),  # 49.999 %
        (9999, 0, False),  # below the minimum refunded
        (10000, 0, True),  # nothing collected at all
        (10000, 20000, True),
    ],
)
def test_refund_ratio(refunded: int, collected: int, fires: bool) -> None:
    s = subject(kind="periodic")
    got = check("refund_ratio", s, {"refunded_minor": refunded, "collected_minor": collected})
    assert (got is not None) == fires
    if refunded == 50000:
        assert got == (
            "This user refunded 500.00 against 1000.00 collected in 7 days: 50% "
            "(limit 50%, from 100.00 refunded)"
        )


def test_invoice_paid_twice() -> None:
    s = subject(kind="periodic", method="cash", amount_minor=12000, label="invoice INV-000001")
    facts = {"invoice_total_minor": 12000, "unapplied_minor": 12000, "minutes_apart": 3}
    assert check("invoice_paid_twice", s, facts) == (
        "A cash payment of 120.00 went entirely to patient credit although invoice INV-000001 "
        "of 120.00 was already paid by another payment 3 minutes earlier (window 3 days)"
    )
    assert check("invoice_paid_twice", s, facts | {"invoice_total_minor": 12001}) is None
    assert check("invoice_paid_twice", s, facts | {"unapplied_minor": 11999}) is None


def test_overrides_merge_and_disable() -> None:
    rule = BY_CODE["duplicate_payment"]
    eff = effective(rule, (True, "block", {"window_minutes": 30, "bogus": 1}))
    assert (eff.action, dict(eff.params)) == (
        RuleAction.BLOCK,
        {"window_minutes": 30, "duplicates": 1},
    )
    off = effective(rule, (False, None, {}))
    assert evaluate(subject(method="cash"), off, {"duplicates": 9}) is None


def test_decisive_is_the_strongest_action() -> None:
    flag = rules.Finding("a", RuleAction.FLAG, "x")
    block = rules.Finding("b", RuleAction.BLOCK, "y")
    hold = rules.Finding("c", RuleAction.HOLD, "z")
    assert rules.decisive([flag, hold, block]).rule == "b"
    assert rules.decisive([flag, hold]).rule == "c"


def test_spans() -> None:
    assert [rules.span(m) for m in (1, 10, 60, 120, 1440, 4320, 10080)] == [
        "1 minute",
        "10 minutes",
        "60 minutes",
        "2 hours",
        "24 hours",
        "3 days",
        "7 days",
    ]
