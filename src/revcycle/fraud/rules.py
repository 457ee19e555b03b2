"""The fraud and error rules: data-driven definitions with defaults in code, each check a small
pure function over a :class:`Subject` (the attempt) and the numbers the repository counted for
it (:data:`Facts`). A rule answers a :class:`Finding` with a human explanation that carries the
numbers, or None. Practices override ``enabled``, ``action`` and any parameter
(``fraud_rule_configs``); see docs/fraud.md for every rule.

Parameters are integers: minutes, counts, percentages and amounts in minor units of the
practice's currency. Every threshold is inclusive: a rule fires *at* its limit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from revcycle.money import Money

Facts = Mapping[str, int]
Params = Mapping[str, int]


class RuleAction(StrEnum):
    BLOCK = "block"  # refused (4xx fraud.blocked); only the review row is written
    HOLD = "hold"  # not executed; parked for a reviewer to approve (executes) or reject
    FLAG = "flag"  # executed; a review item is opened


SEVERITY = {RuleAction.FLAG: 1, RuleAction.HOLD: 2, RuleAction.BLOCK: 3}

# When a rule is checked.
PAYMENT, REFUND, PERIODIC = "payment", "refund", "periodic"


@dataclass(frozen=True)
class Subject:
    """What is being screened. ``kind``: payment | refund (before it executes) or periodic."""

    kind: str
    practice_id: uuid.UUID
    currency: str
    now: dt.datetime
    id: uuid.UUID | None = None  # the payment / refund row being screened (excluded from counts)
    patient_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None  # who makes the transaction
    amount_minor: int = 0
    method: str | None = None
    card_fingerprint: str | None = None
    # The caller's address as every stored digest it can have (fraud/addresses.py); () = none.
    client_addr_digests: tuple[str, ...] = ()
    paid_method: str | None = None  # refunds: the method of the payment refunded
    approval_limit_minor: int | None = None  # refunds: the caller's refund limit, if any
    label: str | None = None  # periodic: what the finding is about ("invoice INV-000003")


@dataclass(frozen=True)
class Finding:
    rule: str
    action: RuleAction
    explanation: str
    facts: Facts = field(default_factory=dict)
    params: Params = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "action": self.action.value,
            "explanation": self.explanation,
            "facts": dict(self.facts),
            "params": dict(self.params),
        }


Check = Callable[[Subject, Facts, Params], str | None]


@dataclass(frozen=True)
class Rule:
    code: str
    description: str
    applies_to: str  # payment | refund | periodic
    action: RuleAction  # default
    params: Params  # defaults
    check: Check  # pure: the explanation when the rule fires, else None


@dataclass(frozen=True)
class Effective:
    """A rule with a practice's overrides applied."""

    rule: Rule
    enabled: bool
    action: RuleAction
    params: Params


def money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def span(minutes: int) -> str:
    """10 -> "10 minutes", 1440 -> "24 hours", 10080 -> "7 days"."""
    if minutes % 1440 == 0 and minutes >= 2880:
        return f"{minutes // 1440} days"
    if minutes % 60 == 0 and minutes >= 120:
        return f"{minutes // 60} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def band_floor(limit_minor: int, margin_percent: int) -> int:
    """The smallest amount "just under" ``limit_minor``: within ``margin_percent`` below it
    (rounded up to the minor unit, so 5 % under 500.00 is 475.00 and 474.99 is outside)."""
    return -(-limit_minor * (100 - margin_percent) // 100)


# --- the checks (pure) ---------------------------------------------------------------------------


def card_testing(s: Subject, f: Facts, p: Params) -> str | None:
    small = money(p["small_amount_minor"], s.currency)
    window = span(p["window_minutes"])
    if f.get("fingerprint_declines", 0) >= p["fingerprint_declines"]:
        return (
            f"{f['fingerprint_declines']} declines for small amounts (up to {small}) on this card "
            f"fingerprint in {window} (limit {p['fingerprint_declines']})"
        )
    if f.get("user_declines", 0) >= p["user_declines"]:
        return (
            f"{f['user_declines']} declines for small amounts (up to {small}) on card payments "
            f"taken by this user in {window} (limit {p['user_declines']})"
        )
    if f.get("address_declines", 0) >= p["address_declines"]:
        return (
            f"{f['address_declines']} declines for small amounts (up to {small}) on card "
            f"payments from this client address in {window} (limit {p['address_declines']})"
        )
    return None


def card_many_patients(_s: Subject, f: Facts, p: Params) -> str | None:
    n = f.get("patients", 0)
    if n >= p["patients"]:
        return (
            f"This card fingerprint was used for {n} patients in {span(p['window_minutes'])} "
            f"(limit {p['patients']})"
        )
    return None


def duplicate_payment(s: Subject, f: Facts, p: Params) -> str | None:
    n = f.get("duplicates", 0)
    if n >= p["duplicates"]:
        return (
            f"{n} other {s.method} payment{'s' if n != 1 else ''} of "
            f"{money(s.amount_minor, s.currency)} for this patient in "
            f"{span(p['window_minutes'])} (limit {p['duplicates']})"
        )
    return None


def refund_method_mismatch(s: Subject, _f: Facts, _p: Params) -> str | None:
    if s.paid_method is not None and s.method != s.paid_method:
        return f"Refund by {s.method} of a payment made by {s.paid_method}"
    return None


def refund_ratio(s: Subject, f: Facts, p: Params) -> str | None:
    refunded, collected = f.get("refunded_minor", 0), f.get("collected_minor", 0)
    if refunded < p["min_refunded_minor"] or refunded * 100 < p["ratio_percent"] * collected:
        return None
    share = "nothing collected" if collected == 0 else f"{refunded * 100 // collected}%"
    return (
        f"This user refunded {money(refunded, s.currency)} against "
        f"{money(collected, s.currency)} collected in {span(p['window_minutes'])}: {share} "
        f"(limit {p['ratio_percent']}%, from {money(p['min_refunded_minor'], s.currency)} refunded)"
    )


def just_under_limit(s: Subject, f: Facts, p: Params) -> str | None:
    limit = s.approval_limit_minor
    if limit is None or not band_floor(limit, p["margin_percent"]) <= s.amount_minor <= limit:
        return None
    n = f.get("in_band", 0) + 1  # this one included
    if n < p["repeats"]:
        return None
    return (
        f"{n} refunds by this user within {p['margin_percent']}% below the "
        f"{money(limit, s.currency)} approval limit in {span(p['window_minutes'])} "
        f"(limit {p['repeats']}); this one is {money(s.amount_minor, s.currency)}"
    )


def invoice_paid_twice(s: Subject, f: Facts, p: Params) -> str | None:
    if f.get("invoice_total_minor", 0) <= 0 or f.get("unapplied_minor", 0) < s.amount_minor:
        return None
    if s.amount_minor != f["invoice_total_minor"]:
        return None
    return (
        f"A {s.method} payment of {money(s.amount_minor, s.currency)} went entirely to patient "
        f"credit although {s.label} of {money(f['invoice_total_minor'], s.currency)} was "
        f"already paid by another payment {f['minutes_apart']} minutes earlier "
        f"(window {span(p['window_minutes'])})"
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "card_testing",
        "Card-testing velocity: declined card payments for small amounts on one card "
        "fingerprint, taken by one user, or sent from one client address, within a window",
        PAYMENT,
        RuleAction.BLOCK,
        {
            "window_minutes": 10,
            "small_amount_minor": 1000,
            "fingerprint_declines": 3,
            "user_declines": 5,
            "address_declines": 10,
        },
        card_testing,
    ),
    Rule(
        "card_many_patients",
        "The same card (fingerprint) used for payments of many patients within a window",
        PAYMENT,
        RuleAction.FLAG,
        {"window_minutes": 10080, "patients": 3},
        card_many_patients,
    ),
    Rule(
        "duplicate_payment",
        "Another payment of the same amount and method for the same patient within minutes",
        PAYMENT,
        RuleAction.FLAG,
        {"window_minutes": 10, "duplicates": 1},
        duplicate_payment,
    ),
    Rule(
        "refund_method_mismatch",
        "A refund paid out by a different method than the payment it refunds",
        REFUND,
        RuleAction.HOLD,
        {},
        refund_method_mismatch,
    ),
    Rule(
        "refund_just_under_limit",
        "Refunds repeatedly just under the caller's approval limit",
        REFUND,
        RuleAction.HOLD,
        {"window_minutes": 10080, "margin_percent": 5, "repeats": 2},
        just_under_limit,
    ),
    Rule(
        "refund_ratio",
        "A staff user's refunds compared with the money they collected, over a window",
        PERIODIC,
        RuleAction.FLAG,
        {"window_minutes": 10080, "ratio_percent": 50, "min_refunded_minor": 10000},
        refund_ratio,
    ),
    Rule(
        "invoice_paid_twice",
        "A payment of an invoice's full amount that went to patient credit because that "
        "invoice was already paid by another payment",
        PERIODIC,
        RuleAction.FLAG,
        {"window_minutes": 4320},
        invoice_paid_twice,
    ),
)
BY_CODE: Mapping[str, Rule] = {r.code: r for r in RULES}


def effective(rule: Rule, override: tuple[bool, str | None, Params] | None) -> Effective:
    if override is None:
        return Effective(rule, True, rule.action, dict(rule.params))
    enabled, action, params = override
    merged = {**rule.params, **{k: v for k, v in params.items() if k in rule.params}}
    return Effective(rule, enabled, RuleAction(action) if action else rule.action, merged)


def evaluate(subject: Subject, rule: Effective, facts: Facts) -> Finding | None:
    if not rule.enabled:
        return None
    explanation = rule.rule.check(subject, facts, rule.params)
    if explanation is None:
        return None
    return Finding(rule.rule.code, rule.action, explanation, dict(facts), dict(rule.params))


def decisive(findings: list[Finding]) -> Finding:
    """The finding that decides what happens: the strongest action, first in rule order."""
    return max(findings, key=lambda f: SEVERITY[f.action])
