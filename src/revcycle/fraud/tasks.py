"""The after-the-fact rules, for the worker to run periodically: ``run_once(factory, settings,
now)``. Each finding is a flag (the transaction already happened) written once: its review row
has a UNIQUE ``dedupe_key`` (refund ratio: per user and day; invoice paid twice: per payment), so
overlapping or concurrent runs write it once (INSERT ... ON CONFLICT DO NOTHING)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.principal import Principal
from revcycle.config import Settings
from revcycle.db import unit_of_work
from revcycle.fraud import screen
from revcycle.fraud.repository import FraudRepository
from revcycle.fraud.rules import (
    BY_CODE,
    PERIODIC,
    Effective,
    RuleAction,
    Subject,
    effective,
    evaluate,
)
from revcycle.kit.clock import utcnow

ACTOR = Principal.system(username="fraud-rules")


def _rule(repo: FraudRepository, practice_id: uuid.UUID, code: str) -> Effective:
    return effective(BY_CODE[code], repo.overrides(practice_id).get(code))


def _flag(
    session: Session, subject: Subject, eff: Effective, facts: dict[str, int], **kw: Any
) -> int:
    """A flag whatever the rule's configured action: the transaction already happened."""
    finding = evaluate(subject, eff, facts)
    if finding is None:
        return 0
    values = screen.review_values(subject, [finding], RuleAction.FLAG, status="open", **kw)
    if not FraudRepository(session).add_unique(values):
        return 0
    screen.audit_review(session, ACTOR, values)
    return 1


def refund_ratio(session: Session, now: dt.datetime) -> int:
    repo = FraudRepository(session)
    made = 0
    for practice_id in repo.practice_ids():
        eff = _rule(repo, practice_id, "refund_ratio")
        if not eff.enabled:
            continue
        since = now - dt.timedelta(minutes=eff.params["window_minutes"])
        for user_id, currency, refunded in repo.refunded_by_user(practice_id, since):
            collected = repo.collected_by_user(practice_id, user_id, since)
            subject = Subject(
                kind=PERIODIC,
                practice_id=practice_id,
                currency=currency,
                now=now,
                id=user_id,
                user_id=user_id,
                amount_minor=refunded,
            )
            made += _flag(
                session,
                subject,
                eff,
                {"refunded_minor": refunded, "collected_minor": collected},
                subject_type="user",
                dedupe_key=f"refund_ratio:{practice_id}:{user_id}:{now.date().isoformat()}",
            )
    return made


def invoice_paid_twice(session: Session, now: dt.datetime) -> int:
    repo = FraudRepository(session)
    made = 0
    for practice_id in repo.practice_ids():
        eff = _rule(repo, practice_id, "invoice_paid_twice")
        if not eff.enabled:
            continue
        since = now - dt.timedelta(minutes=eff.params["window_minutes"])
        for hit in repo.paid_twice(practice_id, since):
            p = hit.payment
            subject = Subject(
                kind=PERIODIC,
                practice_id=practice_id,
                currency=p.currency,
                now=now,
                id=p.id,
                patient_id=p.patient_id,
                user_id=p.created_by,
                amount_minor=p.amount_minor,
                method=p.method,
                label=f"invoice {hit.invoice_label}",
            )
            made += _flag(
                session,
                subject,
                eff,
                {
                    "invoice_total_minor": hit.invoice_total_minor,
                    "unapplied_minor": p.unapplied_minor,
                    "minutes_apart": hit.minutes_apart,
                },
                subject_type="payment",
                payment_id=p.id,
                dedupe_key=f"invoice_paid_twice:{p.id}",
            )
    return made


def run_once(
    factory: sessionmaker[Session],
    settings: Settings | None = None,  # noqa: ARG001 - the worker's job signature
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Run every after-the-fact rule once; counts of new reviews per rule. ``settings`` is taken
    for the worker's uniform job signature (the rules' settings live per practice in the
    database)."""
    with unit_of_work(factory) as s:
        return run_in(s, now or utcnow())


def run_in(session: Session, now: dt.datetime) -> dict[str, int]:
    """Every after-the-fact rule once, in the caller's transaction (``run_once``; the demo data)."""
    return {
        "refund_ratio": refund_ratio(session, now),
        "invoice_paid_twice": invoice_paid_twice(session, now),
    }
