"""All SQL for the appeals tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, undefer

from revcycle.appeals.models import Appeal, AppealAttachment, AppealEvent, AppealReminder
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, Posting
from revcycle.remittances.models import RemittanceClaim

# Appeals a later 835 may pay: sent (undecided) or won / partially won awaiting the payer.
AWAITING_PAYMENT = ("sent", "won", "partially_won")


class AppealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, appeal_id: uuid.UUID, *, for_update: bool = False) -> Appeal | None:
        stmt = select(Appeal).where(Appeal.id == appeal_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalar(stmt)

    def of_claim(self, claim_id: uuid.UUID) -> list[Appeal]:
        return list(
            self.session.scalars(
                select(Appeal).where(Appeal.claim_id == claim_id).order_by(Appeal.level)
            )
        )

    def awaiting_payment(self, claim_id: uuid.UUID) -> Appeal | None:
        """The claim's appeal a payment may settle (the highest level), locked."""
        return self.session.scalar(
            select(Appeal)
            .where(
                Appeal.claim_id == claim_id,
                Appeal.status.in_(AWAITING_PAYMENT),
                Appeal.remittance_claim_id.is_(None),
            )
            .order_by(Appeal.level.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def paid_by(self, remittance_claim_id: uuid.UUID) -> Appeal | None:
        return self.session.scalar(
            select(Appeal)
            .where(Appeal.remittance_claim_id == remittance_claim_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def denial_posting(
        self, claim_id: uuid.UUID, remittance_id: uuid.UUID
    ) -> RemittanceClaim | None:
        """The 835 posting of ``claim_id`` in remittance ``remittance_id`` (the appealed one)."""
        return self.session.scalar(
            select(RemittanceClaim)
            .where(
                RemittanceClaim.claim_id == claim_id,
                RemittanceClaim.remittance_id == remittance_id,
                RemittanceClaim.outcome.in_(("adjudicated", "denied")),
            )
            .order_by(RemittanceClaim.position)
            .limit(1)
        )

    def is_reversed(self, remittance_claim_id: uuid.UUID) -> bool:
        self.session.flush()
        return (
            self.session.scalar(
                select(RemittanceClaim.id).where(RemittanceClaim.reverses_id == remittance_claim_id)
            )
            is not None
        )

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None,
        claim_id: uuid.UUID | None,
        status: str | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Appeal]:
        q = select(Appeal).order_by(Appeal.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Appeal.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(Appeal.patient_id.in_(patient_ids))
        if claim_id is not None:
            q = q.where(Appeal.claim_id == claim_id)
        if status is not None:
            q = q.where(Appeal.status == status)
        if after is not None:
            q = q.where(Appeal.id > after)
        return self.session.scalars(q).all()

    def events_of(self, appeal_id: uuid.UUID) -> list[AppealEvent]:
        self.session.flush()
        return list(
            self.session.scalars(
                select(AppealEvent)
                .where(AppealEvent.appeal_id == appeal_id)
                .order_by(AppealEvent.at, AppealEvent.id)
            )
        )

    def attachments_of(self, appeal_id: uuid.UUID) -> list[AppealAttachment]:
        """Without their content (loaded only to download one)."""
        self.session.flush()
        return list(
            self.session.scalars(
                select(AppealAttachment)
                .options(defer(AppealAttachment.content, raiseload=True))
                .where(AppealAttachment.appeal_id == appeal_id)
                .order_by(AppealAttachment.created_at, AppealAttachment.id)
            )
        )

    def attachment(self, attachment_id: uuid.UUID) -> AppealAttachment | None:
        """With its content (even when the row was loaded without it before)."""
        return self.session.scalar(
            select(AppealAttachment)
            .options(undefer(AppealAttachment.content))
            .where(AppealAttachment.id == attachment_id)
            .execution_options(populate_existing=True)
        )

    def attachment_by_hash(self, appeal_id: uuid.UUID, sha256: str) -> AppealAttachment | None:
        return self.session.scalar(
            select(AppealAttachment).where(
                AppealAttachment.appeal_id == appeal_id, AppealAttachment.sha256 == sha256
            )
        )

    def attachment_count(self, appeal_id: uuid.UUID) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(AppealAttachment)
                .where(AppealAttachment.appeal_id == appeal_id)
            )
            or 0
        )

    def insurance_ar(self, invoice_id: uuid.UUID) -> int:
        """What payers still owe on the invoice (account 1210, debit positive)."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.invoice_id == invoice_id, Account.code == AccountCode.INSURANCE_AR.value)
        )
        return int(total or 0)

    # -- reminders -------------------------------------------------------------------------------
    def open_with_deadline_before(self, last_day: dt.date, limit: int) -> list[Appeal]:
        """Appeals still to be decided (draft or sent) whose deadline is on or before
        ``last_day``."""
        return list(
            self.session.scalars(
                select(Appeal)
                .where(Appeal.status.in_(("draft", "sent")), Appeal.deadline <= last_day)
                .order_by(Appeal.deadline, Appeal.id)
                .limit(limit)
            )
        )

    def reminders_of(self, appeal_ids: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, int]]:
        if not appeal_ids:
            return set()
        rows = self.session.execute(
            select(AppealReminder.appeal_id, AppealReminder.days_before).where(
                AppealReminder.appeal_id.in_(appeal_ids)
            )
        ).all()
        return {(a, int(d)) for a, d in rows}
