"""All SQL of the fraud module: the counts rules need (facts), review rows and rule settings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import FromClause, Select, func, select, true
from sqlalchemy.orm import Session

from revcycle.fraud.models import FraudReview, FraudRuleConfig
from revcycle.fraud.rules import Params
from revcycle.invoices.models import Invoice
from revcycle.kit.upsert import insert_ignore
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.practices.models import Practice
from revcycle.refunds.models import Refund

FactsQuery = Select[*tuple[Any, ...]]  # a one-row aggregate query a fraud rule counts with

LIVE_PAYMENT = ("succeeded", "pending")
LIVE_REFUND = ("paid", "pending")


@dataclass(frozen=True)
class PaidTwice:
    payment: Payment
    invoice_id: uuid.UUID
    invoice_label: str
    invoice_total_minor: int
    minutes_apart: int


class FraudRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- facts -------------------------------------------------------------------------------
    # A rule's counts are built as one-row aggregate queries; every rule's query for one attempt
    # runs as ONE statement (``count_together``), so screening a payment is one round trip
    # whatever the number of rules (docs/performance.md, "Card payments").
    def count_together(self, queries: Sequence[FactsQuery]) -> list[Sequence[Any]]:
        """Run one-row aggregate queries (no GROUP BY: exactly one row each) as one statement:
        ``SELECT q1.*, q2.*, ... FROM (q1) JOIN (q2) ON true ...``. Answers each query's row."""
        if not queries:
            return []
        subs = [q.subquery(f"facts_{i}") for i, q in enumerate(queries)]
        joined: FromClause = subs[0]
        for sub in subs[1:]:
            joined = joined.join(sub, true())
        row = self.session.execute(
            select(*(c for sub in subs for c in sub.c)).select_from(joined)
        ).one()
        out: list[Sequence[Any]] = []
        at = 0
        for sub in subs:
            width = len(sub.c)
            out.append(tuple(row[at : at + width]))
            at += width
        return out

    def small_decline_counts_query(
        self,
        practice_id: uuid.UUID,
        since: dt.datetime,
        max_minor: int,
        *,
        fingerprint: str | None,
        user_id: uuid.UUID | None,
        client_addrs: Sequence[str],
    ) -> FactsQuery:
        """The card-testing counts (by card, by user, by address; one row): small declined card
        payments since ``since`` on this fingerprint, by this user, from this address (any of its
        digests). Uses the partial index ``ix_payments_card_declines`` (declined card payments
        only)."""
        never = Payment.id.is_(None)  # a condition no row meets (a missing subject)
        by_card = Payment.card_fingerprint == fingerprint if fingerprint is not None else never
        by_user = Payment.created_by == user_id if user_id is not None else never
        by_addr = Payment.client_addr_bidx.in_(client_addrs) if client_addrs else never
        return select(
            func.count(Payment.id).filter(by_card).label("by_card"),
            func.count(Payment.id).filter(by_user).label("by_user"),
            func.count(Payment.id).filter(by_addr).label("by_addr"),
        ).where(
            Payment.practice_id == practice_id,
            Payment.method == "card",
            Payment.status == "declined",
            Payment.amount_minor <= max_minor,
            Payment.created_at >= since,
        )

    def other_patients_on_fingerprint_query(
        self, practice_id: uuid.UUID, fingerprint: str, since: dt.datetime, patient_id: uuid.UUID
    ) -> FactsQuery:
        """How many patients other than ``patient_id`` paid with this card since ``since`` (one
        row)."""
        return select(
            func.count(Payment.patient_id.distinct())
            .filter(Payment.patient_id != patient_id)
            .label("others")
        ).where(
            Payment.practice_id == practice_id,
            Payment.card_fingerprint == fingerprint,
            Payment.created_at >= since,
        )

    def same_payments_query(
        self,
        *,
        exclude: uuid.UUID | None,
        patient_id: uuid.UUID,
        amount_minor: int,
        method: str,
        since: dt.datetime,
    ) -> FactsQuery:
        """Live payments of this patient, amount and method since ``since``, ``exclude`` aside
        (one row)."""
        q = select(func.count(Payment.id).label("same")).where(
            Payment.patient_id == patient_id,
            Payment.amount_minor == amount_minor,
            Payment.method == method,
            Payment.status.in_(LIVE_PAYMENT),
            Payment.created_at >= since,
        )
        if exclude is not None:
            q = q.where(Payment.id != exclude)
        return q

    def refunds_in_band(
        self,
        practice_id: uuid.UUID,
        user_id: uuid.UUID,
        low_minor: int,
        high_minor: int,
        since: dt.datetime,
        exclude: uuid.UUID | None,
    ) -> int:
        q = select(func.count(Refund.id)).where(
            Refund.practice_id == practice_id,
            Refund.created_by == user_id,
            Refund.status.in_(LIVE_REFUND),
            Refund.amount_minor >= low_minor,
            Refund.amount_minor <= high_minor,
            Refund.created_at >= since,
        )
        if exclude is not None:
            q = q.where(Refund.id != exclude)
        return self.session.scalar(q) or 0

    def method_of_payment(self, payment_id: uuid.UUID) -> str | None:
        return self.session.scalar(select(Payment.method).where(Payment.id == payment_id))

    def practice_ids(self) -> list[uuid.UUID]:
        return list(self.session.scalars(select(Practice.id).order_by(Practice.id)))

    def refunded_by_user(
        self, practice_id: uuid.UUID, since: dt.datetime
    ) -> list[tuple[uuid.UUID, str, int]]:
        """(user, currency, refunded) for users of the practice who refunded since ``since``."""
        rows = self.session.execute(
            select(Refund.created_by, Refund.currency, func.sum(Refund.amount_minor))
            .where(
                Refund.practice_id == practice_id,
                Refund.status == "paid",
                Refund.created_at >= since,
                Refund.created_by.is_not(None),
            )
            .group_by(Refund.created_by, Refund.currency)
            .order_by(Refund.created_by)
        ).all()
        return [(r[0], r[1], int(r[2])) for r in rows if r[0] is not None]

    def collected_by_user(
        self, practice_id: uuid.UUID, user_id: uuid.UUID, since: dt.datetime
    ) -> int:
        total = self.session.scalar(
            select(func.sum(Payment.amount_minor)).where(
                Payment.practice_id == practice_id,
                Payment.created_by == user_id,
                Payment.status == "succeeded",
                Payment.created_at >= since,
            )
        )
        return int(total or 0)

    def paid_twice(self, practice_id: uuid.UUID, since: dt.datetime) -> list[PaidTwice]:
        """Payments since ``since`` that went entirely to patient credit and match the total of
        an invoice of the same patient that an earlier payment (within the window) had paid."""
        out: list[PaidTwice] = []
        credit_only = self.session.scalars(
            select(Payment)
            .where(
                Payment.practice_id == practice_id,
                Payment.status == "succeeded",
                Payment.created_at >= since,
                Payment.unapplied_minor == Payment.amount_minor,
            )
            .order_by(Payment.id)
        ).all()
        for p in credit_only:
            row = self.session.execute(
                select(Invoice.id, Invoice.display_number, Invoice.total_minor, Payment.created_at)
                .join(PaymentAllocation, PaymentAllocation.invoice_id == Invoice.id)
                .join(Payment, Payment.id == PaymentAllocation.payment_id)
                .where(
                    Invoice.patient_id == p.patient_id,
                    Invoice.status == "paid",
                    Invoice.total_minor == p.amount_minor,
                    Payment.id != p.id,
                    Payment.status == "succeeded",
                    Payment.created_at <= p.created_at,
                    Payment.created_at >= since,
                )
                .order_by(Payment.created_at.desc())
                .limit(1)
            ).first()
            if row is not None:
                minutes = int((p.created_at - row[3]).total_seconds() // 60)
                out.append(PaidTwice(p, row[0], row[1] or str(row[0]), row[2], minutes))
        return out

    # --- rule settings -------------------------------------------------------------------------
    def overrides(self, practice_id: uuid.UUID) -> dict[str, tuple[bool, str | None, Params]]:
        return {
            c.rule_code: (c.enabled, c.action, dict(c.params or {}))
            for c in self.session.scalars(
                select(FraudRuleConfig).where(FraudRuleConfig.practice_id == practice_id)
            )
        }

    def config_for_update(self, practice_id: uuid.UUID, rule_code: str) -> FraudRuleConfig:
        """The practice's row for this rule, created (defaults) if missing, locked."""
        insert_ignore(
            self.session,
            FraudRuleConfig,
            {
                "id": uuid.uuid4(),
                "practice_id": practice_id,
                "rule_code": rule_code,
                "enabled": True,
                "action": None,
                "params": {},
            },
            ["practice_id", "rule_code"],
        )
        row = self.session.scalar(
            select(FraudRuleConfig)
            .where(
                FraudRuleConfig.practice_id == practice_id,
                FraudRuleConfig.rule_code == rule_code,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row

    # --- reviews -------------------------------------------------------------------------------
    def add_review(self, values: dict[str, Any]) -> None:
        self.session.add(FraudReview(**values))

    def add_unique(self, values: dict[str, Any]) -> bool:
        """Insert a review unless one with its ``dedupe_key`` exists (concurrent runs of the job
        insert it once: UNIQUE key, ON CONFLICT DO NOTHING). True if this call inserted it."""
        insert_ignore(self.session, FraudReview, values, ["dedupe_key"])
        return bool(
            self.session.scalar(
                select(func.count(FraudReview.id)).where(FraudReview.id == values["id"])
            )
        )

    def get(self, review_id: uuid.UUID) -> FraudReview | None:
        return self.session.get(FraudReview, review_id)

    def get_for_update(self, review_id: uuid.UUID) -> FraudReview | None:
        return self.session.scalar(
            select(FraudReview)
            .where(FraudReview.id == review_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        status: str | None,
        rule_code: str | None,
        before: uuid.UUID | None,
        limit: int,
    ) -> Sequence[FraudReview]:
        q = select(FraudReview).order_by(FraudReview.id.desc()).limit(limit)
        if practice_ids is not None:
            q = q.where(FraudReview.practice_id.in_(practice_ids))
        if status is not None:
            q = q.where(FraudReview.status == status)
        if rule_code is not None:
            q = q.where(FraudReview.rule_code == rule_code)
        if before is not None:
            q = q.where(FraudReview.id < before)
        return self.session.scalars(q).all()
