"""All SQL for settlement reconciliation (and the ledger/payment/refund reads it compares)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.gateway.models import GatewayUnmatchedRefund
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.payments.models import Payment
from revcycle.reconciliation.calc import LedgerItem
from revcycle.reconciliation.models import (
    ReconciliationDifference,
    ReconciliationRun,
    SettlementPayout,
)
from revcycle.refunds.models import Refund


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def card_clearing_items(self, provider: str, day: dt.date) -> list[LedgerItem]:
        """Card clearing on ``day`` (entries' effective date): card payments' debits and card
        refund payouts' credits, each named by the gateway's id for it."""
        rows = self.session.execute(
            select(JournalEntry.kind, JournalEntry.source_id, func.sum(Posting.amount_minor))
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .join(Account, Account.id == Posting.account_id)
            .where(
                Account.code == AccountCode.CARD_CLEARING.value,
                JournalEntry.effective_date == day,
                JournalEntry.kind.in_((EntryKind.PAYMENT.value, EntryKind.REFUND_PAYOUT.value)),
            )
            .group_by(JournalEntry.kind, JournalEntry.source_id)
        ).all()
        amounts = {(kind, source): int(total) for kind, source, total in rows}
        payment_ids = [s for k, s in amounts if k == EntryKind.PAYMENT.value]
        refund_ids = [s for k, s in amounts if k == EntryKind.REFUND_PAYOUT.value]
        items: list[LedgerItem] = []
        if payment_ids:
            for p in self.session.scalars(
                select(Payment).where(
                    Payment.id.in_(payment_ids),
                    Payment.method == "card",
                    Payment.gateway_provider == provider,
                    Payment.gateway_charge_id.is_not(None),
                )
            ):
                assert p.gateway_charge_id is not None
                total = amounts[(EntryKind.PAYMENT.value, p.id)]
                items.append(
                    LedgerItem(
                        "charge",
                        p.gateway_charge_id,
                        p.gateway_charge_id,
                        total,
                        p.practice_id,
                        p.id,
                    )
                )
        if refund_ids:
            for r, charge_id in self.session.execute(
                select(Refund, Payment.gateway_charge_id)
                .join(Payment, Payment.id == Refund.payment_id)
                .where(
                    Refund.id.in_(refund_ids),
                    Refund.method == "card",
                    Refund.gateway_refund_id.is_not(None),
                    Payment.gateway_provider == provider,
                )
            ):
                assert r.gateway_refund_id is not None
                total = -amounts[(EntryKind.REFUND_PAYOUT.value, r.id)]
                items.append(
                    LedgerItem(
                        "refund", r.gateway_refund_id, charge_id or "", total, r.practice_id, r.id
                    )
                )
        return items

    def practices_of_charges(self, charge_ids: Iterable[str]) -> dict[str, uuid.UUID]:
        ids = list(set(charge_ids))
        if not ids:
            return {}
        rows = self.session.execute(
            select(Payment.gateway_charge_id, Payment.practice_id).where(
                Payment.gateway_charge_id.in_(ids)
            )
        ).all()
        return {str(c): p for c, p in rows}

    def payout_posted(self, provider: str, payout_id: str, practice_id: uuid.UUID) -> bool:
        return (
            self.session.scalar(
                select(SettlementPayout.id).where(
                    SettlementPayout.provider == provider,
                    SettlementPayout.payout_id == payout_id,
                    SettlementPayout.practice_id == practice_id,
                )
            )
            is not None
        )

    def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def runs(self, *, day: dt.date | None, limit: int) -> Sequence[ReconciliationRun]:
        q = select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)
        if day is not None:
            q = q.where(ReconciliationRun.day == day)
        return self.session.scalars(q).all()

    def differences(
        self, run_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ReconciliationDifference]]:
        out: dict[uuid.UUID, list[ReconciliationDifference]] = {r: [] for r in run_ids}
        if run_ids:
            for d in self.session.scalars(
                select(ReconciliationDifference)
                .where(ReconciliationDifference.run_id.in_(run_ids))
                .order_by(ReconciliationDifference.run_id, ReconciliationDifference.position)
            ):
                out[d.run_id].append(d)
        return out

    def payouts(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[SettlementPayout]]:
        out: dict[uuid.UUID, list[SettlementPayout]] = {r: [] for r in run_ids}
        if run_ids:
            for p in self.session.scalars(
                select(SettlementPayout)
                .where(SettlementPayout.run_id.in_(run_ids))
                .order_by(SettlementPayout.practice_id)
            ):
                out[p.run_id].append(p)
        return out

    def unmatched_refunds(self, limit: int) -> Sequence[GatewayUnmatchedRefund]:
        return self.session.scalars(
            select(GatewayUnmatchedRefund)
            .order_by(GatewayUnmatchedRefund.received_at.desc(), GatewayUnmatchedRefund.id)
            .limit(limit)
        ).all()
