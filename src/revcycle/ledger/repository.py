"""All SQL for the ledger tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, insert, select
from sqlalchemy.orm import Session

from revcycle.kit import bulk
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, JournalEntry, Posting

_ENTRIES = cast(Table, JournalEntry.__table__)
_POSTINGS = cast(Table, Posting.__table__)

# Immutable reference data (see account_ids); never balances or anything that changes.
_ACCOUNT_IDS: dict[uuid.UUID, dict[str, int]] = {}

AR_CODES = (AccountCode.PATIENT_AR.value, AccountCode.INSURANCE_AR.value)


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def account_ids(self, practice_id: uuid.UUID) -> dict[str, int]:
        """code -> account id for a practice. Chart rows are immutable (never updated or
        deleted), so the mapping is cached per process: every process derives the same value
        from the database, and a code missing from the cache is looked up again."""
        cached = _ACCOUNT_IDS.get(practice_id)
        if cached is not None and all(code.value in cached for code in AccountCode):
            return cached
        rows = self.session.execute(
            select(Account.code, Account.id).where(Account.practice_id == practice_id)
        ).all()
        mapping: dict[str, int] = {str(code): int(id_) for code, id_ in rows}
        if len(mapping) >= len(AccountCode):  # only cache a complete, committed-looking chart
            _ACCOUNT_IDS[practice_id] = mapping
        return mapping

    def add_accounts(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Account), rows)

    def insert_entries(self, entries: list[dict[str, Any]], postings: list[dict[str, Any]]) -> None:
        # Core table inserts: no ORM bulk machinery on the hottest write path.
        self.session.execute(insert(_ENTRIES), entries)
        self.session.execute(insert(_POSTINGS), postings)

    _ENTRY_COLUMNS = (
        "id",
        "practice_id",
        "kind",
        "memo",
        "effective_date",
        "created_at",
        "created_by",
        "reverses_id",
        "source_type",
        "source_id",
    )
    _POSTING_COLUMNS = (
        "entry_id",
        "account_id",
        "amount_minor",
        "currency",
        "patient_id",
        "invoice_id",
    )

    def insert_entries_bulk(
        self, entries: list[dict[str, Any]], postings: list[dict[str, Any]]
    ) -> None:
        """Large batches: PostgreSQL COPY (the deferred balance trigger still checks every entry
        at COMMIT); other databases use executemany."""
        if self.session.get_bind().dialect.name != "postgresql":
            self.insert_entries(entries, postings)
            return
        raw = self.session.connection().connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            cols = ", ".join(self._ENTRY_COLUMNS)
            with cur.copy(f"COPY journal_entries ({cols}) FROM STDIN") as copy:
                for e in entries:
                    copy.write_row([e[c] for c in self._ENTRY_COLUMNS])
            cols = ", ".join(self._POSTING_COLUMNS)
            with cur.copy(f"COPY postings ({cols}) FROM STDIN") as copy:
                for p in postings:
                    copy.write_row([p[c] for c in self._POSTING_COLUMNS])

    def get_entry(self, entry_id: uuid.UUID) -> JournalEntry | None:
        return self.session.get(JournalEntry, entry_id)

    def postings_of(self, entry_id: uuid.UUID) -> Sequence[Posting]:
        return self.session.scalars(
            select(Posting).where(Posting.entry_id == entry_id).order_by(Posting.id)
        ).all()

    def list_entries(
        self, practice_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
    ) -> Sequence[JournalEntry]:
        q = (
            select(JournalEntry)
            .where(JournalEntry.practice_id == practice_id)
            .order_by(JournalEntry.id.desc())
            .limit(limit)
        )
        if before is not None:
            q = q.where(JournalEntry.id < before)
        return self.session.scalars(q).all()

    def postings_for(self, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Posting]]:
        out: dict[uuid.UUID, list[Posting]] = {}
        if not entry_ids:
            return out
        for p in self.session.scalars(
            select(Posting).where(Posting.entry_id.in_(entry_ids)).order_by(Posting.id)
        ):
            out.setdefault(p.entry_id, []).append(p)
        return out

    def reversal_of(self, entry_id: uuid.UUID) -> JournalEntry | None:
        return self.session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == entry_id))

    def invoice_account_balance(self, invoice_id: uuid.UUID, account: AccountCode) -> int:
        """The signed sum of one account's postings on an invoice (e.g. what the patient, or
        the payers, still owe on it)."""
        total = self.session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.invoice_id == invoice_id, Account.code == account.value)
        )
        return int(total or 0)

    def invoice_ar_balances(self, invoice_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        ids = list(invoice_ids)
        if not ids:
            return {}
        rows = self.session.execute(
            select(Posting.invoice_id, func.sum(Posting.amount_minor))
            .join(Account, Account.id == Posting.account_id)
            .where(
                bulk.among(self.session, Posting.invoice_id, ids),
                Account.code.in_(AR_CODES),
            )
            .group_by(Posting.invoice_id)
        ).all()
        found = {inv: int(total) for inv, total in rows}
        return {i: found.get(i, 0) for i in ids}

    def invoice_movements(self, invoice_id: uuid.UUID) -> list[tuple[str, int]]:
        """(entry kind, AR amount) per entry touching the invoice's receivable, in order."""
        rows = self.session.execute(
            select(JournalEntry.kind, func.sum(Posting.amount_minor))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Posting.invoice_id == invoice_id, Account.code.in_(AR_CODES))
            .group_by(JournalEntry.kind)
        ).all()
        return [(kind, int(total)) for kind, total in rows]

    def invoice_movements_many(
        self, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[str, int]]]:
        if not ids:
            return {}
        rows = self.session.execute(
            select(Posting.invoice_id, JournalEntry.kind, func.sum(Posting.amount_minor))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(
                bulk.among(self.session, Posting.invoice_id, ids),
                Account.code.in_(AR_CODES),
            )
            .group_by(Posting.invoice_id, JournalEntry.kind)
        ).all()
        out: dict[uuid.UUID, list[tuple[str, int]]] = {}
        for inv, kind, total in rows:
            if inv is not None:
                out.setdefault(inv, []).append((kind, int(total)))
        return out

    def patient_account_lines(self, patient_id: uuid.UUID) -> list[Any]:
        """Every entry touching the patient's receivable or credit, with the amounts split."""
        ar = case((Account.code == AccountCode.PATIENT_AR.value, Posting.amount_minor), else_=0)
        credit = case(
            (Account.code == AccountCode.PATIENT_CREDIT.value, Posting.amount_minor), else_=0
        )
        return list(
            self.session.execute(
                select(
                    JournalEntry.id,
                    JournalEntry.kind,
                    JournalEntry.effective_date,
                    JournalEntry.created_at,
                    JournalEntry.memo,
                    JournalEntry.source_type,
                    JournalEntry.source_id,
                    Posting.invoice_id,
                    func.sum(ar).label("ar"),
                    func.sum(credit).label("credit"),
                )
                .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                .join(Account, Account.id == Posting.account_id)
                .where(
                    Posting.patient_id == patient_id,
                    Account.code.in_(
                        [AccountCode.PATIENT_AR.value, AccountCode.PATIENT_CREDIT.value]
                    ),
                )
                .group_by(
                    JournalEntry.id,
                    JournalEntry.kind,
                    JournalEntry.effective_date,
                    JournalEntry.created_at,
                    JournalEntry.memo,
                    JournalEntry.source_type,
                    JournalEntry.source_id,
                    Posting.invoice_id,
                )
                # Within one entry, legs in the order they were posted (allocation order,
                # then the unapplied credit), identically on every database.
                .order_by(
                    JournalEntry.effective_date,
                    JournalEntry.created_at,
                    JournalEntry.id,
                    func.min(Posting.id),
                )
            ).all()
        )

    def patient_balances(self, patient_id: uuid.UUID) -> tuple[int, int]:
        """(patient AR debit balance, patient credit liability as a positive number)."""
        rows = self.session.execute(
            select(Account.code, func.sum(Posting.amount_minor))
            .join(Account, Account.id == Posting.account_id)
            .where(
                Posting.patient_id == patient_id,
                Account.code.in_([AccountCode.PATIENT_AR.value, AccountCode.PATIENT_CREDIT.value]),
            )
            .group_by(Account.code)
        ).all()
        sums = {code: int(total) for code, total in rows}
        return sums.get(AccountCode.PATIENT_AR.value, 0), -sums.get(
            AccountCode.PATIENT_CREDIT.value, 0
        )

    def trial_balance(
        self, practice_id: uuid.UUID, date_from: dt.date | None, date_to: dt.date
    ) -> list[Any]:
        in_period = JournalEntry.effective_date <= date_to
        if date_from is not None:
            in_period = and_(in_period, JournalEntry.effective_date >= date_from)
            opening = JournalEntry.effective_date < date_from
        else:
            opening = JournalEntry.effective_date < dt.date.min  # nothing is before the start
        amount = Posting.amount_minor
        return list(
            self.session.execute(
                select(
                    Account.code,
                    Account.name,
                    Account.type,
                    Posting.currency,
                    func.sum(case((opening, amount), else_=0)).label("opening"),
                    func.sum(case((and_(in_period, amount > 0), amount), else_=0)).label("debits"),
                    func.sum(case((and_(in_period, amount < 0), -amount), else_=0)).label(
                        "credits"
                    ),
                )
                .join(Posting, Posting.account_id == Account.id)
                .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                .where(Account.practice_id == practice_id, JournalEntry.effective_date <= date_to)
                .group_by(Account.code, Account.name, Account.type, Posting.currency)
                .order_by(Account.code, Posting.currency)
            ).all()
        )

    # integrity ------------------------------------------------------------------------------
    def unbalanced_entries(self) -> list[Any]:
        return list(
            self.session.execute(
                select(Posting.entry_id, Posting.currency, func.sum(Posting.amount_minor))
                .group_by(Posting.entry_id, Posting.currency)
                .having(func.sum(Posting.amount_minor) != 0)
            ).all()
        )

    def short_entries(self) -> list[Any]:
        """Entries with fewer than two postings (including none)."""
        counts = (
            select(Posting.entry_id, func.count().label("n")).group_by(Posting.entry_id).subquery()
        )
        return list(
            self.session.execute(
                select(JournalEntry.id, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.entry_id == JournalEntry.id)
                .where(func.coalesce(counts.c.n, 0) < 2)
            ).all()
        )

    def totals_by_currency(self) -> list[Any]:
        return list(
            self.session.execute(
                select(Posting.currency, func.sum(Posting.amount_minor)).group_by(Posting.currency)
            ).all()
        )

    def reversal_pairs(self) -> list[Any]:
        """(reversal id, original id) for every reversal entry."""
        return list(
            self.session.execute(
                select(JournalEntry.id, JournalEntry.reverses_id).where(
                    JournalEntry.reverses_id.is_not(None)
                )
            ).all()
        )

    # front desk (docs/front-desk.md) --------------------------------------------------------------

    def invoice_ar_lines(self, invoice_id: uuid.UUID) -> list[Any]:
        """Every entry touching one invoice's receivable, in ledger order, with its AR amount."""
        return list(
            self.session.execute(
                select(
                    JournalEntry.id,
                    JournalEntry.kind,
                    JournalEntry.effective_date,
                    JournalEntry.created_at,
                    JournalEntry.source_type,
                    JournalEntry.source_id,
                    func.sum(Posting.amount_minor).label("ar"),
                )
                .join(JournalEntry, JournalEntry.id == Posting.entry_id)
                .join(Account, Account.id == Posting.account_id)
                .where(Posting.invoice_id == invoice_id, Account.code.in_(AR_CODES))
                .group_by(
                    JournalEntry.id,
                    JournalEntry.kind,
                    JournalEntry.effective_date,
                    JournalEntry.created_at,
                    JournalEntry.source_type,
                    JournalEntry.source_id,
                )
                .order_by(JournalEntry.effective_date, JournalEntry.created_at, JournalEntry.id)
            ).all()
        )

    def account_day_movements(
        self, practice_id: uuid.UUID, code: AccountCode, on: dt.date
    ) -> dict[str, int]:
        """entry kind -> signed (debit-positive) movement of one account on one effective date."""
        rows = self.session.execute(
            select(JournalEntry.kind, func.sum(Posting.amount_minor))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(
                JournalEntry.practice_id == practice_id,
                JournalEntry.effective_date == on,
                Account.practice_id == practice_id,
                Account.code == code.value,
            )
            .group_by(JournalEntry.kind)
        ).all()
        return {kind: int(total) for kind, total in rows}
