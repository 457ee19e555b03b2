"""Receipt numbers, assigned when money moves for good (docs/front-desk.md).

``R-2026-000123``: a settled payment (series ``R``); ``RF-2026-000045``: a paid refund (series
``RF``). Numbers run per practice, series and calendar year (UTC) from 1 without gaps: the number
is taken from the ``receipt_sequences`` row with an atomic increment in the same transaction as
the payment or refund, so a rollback returns it and concurrent takers queue on the row lock.
The number is taken last (lock order ... -> drawer -> receipt sequence), so the row stays locked
only from there to COMMIT.

Payments and refunds call exactly one function here when they settle: :func:`assign_payment` /
:func:`assign_refund`. Each also records cash and cheques in the taker's open drawer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.cash import service as cash
from revcycle.cash.repository import DRAWER_METHODS
from revcycle.kit.clock import today, utcnow
from revcycle.kit.ids import uuid7
from revcycle.payments.models import Payment
from revcycle.receipts.models import Receipt
from revcycle.receipts.repository import ReceiptRepository
from revcycle.refunds.models import Refund

PAYMENT_SERIES = "R"
REFUND_SERIES = "RF"


def display_number(series: str, year: int, number: int) -> str:
    return f"{series}-{year}-{number:06d}"


def _issue(
    session: Session,
    series: str,
    *,
    practice_id: uuid.UUID,
    patient_id: uuid.UUID,
    amount_minor: int,
    currency: str,
    payment_id: uuid.UUID | None = None,
    refund_id: uuid.UUID | None = None,
) -> Receipt:
    year = today().year
    number = ReceiptRepository(session).take_number(practice_id, series, year)
    receipt = Receipt(
        id=uuid7(),
        practice_id=practice_id,
        patient_id=patient_id,
        series=series,
        year=year,
        number=number,
        display_number=display_number(series, year, number),
        payment_id=payment_id,
        refund_id=refund_id,
        amount_minor=amount_minor,
        currency=currency,
    )
    ReceiptRepository(session).add(receipt)
    return receipt


def assign_payment(session: Session, payment: Payment, *, just_posted: bool = False) -> Receipt:
    """A payment has just settled (its ledger entry is posted): drawer, then receipt number.
    A payment that has one already keeps it. ``just_posted``: the caller posted the payment's
    one ledger entry in this transaction, so it cannot have a receipt yet; the lookup is skipped
    (the unique ``receipts.payment_id`` still refuses a second one)."""
    if not just_posted:
        existing = ReceiptRepository(session).for_payment(payment.id)
        if existing is not None:
            return existing
    cash.attach_payment(session, payment)
    return _issue(
        session,
        PAYMENT_SERIES,
        practice_id=payment.practice_id,
        patient_id=payment.patient_id,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        payment_id=payment.id,
    )


def assign_refund(session: Session, refund: Refund) -> Receipt:
    """A refund has just been paid out (its entries are posted): drawer, then receipt number."""
    existing = ReceiptRepository(session).for_refund(refund.id)
    if existing is not None:
        return existing
    cash.attach_refund(session, refund)
    return _issue(
        session,
        REFUND_SERIES,
        practice_id=refund.practice_id,
        patient_id=refund.patient_id,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        refund_id=refund.id,
    )


@dataclass(frozen=True, slots=True)
class Settled:
    """A settled payment, as :func:`assign_gateway_payments` needs it (no ORM object)."""

    id: uuid.UUID
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    method: str
    amount_minor: int
    currency: str


def assign_gateway_payments(session: Session, payments: Sequence[Settled]) -> dict[uuid.UUID, str]:
    """:func:`assign_payments` for gateway payments (card, bank: never in a cash drawer) that
    settled together, set-based: one increment of each practice's sequence, one bulk INSERT.
    Numbers in the order of ``payments``, none twice. payment id -> receipt number."""
    assert not any(p.method in DRAWER_METHODS for p in payments)
    had = ReceiptRepository(session).numbers_for([p.id for p in payments], [])
    todo = [p for p in payments if p.id not in had]
    year = today().year
    next_number = _first_numbers(session, [p.practice_id for p in todo], year)
    rows = []
    now = utcnow()
    for p in todo:
        number = next_number[p.practice_id]
        next_number[p.practice_id] = number + 1
        shown = display_number(PAYMENT_SERIES, year, number)
        had[p.id] = shown
        rows.append(
            {
                "id": uuid7(),
                "practice_id": p.practice_id,
                "patient_id": p.patient_id,
                "series": PAYMENT_SERIES,
                "year": year,
                "number": number,
                "display_number": shown,
                "payment_id": p.id,
                "refund_id": None,
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "issued_at": now,
            }
        )
    ReceiptRepository(session).insert_many(rows)
    return had


def _first_numbers(
    session: Session, practice_ids: Sequence[uuid.UUID], year: int
) -> dict[uuid.UUID, int]:
    """One range of payment receipt numbers per practice, as many as it appears in
    ``practice_ids``, taken in practice-id order (the sequence rows' lock order): practice id ->
    the range's first number."""
    counts: dict[uuid.UUID, int] = {}
    for practice_id in practice_ids:
        counts[practice_id] = counts.get(practice_id, 0) + 1
    repo = ReceiptRepository(session)
    return {
        practice_id: repo.take_numbers(practice_id, PAYMENT_SERIES, year, count) - count + 1
        for practice_id, count in sorted(counts.items())
    }


def assign_payments(session: Session, payments: Sequence[Payment]) -> list[Receipt]:
    """:func:`assign_payment` for payments that settled together (a batch of autopay charges):
    drawer for each, then one increment of each practice's sequence for all its payments, numbers
    given in the order of ``payments``; one receipt each, none twice."""
    had = ReceiptRepository(session).numbers_for([p.id for p in payments], [])
    todo = [p for p in payments if p.id not in had]
    for payment in todo:
        cash.attach_payment(session, payment)
    year = today().year
    next_number = _first_numbers(session, [p.practice_id for p in todo], year)
    out = []
    for payment in todo:
        number = next_number[payment.practice_id]
        next_number[payment.practice_id] = number + 1
        out.append(
            Receipt(
                id=uuid7(),
                practice_id=payment.practice_id,
                patient_id=payment.patient_id,
                series=PAYMENT_SERIES,
                year=year,
                number=number,
                display_number=display_number(PAYMENT_SERIES, year, number),
                payment_id=payment.id,
                refund_id=None,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
            )
        )
    session.add_all(out)
    session.flush()
    return out
