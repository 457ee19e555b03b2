"""Screening a payment or refund before it executes: the one call payments and refunds make.

The payment or refund has been built (and flushed) inside the caller's transaction but nothing is
committed. Every rule for that kind of attempt is evaluated; the strongest finding decides:

* **flag** -> it executes; a ``fraud_reviews`` row (``open``) is added in the same transaction.
* **block** -> :class:`FraudBlocked` (409 ``fraud.blocked``). The request's transaction rolls
  back, so no payment, refund, ledger entry or allocation remains; the adapter then writes the
  review row (and its audit event) in a transaction of its own, :func:`record_stopped`. It has
  to be a separate transaction: a savepoint inside the refused request would be rolled back with
  it, and a reviewer must see every refused attempt (card testing is *made of* refused attempts).
* **hold** -> :class:`FraudHeld` (409 ``fraud.held``) for a refund of cash, cheque or bank
  transfer: rolled back like a block, the review row stores the exact refund asked for (status
  ``held``) and a reviewer's approval executes it (``fraud.service.decide``). Where a later
  execution is impossible the hold becomes something else, documented in docs/fraud.md: money
  already received (cash, cheque, terminal, transfer) cannot be refused, so the payment is
  recorded and the hold is recorded as a flag; a gateway card payment or card refund cannot be
  run later by a reviewer (single-use token; no gateway calls in a review), so it is blocked.

The server operator (CLI, no user id) is not screened, like it has no approval limit; the
after-the-fact rules (``fraud.tasks.run_once``) see every transaction whoever made it.

This module imports no other domain's service, so payments and refunds can call it without an
import cycle.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from revcycle.approvals import gate
from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.db import unit_of_work
from revcycle.fraud import addresses as fraud_addresses
from revcycle.fraud import errors
from revcycle.fraud.repository import FactsQuery, FraudRepository
from revcycle.fraud.rules import (
    PAYMENT,
    REFUND,
    RULES,
    Effective,
    Facts,
    Finding,
    Params,
    RuleAction,
    Subject,
    band_floor,
    decisive,
    effective,
    evaluate,
    money,
)
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.payments.models import Payment
from revcycle.refunds.models import Refund

log = logging.getLogger("revcycle.fraud")


@dataclass(frozen=True)
class Counted:
    """Facts counted in the database: ``query`` (an aggregate without GROUP BY: one row) and how
    its row becomes the rule's facts. Every rule's query for one attempt runs as ONE statement
    (:meth:`FraudRepository.count_together`)."""

    query: FactsQuery
    facts: Callable[[Sequence[Any]], Facts]


Gather = Callable[[FraudRepository, Subject, Params], Facts | Counted]


def _since(s: Subject, p: Params) -> dt.datetime:
    return s.now - dt.timedelta(minutes=p["window_minutes"])


def _card_testing(repo: FraudRepository, s: Subject, p: Params) -> Facts | Counted:
    if s.method != "card" or s.card_fingerprint is None:  # gateway card payments only
        return {}
    # By card, by user, and from the same address whoever the user, patient or card (the
    # address as its keyed digests: fraud/addresses.py).
    return Counted(
        repo.small_decline_counts_query(
            s.practice_id,
            _since(s, p),
            p["small_amount_minor"],
            fingerprint=s.card_fingerprint,
            user_id=s.user_id,
            client_addrs=s.client_addr_digests,
        ),
        lambda row: {
            "fingerprint_declines": int(row[0] or 0),
            "user_declines": int(row[1] or 0),
            "address_declines": int(row[2] or 0),
        },
    )


def _card_many_patients(repo: FraudRepository, s: Subject, p: Params) -> Facts | Counted:
    if s.card_fingerprint is None or s.patient_id is None:
        return {}
    # This patient and every other patient the card paid for in the window.
    return Counted(
        repo.other_patients_on_fingerprint_query(
            s.practice_id, s.card_fingerprint, _since(s, p), s.patient_id
        ),
        lambda row: {"patients": int(row[0] or 0) + 1},
    )


def _duplicate_payment(repo: FraudRepository, s: Subject, p: Params) -> Facts | Counted:
    assert s.patient_id is not None and s.method is not None
    return Counted(
        repo.same_payments_query(
            exclude=s.id,
            patient_id=s.patient_id,
            amount_minor=s.amount_minor,
            method=s.method,
            since=_since(s, p),
        ),
        lambda row: {"duplicates": int(row[0] or 0)},
    )


def _just_under_limit(repo: FraudRepository, s: Subject, p: Params) -> Facts | Counted:
    if s.approval_limit_minor is None or s.user_id is None:
        return {}
    low = band_floor(s.approval_limit_minor, p["margin_percent"])
    n = repo.refunds_in_band(
        s.practice_id, s.user_id, low, s.approval_limit_minor, _since(s, p), s.id
    )
    return {"in_band": n}


def _no_facts(_repo: FraudRepository, _s: Subject, _p: Params) -> Facts | Counted:
    return {}


GATHER: dict[str, Gather] = {
    "card_testing": _card_testing,
    "card_many_patients": _card_many_patients,
    "duplicate_payment": _duplicate_payment,
    "refund_method_mismatch": _no_facts,
    "refund_just_under_limit": _just_under_limit,
}


def findings_for(session: Session, subject: Subject) -> list[Finding]:
    """Every rule for this kind of attempt, with the practice's settings, that fires. The
    rules' database counts are taken together in one statement."""
    repo = FraudRepository(session)
    overrides = repo.overrides(subject.practice_id)
    gathered: list[tuple[Effective, Facts | Counted]] = []
    for rule in RULES:
        if rule.applies_to != subject.kind:
            continue
        eff = effective(rule, overrides.get(rule.code))
        if not eff.enabled:
            continue
        gathered.append((eff, GATHER[rule.code](repo, subject, eff.params)))
    counted = [g for _, g in gathered if isinstance(g, Counted)]
    rows = iter(repo.count_together([c.query for c in counted]))
    out: list[Finding] = []
    for eff, got in gathered:
        facts = got.facts(next(rows)) if isinstance(got, Counted) else got
        finding = evaluate(subject, eff, facts)
        if finding is not None:
            out.append(finding)
    return out


def review_values(
    subject: Subject,
    findings: list[Finding],
    action: RuleAction,
    *,
    status: str,
    subject_type: str,
    payment_id: Any = None,
    payload: dict[str, Any] | None = None,
    note: str = "",
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    top = decisive(findings)
    return {
        "id": uuid7(),
        "practice_id": subject.practice_id,
        "patient_id": subject.patient_id,
        "rule_code": top.rule,
        "action": action.value,
        "status": status,
        "subject_type": subject_type,
        "subject_id": subject.id if status == "open" and action is RuleAction.FLAG else None,
        "payment_id": payment_id,
        "amount_minor": subject.amount_minor or None,
        "currency": subject.currency,
        "explanation": "; ".join(f.explanation for f in findings) + note,
        "findings": [f.as_json() for f in findings],
        "payload": payload,
        "actor_user_id": subject.user_id,
        "dedupe_key": dedupe_key,
        "created_at": utcnow(),
    }


def audit_review(session: Session, actor: Principal, values: dict[str, Any]) -> None:
    audit.record(
        session,
        actor,
        f"fraud:{values['action']}",
        object_type="fraud_review",
        object_id=values["id"],
        practice_id=values["practice_id"],
        fields=["rule_code", "explanation"],
        detail={"rule": values["rule_code"], "subject_type": values["subject_type"]},
    )


def _record(session: Session, actor: Principal, values: dict[str, Any]) -> None:
    FraudRepository(session).add_review(values)
    session.flush()
    audit_review(session, actor, values)


def _screen(
    session: Session,
    actor: Principal,
    subject: Subject,
    *,
    hold_as: RuleAction,
    subject_type: str,
    payment_id: Any,
    payload: dict[str, Any],
) -> None:
    findings = findings_for(session, subject)
    if not findings:
        return
    top = decisive(findings)
    action, note = top.action, ""
    if action is RuleAction.HOLD and hold_as is not RuleAction.HOLD:
        action = hold_as
        note = (
            " (hold recorded as a flag: the money was already received)"
            if hold_as is RuleAction.FLAG
            else " (hold applied as a block: a card operation cannot be run later by a reviewer)"
        )
    if action is RuleAction.FLAG:
        values = review_values(
            subject,
            findings,
            action,
            status="open",
            subject_type=subject_type,
            payment_id=payment_id,
            payload=payload,
            note=note,
        )
        _record(session, actor, values)
        return
    values = review_values(
        subject,
        findings,
        action,
        status="held" if action is RuleAction.HOLD else "open",
        subject_type=subject_type,
        payment_id=payment_id if subject.kind == REFUND else None,
        payload=payload,
        note=note,
    )
    data = {"review_id": str(values["id"]), "rule": top.rule, "explanation": values["explanation"]}
    if action is RuleAction.BLOCK:
        raise errors.FraudBlocked(
            f"Refused by the fraud rules: {values['explanation']}",
            review=values,
            actor=actor,
            **data,
        )
    raise errors.FraudHeld(
        f"Held for review, not executed: {values['explanation']}",
        review=values,
        actor=actor,
        **data,
    )


def screen_payment(session: Session, actor: Principal, payment: Payment) -> None:
    """Screen a payment built in this transaction (recorded, or a card payment still pending
    before its charge). Raises :class:`errors.FraudStopped` to refuse it."""
    if actor.user_id is None:
        return
    session.flush()
    gateway = payment.gateway_provider is not None
    subject = Subject(
        kind=PAYMENT,
        practice_id=payment.practice_id,
        currency=payment.currency,
        now=utcnow(),
        id=payment.id,
        patient_id=payment.patient_id,
        user_id=actor.user_id,
        amount_minor=payment.amount_minor,
        method=payment.method,
        card_fingerprint=payment.card_fingerprint,
        client_addr_digests=fraud_addresses.candidates(actor.client_addr),
    )
    _screen(
        session,
        actor,
        subject,
        hold_as=RuleAction.BLOCK if gateway else RuleAction.FLAG,
        subject_type="payment",
        payment_id=payment.id,
        payload={
            "method": payment.method,
            "amount": money(payment.amount_minor, payment.currency),
            "patient_id": str(payment.patient_id),
        },
    )


def screen_refund(
    session: Session, actor: Principal, refund: Refund, limits: gate.Limits | None
) -> None:
    """Screen a refund built in this transaction (paid, or a card refund still pending before the
    gateway call). Raises :class:`errors.FraudStopped` to refuse or hold it."""
    if actor.user_id is None:
        return
    session.flush()
    repo = FraudRepository(session)
    limit = limits.limit_for(gate.REFUND, actor, refund.currency) if limits else None
    subject = Subject(
        kind=REFUND,
        practice_id=refund.practice_id,
        currency=refund.currency,
        now=utcnow(),
        id=refund.id,
        patient_id=refund.patient_id,
        user_id=actor.user_id,
        amount_minor=refund.amount_minor,
        method=refund.method,
        paid_method=repo.method_of_payment(refund.payment_id),
        approval_limit_minor=None if limit is None else limit.amount_minor,
    )
    _screen(
        session,
        actor,
        subject,
        hold_as=RuleAction.BLOCK if refund.method == "card" else RuleAction.HOLD,
        subject_type="refund",
        payment_id=refund.payment_id,
        payload={
            "payment_id": str(refund.payment_id),
            "refund": {
                "amount": money(refund.amount_minor, refund.currency),
                "reason": refund.reason,
            },
        },
    )


def record_stopped_in(session: Session, exc: errors.FraudStopped) -> None:
    """Write the review row of a blocked or held attempt in ``session``, once the attempt's own
    transaction (or savepoint: the demo data, :mod:`revcycle.fraud.demo`) has rolled back."""
    _record(session, exc.actor, exc.review)


def record_stopped(factory: sessionmaker[Session], exc: errors.FraudStopped) -> None:
    """Write the review row of a blocked or held attempt after its transaction rolled back (the
    adapter's job, like security events). A failure here does not change the answer."""
    try:
        with unit_of_work(factory) as session:
            record_stopped_in(session, exc)
    except Exception as record_exc:  # noqa: BLE001 - the refusal itself must stand
        log.warning("fraud review %s not recorded: %s", exc.review["id"], type(record_exc).__name__)
