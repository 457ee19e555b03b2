"""Read-only SQL for the integrity report."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.invoices.models import Invoice, InvoiceSequence
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.refunds.models import Refund, RefundPart


class IntegrityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def count_entries(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(JournalEntry)) or 0)

    def all_invoices(self) -> Sequence[Invoice]:
        return self.session.scalars(select(Invoice).order_by(Invoice.id)).all()

    def sequences(self) -> dict[uuid.UUID, int]:
        return {s.practice_id: s.last_number for s in self.session.scalars(select(InvoiceSequence))}

    def payment_splits(self) -> list[Any]:
        allocated = (
            select(
                PaymentAllocation.payment_id,
                func.sum(PaymentAllocation.amount_minor).label("allocated"),
            )
            .group_by(PaymentAllocation.payment_id)
            .subquery()
        )
        return list(
            self.session.execute(
                select(
                    Payment.id,
                    Payment.amount_minor,
                    Payment.unapplied_minor,
                    func.coalesce(allocated.c.allocated, 0),
                )
                .outerjoin(allocated, allocated.c.payment_id == Payment.id)
                .where(Payment.status == "succeeded")
            ).all()
        )

    def unsettled_payments_with_money(self) -> list[Any]:
        """Pending, declined or failed (gateway) payments that nonetheless carry a ledger entry
        or allocations: there must be none. (Returned bank payments: returned_unreversed.)"""
        has_alloc = select(PaymentAllocation.id).where(PaymentAllocation.payment_id == Payment.id)
        return list(
            self.session.scalars(
                select(Payment.id).where(
                    Payment.status.not_in(["succeeded", "returned"]),
                    Payment.entry_id.is_not(None) | has_alloc.exists(),
                )
            ).all()
        )

    def returned_unreversed(self) -> list[Any]:
        """Returned bank payments whose money still counts: posted but not reversed, or never
        posted yet allocated."""
        reversed_ = select(JournalEntry.id).where(JournalEntry.reverses_id == Payment.entry_id)
        has_alloc = select(PaymentAllocation.id).where(PaymentAllocation.payment_id == Payment.id)
        return list(
            self.session.scalars(
                select(Payment.id).where(
                    Payment.status == "returned",
                    (Payment.entry_id.is_not(None) & ~reversed_.exists())
                    | (Payment.entry_id.is_(None) & has_alloc.exists()),
                )
            ).all()
        )

    def refund_totals(self) -> list[Any]:
        parts = (
            select(RefundPart.refund_id, func.sum(RefundPart.amount_minor).label("parts"))
            .group_by(RefundPart.refund_id)
            .subquery()
        )
        return list(
            self.session.execute(
                select(Refund.id, Refund.amount_minor, func.coalesce(parts.c.parts, 0)).outerjoin(
                    parts, parts.c.refund_id == Refund.id
                )
            ).all()
        )

    def refund_entry_mismatches(self) -> list[Any]:
        """Refunds whose entries don't match their status: paid without both entries, or
        pending/failed with an entry on the refund or in the journal (source refund)."""
        posted = select(JournalEntry.id).where(
            JournalEntry.source_type == "refund", JournalEntry.source_id == Refund.id
        )
        return list(
            self.session.execute(
                select(Refund.id, Refund.status).where(
                    (
                        (Refund.status == "paid")
                        & (Refund.entry_id.is_(None) | Refund.payout_entry_id.is_(None))
                    )
                    | (
                        (Refund.status != "paid")
                        & (
                            Refund.entry_id.is_not(None)
                            | Refund.payout_entry_id.is_not(None)
                            | posted.exists()
                        )
                    )
                )
            ).all()
        )

    def refunded_per_payment(self) -> list[Any]:
        return list(
            self.session.execute(
                select(Payment.id, Payment.amount_minor, func.sum(Refund.amount_minor))
                .join(Refund, Refund.payment_id == Payment.id)
                .where(Refund.status != "failed")
                .group_by(Payment.id, Payment.amount_minor)
            ).all()
        )

    def patient_credit_balances(self) -> list[Any]:
        return list(
            self.session.execute(
                select(Posting.patient_id, func.sum(Posting.amount_minor))
                .join(Account, Account.id == Posting.account_id)
                .where(Account.code == AccountCode.PATIENT_CREDIT.value)
                .group_by(Posting.patient_id)
            ).all()
        )
