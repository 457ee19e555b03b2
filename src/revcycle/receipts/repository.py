"""All SQL for receipts and their number sequences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from revcycle.kit import bulk
from revcycle.kit.upsert import insert_ignore
from revcycle.receipts.models import Receipt, ReceiptSequence

_RECEIPTS = cast(Table, Receipt.__table__)


class ReceiptRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _increment(
        self, practice_id: uuid.UUID, series: str, year: int, count: int = 1
    ) -> int | None:
        return self.session.scalar(
            update(ReceiptSequence)
            .where(
                ReceiptSequence.practice_id == practice_id,
                ReceiptSequence.series == series,
                ReceiptSequence.year == year,
            )
            .values(last_number=ReceiptSequence.last_number + count)
            .returning(ReceiptSequence.last_number)
            .execution_options(synchronize_session=False)
        )

    def take_number(self, practice_id: uuid.UUID, series: str, year: int) -> int:
        """The next number of a series: an atomic increment whose row lock is held until COMMIT
        (a rollback gives the number back). The year's row is created on first use; a
        concurrent creator waits on the conflicting insert, then increments the same row."""
        return self.take_numbers(practice_id, series, year, 1)

    def take_numbers(self, practice_id: uuid.UUID, series: str, year: int, count: int) -> int:
        """The next ``count`` numbers of a series in one increment (as :meth:`take_number`):
        returns the last of them; they are ``last - count + 1 .. last``, no gap."""
        number = self._increment(practice_id, series, year, count)
        if number is None:
            insert_ignore(
                self.session,
                ReceiptSequence,
                {"practice_id": practice_id, "series": series, "year": year, "last_number": 0},
                ["practice_id", "series", "year"],
            )
            number = self._increment(practice_id, series, year, count)
        assert number is not None
        return int(number)

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_rows(self.session, _RECEIPTS, rows)

    def add(self, receipt: Receipt) -> None:
        self.session.add(receipt)
        self.session.flush()

    def for_payment(self, payment_id: uuid.UUID) -> Receipt | None:
        return self.session.scalar(select(Receipt).where(Receipt.payment_id == payment_id))

    def for_refund(self, refund_id: uuid.UUID) -> Receipt | None:
        return self.session.scalar(select(Receipt).where(Receipt.refund_id == refund_id))

    def numbers_for(
        self, payment_ids: Sequence[uuid.UUID], refund_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """payment or refund id -> receipt number."""
        out: dict[uuid.UUID, str] = {}
        if payment_ids:
            for pid, number in self.session.execute(
                select(Receipt.payment_id, Receipt.display_number).where(
                    bulk.among(self.session, Receipt.payment_id, payment_ids)
                )
            ):
                if pid is not None:
                    out[pid] = number
        if refund_ids:
            for rid, number in self.session.execute(
                select(Receipt.refund_id, Receipt.display_number).where(
                    Receipt.refund_id.in_(refund_ids)
                )
            ):
                if rid is not None:
                    out[rid] = number
        return out
