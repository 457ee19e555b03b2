"""How a remittance set's claims reach the database (docs/remittance-posting.md, "Throughput").

The per-claim business rules (:func:`revcycle.remittances.claim_rules.apply_to_claim`) ask a
*writes* object for the claim's locks, its lines, to post a journal entry and to settle the
invoice afterwards. Two implementations:

* :class:`Immediate` does each thing at once, with its own statements (a claim matched by hand
  from the unmatched queue; a later payer's claim, which reads the ledger).
* :class:`SetBatch` serves a whole 835 set: :meth:`SetBatch.load` reads every claim the set
  names in one statement, locks their invoices then the claims (each class in id order, so
  concurrent posters cannot deadlock on each other; docs/architecture.md lock order: invoice ->
  claim) and reads all their lines; entries are gathered (their ids given up front) and
  :meth:`SetBatch.drain` writes them with ``ledger.post_entries_bulk``, writes the rows the
  claims added and the claims' changes without the unit of work (``kit/bulkwrite.py``: COPY,
  one ``UPDATE ... FROM unnest`` per table on PostgreSQL) and re-derives every touched
  invoice's status with one ledger query (one ``UPDATE`` for them all). While the set runs, any
  flush of the session writes the gathered entries and rows first, so code that flushes before
  reading the ledger sees them. The set stays one transaction: nothing is committed here.

Anything that must read what the set posted so far (a reversal reading the original entries, a
secondary claim reading the patient's balance on the invoice) drains the batch first, then runs
with :class:`Immediate`, so it sees exactly what it would have seen claim by claim.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from revcycle.claims.models import Claim, ClaimEvent, ClaimLine
from revcycle.claims.repository import IN_CHUNK, ClaimRepository
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit import bulkwrite
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.remittances.models import RemittanceClaim, Underpayment

# The rows a set adds by the thousand, written by :func:`bulkwrite.insert_pending` (tables in
# foreign-key order) instead of the session's flush.
BULK_ROWS = (RemittanceClaim, ClaimEvent, Underpayment)


def lock_claim(session: Session, claim_id: uuid.UUID) -> tuple[Claim, Invoice]:
    """Lock one claim's invoice, then the claim (reloaded)."""
    claim = session.get(Claim, claim_id)
    assert claim is not None
    [invoice] = InvoiceRepository(session).lock_many([claim.invoice_id], refresh=True)
    [locked] = ClaimRepository(session).lock_many([claim_id])
    return locked, invoice


class Immediate:
    """Every write at once (one claim at a time)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, claim: Claim) -> tuple[Claim, Invoice]:
        return lock_claim(self.session, claim.id)

    def lines_of(self, claim: Claim) -> list[ClaimLine]:
        return ClaimRepository(self.session).lines_of([claim.id])[claim.id]

    def post(self, spec: ledger.EntrySpec) -> uuid.UUID:
        return ledger.post_entry(self.session, spec)

    def settle(self, invoice: Invoice) -> None:
        invoices_service.refresh_status(self.session, invoice)
        self.session.flush()


class SetBatch:
    """The claims, invoices and lines of one set, locked and loaded up front; entries and
    invoice refreshes gathered until :meth:`drain`.

    Used as a context manager for the set: meanwhile any flush of the session writes the
    gathered entries first (so rows pointing at them can be flushed, and code that flushes
    before reading the ledger, as every reader must, sees them)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.by_control_number: dict[str, list[Claim]] = {}
        self.invoices: dict[uuid.UUID, Invoice] = {}
        self.lines: dict[uuid.UUID, list[ClaimLine]] = {}
        self.pending: list[ledger.EntrySpec] = []
        self.touched: dict[uuid.UUID, Invoice] = {}

    @classmethod
    def load(
        cls,
        session: Session,
        practice_id: uuid.UUID,
        payer_id: uuid.UUID | None,
        control_numbers: Iterable[str],
    ) -> SetBatch:
        """Every claim carrying one of ``control_numbers``; those to ``payer_id`` that are not
        void are locked (invoices first) and their lines read."""
        batch = cls(session)
        repo = ClaimRepository(session)
        keys = repo.keys_by_control_numbers(practice_id, list(control_numbers))
        wanted = [k for k in keys if payer_id is not None and k[2] == payer_id and k[3] != "void"]
        invoice_ids = sorted({k[1] for k in wanted})
        invoices = InvoiceRepository(session)
        for start in range(0, len(invoice_ids), IN_CHUNK):
            for inv in invoices.lock_many(invoice_ids[start : start + IN_CHUNK], refresh=True):
                batch.invoices[inv.id] = inv
        wanted_ids = {k[0] for k in wanted}
        found = repo.lock_many(list(wanted_ids))
        found += repo.lock_many([k[0] for k in keys if k[0] not in wanted_ids], lock=False)
        for claim in sorted(found, key=lambda c: c.id):
            batch.by_control_number.setdefault(claim.control_number, []).append(claim)
        batch.lines = repo.lines_for_matching(sorted(wanted_ids))
        return batch

    def __enter__(self) -> SetBatch:
        event.listen(self.session, "before_flush", self._before_flush)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event.remove(self.session, "before_flush", self._before_flush)

    def _before_flush(self, *_event_args: Any) -> None:
        self.write()

    # -- what apply_to_claim asks for -------------------------------------------------------
    def claims_by_control_number(self, control_number: str) -> list[Claim]:
        """As ``ClaimRepository.by_control_number`` (oldest first), from what was loaded."""
        return self.by_control_number.get(control_number, [])

    def lock(self, claim: Claim) -> tuple[Claim, Invoice]:
        invoice = self.invoices.get(claim.invoice_id)
        if invoice is None or claim.id not in self.lines:  # not loaded: lock it now
            return lock_claim(self.session, claim.id)
        return claim, invoice

    def lines_of(self, claim: Claim) -> list[ClaimLine]:
        lines = self.lines.get(claim.id)
        if lines is None:
            lines = self.lines[claim.id] = ClaimRepository(self.session).lines_of([claim.id])[
                claim.id
            ]
        return lines

    def post(self, spec: ledger.EntrySpec) -> uuid.UUID:
        """Keep the entry for :meth:`drain`; its id is fixed now."""
        if spec.id is None:
            spec = dataclasses.replace(spec, id=uuid7())
        assert spec.id is not None
        ledger.check_balanced(spec.legs)  # refused here, at the claim that made it
        self.pending.append(spec)
        return spec.id

    def settle(self, invoice: Invoice) -> None:
        self.touched[invoice.id] = invoice

    # -- writing ----------------------------------------------------------------------------
    def write_entries(self) -> None:
        """The gathered entries, before the rows that point at them (no flush first: what the
        postings name, invoices and patients, was written before the set)."""
        if self.pending:
            pending, self.pending = self.pending, []
            ledger.post_entries_bulk(self.session, pending, flush_first=False)

    def write(self) -> None:
        """Everything the set added so far, without the session's unit of work: the entries
        (COPY), then the new ``remittance_claims``, ``claim_events`` and ``underpayments`` rows
        (COPY), then the claims' changes (one ``UPDATE`` per set of changed columns). Anything
        else pending is left to the flush that follows."""
        self.write_entries()
        bulkwrite.insert_pending(self.session, BULK_ROWS)
        bulkwrite.update_dirty(
            self.session, [o for o in self.session.dirty if isinstance(o, Claim)]
        )

    def drain(self) -> None:
        """Write what the set gathered, flush, and refresh the touched invoices from the
        ledger (their new statuses in one ``UPDATE``)."""
        self.write()
        self.session.flush()
        touched = sorted(self.touched.values(), key=lambda i: i.id)
        for start in range(0, len(touched), IN_CHUNK):
            invoices_service.refresh_statuses(self.session, touched[start : start + IN_CHUNK])
        bulkwrite.update_dirty(self.session, touched)
        self.touched = {}
