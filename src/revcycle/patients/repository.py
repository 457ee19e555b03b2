"""All SQL for patients."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.kit import bulk
from revcycle.patients.models import Patient


class PatientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, patient_id: uuid.UUID) -> Patient | None:
        return self.session.get(Patient, patient_id)

    def get_for_update(self, patient_id: uuid.UUID) -> Patient | None:
        return self.session.scalar(
            select(Patient).where(Patient.id == patient_id).with_for_update()
        )

    def lock_many(self, patient_ids: Sequence[uuid.UUID]) -> None:
        """Lock several patients in id order (a batch of autopay outcomes)."""
        if patient_ids:
            self.session.execute(
                select(Patient.id)
                .where(bulk.among(self.session, Patient.id, patient_ids))
                .order_by(Patient.id)
                .with_for_update()
            ).all()

    def by_account_number(self, practice_id: uuid.UUID, number: str) -> Patient | None:
        return self.session.scalar(
            select(Patient).where(
                Patient.practice_id == practice_id, Patient.account_number == number
            )
        )

    def count_in_practice(self, practice_id: uuid.UUID) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(Patient).where(Patient.practice_id == practice_id)
            )
            or 0
        )

    def dependant_ids(self, guarantor_id: uuid.UUID) -> list[uuid.UUID]:
        return list(
            self.session.scalars(
                select(Patient.id).where(Patient.guarantor_id == guarantor_id)
            ).all()
        )

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        after: uuid.UUID | None,
        limit: int,
        blind: Mapping[str, Sequence[str]] | None = None,
    ) -> Sequence[Patient]:
        """Patients in scope by id (keyset). ``blind`` maps a blind-index column to the digests
        it may hold (one per key id, see crypto.blind_index.candidates); PHI columns themselves
        are sealed and cannot be filtered or sorted in SQL."""
        q = select(Patient).order_by(Patient.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Patient.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(Patient.id.in_(patient_ids))
        if practice_id is not None:
            q = q.where(Patient.practice_id == practice_id)
        for column, digests in (blind or {}).items():
            q = q.where(getattr(Patient, column).in_(list(digests)))
        if after is not None:
            q = q.where(Patient.id > after)
        return self.session.scalars(q).all()
