"""All SQL for invoices, lines, adjustments and the number sequence."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.orm import Session, selectinload

from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine, InvoiceSequence
from revcycle.kit import bulk
from revcycle.payments.models import Payment, PaymentAllocation


@dataclass(frozen=True)
class InvoiceFilter:
    practice_ids: frozenset[uuid.UUID] | None = None  # caller's scope (None = all)
    patient_ids: frozenset[uuid.UUID] | None = None  # caller's scope for patients
    practice_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None
    overdue_on: dt.date | None = None  # only invoices overdue on this date
    exclude_drafts: bool = False  # patients never see drafts


class InvoiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, invoice_id: uuid.UUID, *, with_lines: bool = False) -> Invoice | None:
        q = select(Invoice).where(Invoice.id == invoice_id)
        if with_lines:
            q = q.options(selectinload(Invoice.lines))
        return self.session.scalar(q)

    def get_for_update(self, invoice_id: uuid.UUID) -> Invoice | None:
        return self.session.scalar(
            select(Invoice)
            .where(Invoice.id == invoice_id)
            .options(selectinload(Invoice.lines))
            .with_for_update()
        )

    def set_statuses(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each row: ``id``, ``status`` (one statement for a batch)."""
        bulk.update_rows(self.session, cast(Table, Invoice.__table__), "id", rows)

    def rows(self, invoice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """id -> (id, patient_id, currency, status, total_minor) as a plain row."""
        if not invoice_ids:
            return {}
        return {
            r.id: r
            for r in self.session.execute(
                select(
                    Invoice.id,
                    Invoice.patient_id,
                    Invoice.currency,
                    Invoice.status,
                    Invoice.total_minor,
                ).where(bulk.among(self.session, Invoice.id, invoice_ids))
            )
        }

    def lock_many(
        self, invoice_ids: Sequence[uuid.UUID], *, refresh: bool = False
    ) -> list[Invoice]:
        """Lock in id order (the documented lock order) so concurrent payers cannot deadlock;
        ``refresh`` reloads invoices already in the session (what was read before the lock may
        have changed)."""
        if not invoice_ids:
            return []
        stmt = (
            select(Invoice)
            .where(bulk.among(self.session, Invoice.id, invoice_ids))
            .order_by(Invoice.id)
        )
        if refresh:
            stmt = stmt.execution_options(populate_existing=True)
        return list(self.session.scalars(stmt.with_for_update()).all())

    def open_for_patient(self, patient_id: uuid.UUID) -> list[Invoice]:
        return list(
            self.session.scalars(
                select(Invoice)
                .where(
                    Invoice.patient_id == patient_id, Invoice.status.in_(("open", "partially_paid"))
                )
                .order_by(Invoice.id)
                .with_for_update()
            ).all()
        )

    def for_patient(self, patient_id: uuid.UUID) -> list[Invoice]:
        return list(
            self.session.scalars(select(Invoice).where(Invoice.patient_id == patient_id)).all()
        )

    def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Invoice]:
        if not ids:
            return {}
        return {i.id: i for i in self.session.scalars(select(Invoice).where(Invoice.id.in_(ids)))}

    def replace_lines(self, invoice: Invoice, lines: list[InvoiceLine]) -> None:
        self.session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))
        self.session.flush()
        for line in lines:
            line.invoice_id = invoice.id
            self.session.add(line)

    def take_number(self, practice_id: uuid.UUID) -> int:
        """Next gap-free number: an atomic increment that holds the row lock until commit."""
        number = self.session.scalar(
            update(InvoiceSequence)
            .where(InvoiceSequence.practice_id == practice_id)
            .values(last_number=InvoiceSequence.last_number + 1)
            .returning(InvoiceSequence.last_number)
            # The sequence row is never loaded as an object: skip scanning the identity map.
            .execution_options(synchronize_session=False)
        )
        if number is None:
            raise LookupError(f"practice {practice_id} has no invoice sequence")
        return int(number)

    def assign_number(
        self,
        invoice_id: uuid.UUID,
        practice_id: uuid.UUID,
        prefix: str,
        issue_entry_id: uuid.UUID | None,
    ) -> int:
        """Take the next number and write it on the invoice in ONE statement on PostgreSQL, so
        the sequence row lock is held for that statement plus COMMIT only."""
        if self.session.get_bind().dialect.name != "postgresql":
            number = self.take_number(practice_id)
            self.session.execute(
                update(Invoice)
                .where(Invoice.id == invoice_id)
                .values(
                    number=number,
                    display_number=f"{prefix}-{number:06d}",
                    issue_entry_id=issue_entry_id,
                )
                .execution_options(synchronize_session=False)
            )
            return number
        return int(
            self.session.execute(
                text(
                    "WITH n AS (UPDATE invoice_sequences SET last_number = last_number + 1 "
                    "WHERE practice_id = :p RETURNING last_number) "
                    "UPDATE invoices SET issue_entry_id = :entry, number = n.last_number, "
                    "display_number = :prefix || '-' "
                    "|| lpad(n.last_number::text, greatest(6, length(n.last_number::text)), '0') "
                    "FROM n WHERE invoices.id = :id RETURNING invoices.number"
                ),
                {"p": practice_id, "prefix": prefix, "id": invoice_id, "entry": issue_entry_id},
            ).scalar_one()
        )

    def search(
        self, f: InvoiceFilter, *, before: uuid.UUID | None, limit: int, with_lines: bool
    ) -> Sequence[Invoice]:
        q = select(Invoice).order_by(Invoice.id.desc()).limit(limit)
        if with_lines:
            q = q.options(selectinload(Invoice.lines))
        if f.practice_ids is not None:
            q = q.where(Invoice.practice_id.in_(f.practice_ids))
        if f.patient_ids is not None:
            q = q.where(Invoice.patient_id.in_(f.patient_ids))
        if f.practice_id is not None:
            q = q.where(Invoice.practice_id == f.practice_id)
        if f.patient_id is not None:
            q = q.where(Invoice.patient_id == f.patient_id)
        if f.exclude_drafts:
            q = q.where(Invoice.status != "draft")
        if f.statuses:
            q = q.where(Invoice.status.in_(f.statuses))
        if f.issued_from is not None:
            q = q.where(Invoice.issue_date >= f.issued_from)
        if f.issued_to is not None:
            q = q.where(Invoice.issue_date <= f.issued_to)
        if f.overdue_on is not None:
            q = q.where(
                Invoice.status.in_(("open", "partially_paid")), Invoice.due_date < f.overdue_on
            )
        if before is not None:
            q = q.where(Invoice.id < before)
        return self.session.scalars(q).all()

    def adjustments(self, invoice_id: uuid.UUID) -> Sequence[InvoiceAdjustment]:
        return self.session.scalars(
            select(InvoiceAdjustment)
            .where(InvoiceAdjustment.invoice_id == invoice_id)
            .order_by(InvoiceAdjustment.created_at, InvoiceAdjustment.id)
        ).all()

    def payments(self, invoice_id: uuid.UUID) -> list[Any]:
        return list(
            self.session.execute(
                select(
                    Payment.id,
                    Payment.received_on,
                    Payment.method,
                    Payment.reference,
                    PaymentAllocation.amount_minor,
                    PaymentAllocation.currency,
                )
                .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
                .where(PaymentAllocation.invoice_id == invoice_id)
                .order_by(Payment.received_on, Payment.created_at, Payment.id)
            ).all()
        )

    def all_issued(self) -> Sequence[Invoice]:
        return self.session.scalars(
            select(Invoice)
            .where(Invoice.status != "draft", Invoice.number.is_not(None))
            .order_by(Invoice.practice_id, Invoice.number)
        ).all()

    def sequences(self) -> dict[uuid.UUID, int]:
        return {s.practice_id: s.last_number for s in self.session.scalars(select(InvoiceSequence))}
