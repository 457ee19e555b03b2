"""All SQL for the remittance posting tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.insurance.models import Payer
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceQuarantine,
    RemittanceUnmatched,
    Underpayment,
)


class RemittanceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- remittances ---------------------------------------------------------------------------
    def by_identity(
        self,
        practice_id: uuid.UUID,
        payer_identifier: str,
        payee_identifier: str,
        trace_number: str,
        payment_minor: int,
        payment_date: dt.date,
    ) -> Remittance | None:
        return self.session.scalar(
            select(Remittance).where(
                Remittance.practice_id == practice_id,
                Remittance.payer_identifier == payer_identifier,
                Remittance.payee_identifier == payee_identifier,
                Remittance.trace_number == trace_number,
                Remittance.payment_minor == payment_minor,
                Remittance.payment_date == payment_date,
            )
        )

    def get(self, remittance_id: uuid.UUID) -> Remittance | None:
        return self.session.get(Remittance, remittance_id)

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Remittance]:
        q = select(Remittance).order_by(Remittance.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Remittance.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(Remittance.practice_id == practice_id)
        if after is not None:
            q = q.where(Remittance.id > after)
        return self.session.scalars(q).all()

    def payer_by_edi_id(self, practice_id: uuid.UUID, edi_payer_id: str) -> Payer | None:
        if not edi_payer_id:
            return None
        return self.session.scalar(
            select(Payer).where(
                Payer.practice_id == practice_id, Payer.edi_payer_id == edi_payer_id
            )
        )

    # -- claims of a remittance ----------------------------------------------------------------
    def claims_of(self, remittance_id: uuid.UUID) -> list[RemittanceClaim]:
        return list(
            self.session.scalars(
                select(RemittanceClaim)
                .where(RemittanceClaim.remittance_id == remittance_id)
                .order_by(RemittanceClaim.position)
            )
        )

    def get_claim(self, remittance_claim_id: uuid.UUID) -> RemittanceClaim | None:
        return self.session.get(RemittanceClaim, remittance_claim_id)

    def original_posting(
        self, practice_id: uuid.UUID, payer_identifier: str, payer_claim_number: str
    ) -> RemittanceClaim | None:
        """The latest not yet reversed posting of a payer's claim number (the one a CLP02=22
        reversal undoes)."""
        reversed_ids = select(RemittanceClaim.reverses_id).where(
            RemittanceClaim.reverses_id.is_not(None)
        )
        return self.session.scalar(
            select(RemittanceClaim)
            .join(Remittance, Remittance.id == RemittanceClaim.remittance_id)
            .where(
                RemittanceClaim.practice_id == practice_id,
                Remittance.payer_identifier == payer_identifier,
                RemittanceClaim.payer_claim_number == payer_claim_number,
                RemittanceClaim.outcome.in_(("adjudicated", "denied", "unmatched")),
                RemittanceClaim.id.not_in(reversed_ids),
            )
            .order_by(RemittanceClaim.id.desc())
            .limit(1)
        )

    def original_by_control_number(
        self,
        practice_id: uuid.UUID,
        payer_identifier: str,
        patient_control_number: str,
        charge_minor: int,
        paid_minor: int,
    ) -> RemittanceClaim | None:
        """4010 fallback when the reversal has no CLP07: CLP01 and the negated amounts."""
        reversed_ids = select(RemittanceClaim.reverses_id).where(
            RemittanceClaim.reverses_id.is_not(None)
        )
        return self.session.scalar(
            select(RemittanceClaim)
            .join(Remittance, Remittance.id == RemittanceClaim.remittance_id)
            .where(
                RemittanceClaim.practice_id == practice_id,
                Remittance.payer_identifier == payer_identifier,
                RemittanceClaim.patient_control_number == patient_control_number,
                RemittanceClaim.charge_minor == -charge_minor,
                RemittanceClaim.paid_minor == -paid_minor,
                RemittanceClaim.outcome.in_(("adjudicated", "denied", "unmatched")),
                RemittanceClaim.id.not_in(reversed_ids),
            )
            .order_by(RemittanceClaim.id.desc())
            .limit(1)
        )

    # -- unmatched queue -----------------------------------------------------------------------
    def unmatched_for_update(self, unmatched_id: uuid.UUID) -> RemittanceUnmatched | None:
        return self.session.scalar(
            select(RemittanceUnmatched)
            .where(RemittanceUnmatched.id == unmatched_id)
            .with_for_update()
        )

    def unmatched_of_claim(self, remittance_claim_id: uuid.UUID) -> RemittanceUnmatched | None:
        return self.session.scalar(
            select(RemittanceUnmatched).where(
                RemittanceUnmatched.remittance_claim_id == remittance_claim_id
            )
        )

    def unmatched(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        status: str | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[tuple[RemittanceUnmatched, RemittanceClaim]]:
        q = (
            select(RemittanceUnmatched, RemittanceClaim)
            .join(RemittanceClaim, RemittanceClaim.id == RemittanceUnmatched.remittance_claim_id)
            .order_by(RemittanceUnmatched.id)
            .limit(limit)
        )
        if practice_ids is not None:
            q = q.where(RemittanceUnmatched.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(RemittanceUnmatched.practice_id == practice_id)
        if status is not None:
            q = q.where(RemittanceUnmatched.status == status)
        if after is not None:
            q = q.where(RemittanceUnmatched.id > after)
        return [(u, c) for u, c in self.session.execute(q).all()]

    # -- underpayments -------------------------------------------------------------------------
    def underpayment_of(self, remittance_claim_id: uuid.UUID) -> Underpayment | None:
        return self.session.scalar(
            select(Underpayment).where(Underpayment.remittance_claim_id == remittance_claim_id)
        )

    def underpayments(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        status: str | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[Underpayment]:
        q = select(Underpayment).order_by(Underpayment.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Underpayment.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(Underpayment.practice_id == practice_id)
        if status is not None:
            q = q.where(Underpayment.status == status)
        if after is not None:
            q = q.where(Underpayment.id > after)
        return self.session.scalars(q).all()

    # -- quarantine ----------------------------------------------------------------------------
    def quarantined(self, practice_id: uuid.UUID, sha256: str) -> RemittanceQuarantine | None:
        return self.session.scalar(
            select(RemittanceQuarantine).where(
                RemittanceQuarantine.practice_id == practice_id,
                RemittanceQuarantine.sha256 == sha256,
            )
        )
