"""All SQL for the claims tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from revcycle.claims.models import (
    Claim,
    ClaimBatch,
    ClaimEvent,
    ClaimLine,
    ClaimSequence,
    ClaimSubmission,
    X12ControlCounter,
)
from revcycle.claims.states import LIVE
from revcycle.kit import bulk

# Ids per IN list: one statement per this many (a remittance set can name tens of thousands).
IN_CHUNK = 5_000


class ClaimRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- claims ------------------------------------------------------------------------------
    def get(self, claim_id: uuid.UUID, *, for_update: bool = False) -> Claim | None:
        stmt = select(Claim).where(Claim.id == claim_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalar(stmt)

    def by_control_number(self, practice_id: uuid.UUID, control_number: str) -> list[Claim]:
        """Every claim carrying a CLM01 (an original and its replacements share it), oldest
        first."""
        return list(
            self.session.scalars(
                select(Claim)
                .where(Claim.practice_id == practice_id, Claim.control_number == control_number)
                .order_by(Claim.id)
            )
        )

    def keys_by_control_numbers(
        self, practice_id: uuid.UUID, control_numbers: Sequence[str]
    ) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]]:
        """(id, invoice id, payer id, status) of every claim carrying one of the CLM01s, in id
        order: what a caller needs to choose which claims (and invoices) to lock."""
        out: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]] = []
        numbers = sorted(set(control_numbers))
        for start in range(0, len(numbers), IN_CHUNK):
            rows = self.session.execute(
                select(Claim.id, Claim.invoice_id, Claim.payer_id, Claim.status).where(
                    Claim.practice_id == practice_id,
                    bulk.among(
                        self.session, Claim.control_number, numbers[start : start + IN_CHUNK]
                    ),
                )
            )
            out.extend((r.id, r.invoice_id, r.payer_id, r.status) for r in rows)
        return sorted(out)

    def lock_many(self, claim_ids: Sequence[uuid.UUID], *, lock: bool = True) -> list[Claim]:
        """Load claims in id order, locked (concurrent callers cannot deadlock on each other)
        unless ``lock`` is False, and reloaded: what was read before may have changed."""
        out: list[Claim] = []
        ids = sorted(set(claim_ids))
        for start in range(0, len(ids), IN_CHUNK):
            stmt = (
                select(Claim)
                .where(bulk.among(self.session, Claim.id, ids[start : start + IN_CHUNK]))
                .order_by(Claim.id)
                .execution_options(populate_existing=True)
            )
            out.extend(self.session.scalars(stmt.with_for_update() if lock else stmt))
        return out

    def lines_for_matching(
        self, claim_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ClaimLine]]:
        """:meth:`lines_of` without the JSON columns (modifiers, diagnosis pointers), which
        matching an 835 line does not read; they load on first use."""
        out: dict[uuid.UUID, list[ClaimLine]] = {cid: [] for cid in claim_ids}
        ids = list(out)
        for start in range(0, len(ids), IN_CHUNK):
            for line in self.session.scalars(
                select(ClaimLine)
                .options(defer(ClaimLine.modifiers), defer(ClaimLine.diagnosis_pointers))
                .where(bulk.among(self.session, ClaimLine.claim_id, ids[start : start + IN_CHUNK]))
                .order_by(ClaimLine.claim_id, ClaimLine.position)
            ):
                out[line.claim_id].append(line)
        return out

    def lines_of(self, claim_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ClaimLine]]:
        out: dict[uuid.UUID, list[ClaimLine]] = {cid: [] for cid in claim_ids}
        ids = list(out)
        for start in range(0, len(ids), IN_CHUNK):
            for line in self.session.scalars(
                select(ClaimLine)
                .where(ClaimLine.claim_id.in_(ids[start : start + IN_CHUNK]))
                .order_by(ClaimLine.claim_id, ClaimLine.position)
            ):
                out[line.claim_id].append(line)
        return out

    def events_of(self, claim_id: uuid.UUID) -> list[ClaimEvent]:
        self.session.flush()
        return list(
            self.session.scalars(
                select(ClaimEvent)
                .where(ClaimEvent.claim_id == claim_id)
                .order_by(ClaimEvent.at, ClaimEvent.id)
            )
        )

    def live_claimed_lines(
        self, invoice_line_ids: Sequence[uuid.UUID], sequence: str
    ) -> dict[uuid.UUID, Claim]:
        """Invoice lines already on a live (not void) claim of ``sequence``."""
        if not invoice_line_ids:
            return {}
        rows = self.session.execute(
            select(ClaimLine.invoice_line_id, Claim)
            .join(Claim, Claim.id == ClaimLine.claim_id)
            .where(
                ClaimLine.invoice_line_id.in_(invoice_line_ids),
                Claim.sequence == sequence,
                Claim.status.in_(sorted(LIVE)),
                # A replacement (7) or void (8) re-bills lines its original claimed.
                Claim.frequency_code == "1",
            )
        ).all()
        return {line_id: claim for line_id, claim in rows}  # noqa: C416 - typed pairs

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        patient_ids: frozenset[uuid.UUID] | None = None,
        practice_id: uuid.UUID | None = None,
        patient_id: uuid.UUID | None = None,
        statuses: Sequence[str] | None = None,
        payer_id: uuid.UUID | None = None,
        invoice_id: uuid.UUID | None = None,
        after: uuid.UUID | None = None,
        limit: int | None = None,
    ) -> Sequence[Claim]:
        q = select(Claim).order_by(Claim.id)
        if practice_ids is not None:
            q = q.where(Claim.practice_id.in_(practice_ids))
        if patient_ids is not None:
            q = q.where(Claim.patient_id.in_(patient_ids))
        if practice_id is not None:
            q = q.where(Claim.practice_id == practice_id)
        if patient_id is not None:
            q = q.where(Claim.patient_id == patient_id)
        if statuses is not None:
            q = q.where(Claim.status.in_(statuses))
        if payer_id is not None:
            q = q.where(Claim.payer_id == payer_id)
        if invoice_id is not None:
            q = q.where(Claim.invoice_id == invoice_id)
        if after is not None:
            q = q.where(Claim.id > after)
        if limit is not None:
            q = q.limit(limit)
        return self.session.scalars(q).all()

    # -- numbers -------------------------------------------------------------------------------
    def _ensure_row(
        self, table: type[ClaimSequence] | type[X12ControlCounter], pid: uuid.UUID
    ) -> None:
        dialect = self.session.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        self.session.execute(ins.values(practice_id=pid).on_conflict_do_nothing())

    def take_claim_number(self, practice_id: uuid.UUID) -> int:
        """Next gap-free claim number of the practice (the row lock is held until commit)."""
        self._ensure_row(ClaimSequence, practice_id)
        number = self.session.scalar(
            update(ClaimSequence)
            .where(ClaimSequence.practice_id == practice_id)
            .values(last_number=ClaimSequence.last_number + 1)
            .returning(ClaimSequence.last_number)
            .execution_options(synchronize_session=False)
        )
        assert number is not None
        return int(number)

    def take_interchange_number(self, practice_id: uuid.UUID) -> int:
        """Next ISA13 for the practice's claim files (1..999,999,999, unique per sender: the
        batch table's UNIQUE(practice_id, interchange_control_number) backs it)."""
        self._ensure_row(X12ControlCounter, practice_id)
        number = self.session.scalar(
            update(X12ControlCounter)
            .where(X12ControlCounter.practice_id == practice_id)
            .values(last_interchange=X12ControlCounter.last_interchange + 1)
            .returning(X12ControlCounter.last_interchange)
            .execution_options(synchronize_session=False)
        )
        assert number is not None
        if number > 999_999_999:
            raise OverflowError("ISA13 control numbers are exhausted for this practice")
        return int(number)

    # -- batches -------------------------------------------------------------------------------
    def batch(self, batch_id: uuid.UUID) -> ClaimBatch | None:
        return self.session.get(ClaimBatch, batch_id)

    def submissions_of(self, claim_id: uuid.UUID) -> list[ClaimSubmission]:
        return list(
            self.session.scalars(
                select(ClaimSubmission)
                .where(ClaimSubmission.claim_id == claim_id)
                .order_by(ClaimSubmission.attempt)
            )
        )

    # -- submission (docs/claim-submission.md) -------------------------------------------------
    def scrubbed_for_submission(
        self,
        practice_id: uuid.UUID,
        claim_ids: Sequence[uuid.UUID] | None,
        limit: int,
    ) -> list[Claim]:
        """Scrubbed claims of the practice, row-locked; on PostgreSQL ``SKIP LOCKED`` so a
        concurrent submitter takes other claims instead of waiting for these."""
        q = select(Claim).where(Claim.practice_id == practice_id, Claim.status == "scrubbed")
        if claim_ids is not None:
            q = q.where(Claim.id.in_(claim_ids))
        q = q.order_by(Claim.id).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        else:
            q = q.with_for_update()
        return list(self.session.scalars(q))

    def last_attempts(self, claim_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not claim_ids:
            return {}
        rows = self.session.execute(
            select(ClaimSubmission.claim_id, func.max(ClaimSubmission.attempt))
            .where(ClaimSubmission.claim_id.in_(claim_ids))
            .group_by(ClaimSubmission.claim_id)
        ).all()
        return {cid: int(n) for cid, n in rows}

    def batch_for_update(self, batch_id: uuid.UUID) -> ClaimBatch | None:
        return self.session.scalar(
            select(ClaimBatch).where(ClaimBatch.id == batch_id).with_for_update()
        )

    def batch_by_control_number(
        self, practice_id: uuid.UUID, interchange_control_number: int
    ) -> ClaimBatch | None:
        return self.session.scalar(
            select(ClaimBatch).where(
                ClaimBatch.practice_id == practice_id,
                ClaimBatch.interchange_control_number == interchange_control_number,
            )
        )

    def batch_by_reference(self, reference: str) -> ClaimBatch | None:
        return self.session.scalar(
            select(ClaimBatch).where(ClaimBatch.batch_reference == reference).limit(1)
        )

    def unsent_batches(self, created_before: dt.datetime, limit: int) -> list[uuid.UUID]:
        return list(
            self.session.scalars(
                select(ClaimBatch.id)
                .where(ClaimBatch.status == "built", ClaimBatch.created_at < created_before)
                .order_by(ClaimBatch.created_at, ClaimBatch.id)
                .limit(limit)
            )
        )

    def submissions_in_batch(self, batch_id: uuid.UUID) -> list[tuple[ClaimSubmission, Claim]]:
        rows = self.session.execute(
            select(ClaimSubmission, Claim)
            .join(Claim, Claim.id == ClaimSubmission.claim_id)
            .where(ClaimSubmission.batch_id == batch_id)
            .order_by(ClaimSubmission.set_control_number, ClaimSubmission.first_segment)
        ).all()
        return [(s, c) for s, c in rows]

    def latest_submission(self, claim_id: uuid.UUID) -> ClaimSubmission | None:
        return self.session.scalar(
            select(ClaimSubmission)
            .where(ClaimSubmission.claim_id == claim_id)
            .order_by(ClaimSubmission.attempt.desc())
            .limit(1)
        )

    def live_replacement_of(self, claim_id: uuid.UUID) -> Claim | None:
        return self.session.scalar(
            select(Claim)
            .where(Claim.replaces_claim_id == claim_id, Claim.status != "void")
            .limit(1)
        )
