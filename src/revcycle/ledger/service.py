"""The only writer of ledger tables.

``post_entry`` refuses an entry with fewer than two legs, a zero leg, or legs that do not sum to
zero per currency. Nothing is ever updated or deleted: ``reverse_entry`` posts the exact negation
of an entry and links it, at most once (UNIQUE ``reverses_id``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import Conflict, InvalidInput, NotFound, out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger.chart import CHART, DEBIT_NORMAL, AccountCode, AccountType
from revcycle.ledger.errors import UnbalancedEntry
from revcycle.ledger.models import JournalEntry, Posting
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money


@dataclass(frozen=True, slots=True)
class Leg:
    account: AccountCode
    amount: Money  # positive = debit, negative = credit
    patient_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class EntrySpec:
    practice_id: uuid.UUID
    kind: str
    legs: Sequence[Leg]
    effective_date: dt.date
    memo: str | None = None
    created_by: uuid.UUID | None = None
    source_type: str | None = None
    source_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    # The entry's id when the caller must know it before the entry is written (a batch that
    # points other rows at its entries, e.g. ``claims.billed_entry_id``); None: a new uuid7.
    id: uuid.UUID | None = None


def debit(account: AccountCode, amount: Money, **dims: Any) -> Leg:
    return Leg(account, amount, **dims)


def credit(account: AccountCode, amount: Money, **dims: Any) -> Leg:
    return Leg(account, -amount, **dims)


def check_balanced(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedEntry(f"a journal entry needs at least two legs, got {len(legs)}")
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        if leg.amount.amount_minor == 0:
            raise UnbalancedEntry(f"zero-amount leg on {leg.account}")
        sums[leg.amount.currency] += leg.amount.amount_minor
    bad = {cur: s for cur, s in sums.items() if s != 0}
    if bad:
        raise UnbalancedEntry(f"legs do not balance: {bad}")


def create_chart(session: Session, practice_id: uuid.UUID) -> None:
    LedgerRepository(session).add_accounts(
        [
            {"practice_id": practice_id, "code": code.value, "name": name, "type": typ.value}
            for code, (name, typ) in CHART.items()
        ]
    )


def _rows(
    spec: EntrySpec, accounts: dict[str, int], now: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    check_balanced(spec.legs)
    entry_id = spec.id or uuid7()
    entry = {
        "id": entry_id,
        "practice_id": spec.practice_id,
        "kind": spec.kind,
        "memo": spec.memo,
        "effective_date": spec.effective_date,
        "created_at": now,
        "created_by": spec.created_by,
        "reverses_id": spec.reverses_id,
        "source_type": spec.source_type,
        "source_id": spec.source_id,
    }
    postings = [
        {
            "entry_id": entry_id,
            "account_id": accounts[leg.account.value],
            "amount_minor": leg.amount.amount_minor,
            "currency": leg.amount.currency,
            "patient_id": leg.patient_id,
            "invoice_id": leg.invoice_id,
        }
        for leg in spec.legs
    ]
    return entry, postings


def post_entry(session: Session, spec: EntrySpec, *, flush_first: bool = True) -> uuid.UUID:
    """Validate and write one balanced journal entry; returns its id (flushed, not committed).

    The session's pending rows are flushed first (the invoices and patients the postings name
    must exist). ``flush_first=False`` is for a caller whose session holds no new rows (only
    changes to stored ones, which postings never need): those changes are then written by the
    caller's next flush, e.g. with the entry id in the same UPDATE."""
    repo = LedgerRepository(session)
    if flush_first:
        session.flush()  # referenced invoices/patients must exist before postings point at them
    entry, postings = _rows(spec, repo.account_ids(spec.practice_id), utcnow())
    repo.insert_entries([entry], postings)
    return entry["id"]  # type: ignore[no-any-return]


def post_entries_bulk(
    session: Session, specs: Sequence[EntrySpec], *, flush_first: bool = True
) -> list[uuid.UUID]:
    """Many entries at once (imports, demo data, benchmarks, a remittance set), with the same
    checks: COPY on PostgreSQL, executemany elsewhere.

    The session's pending rows are flushed first (the invoices and patients the postings name
    must exist). ``flush_first=False`` is for a caller whose postings name only rows already
    written and whose pending rows point at these entries (ids given in the specs): the entries
    go in first, the caller flushes after."""
    if not specs:
        return []
    repo = LedgerRepository(session)
    if flush_first:
        session.flush()
    now = utcnow()
    charts: dict[uuid.UUID, dict[str, int]] = {}
    entries: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    for spec in specs:
        chart = charts.get(spec.practice_id)
        if chart is None:
            chart = charts[spec.practice_id] = repo.account_ids(spec.practice_id)
        entry, rows = _rows(spec, chart, now)
        entries.append(entry)
        postings.extend(rows)
    repo.insert_entries_bulk(entries, postings)
    return [e["id"] for e in entries]


def reverse_entry(
    session: Session,
    entry_id: uuid.UUID,
    *,
    kind: str,
    effective_date: dt.date,
    created_by: uuid.UUID | None,
    memo: str | None = None,
) -> uuid.UUID:
    """Post the exact negation of ``entry_id``. An entry can be reversed once only."""
    repo = LedgerRepository(session)
    original = repo.get_entry(entry_id)
    if original is None:
        raise NotFound("No such journal entry", code="ledger.entry_not_found")
    if original.reverses_id is not None:
        raise Conflict("A reversal cannot itself be reversed", code="ledger.reversal_of_reversal")
    if repo.reversal_of(entry_id) is not None:
        raise Conflict("This journal entry was already reversed", code="ledger.already_reversed")
    codes = {v: k for k, v in repo.account_ids(original.practice_id).items()}
    legs = [
        Leg(
            AccountCode(codes[p.account_id]),
            Money(-p.amount_minor, p.currency),
            patient_id=p.patient_id,
            invoice_id=p.invoice_id,
        )
        for p in repo.postings_of(entry_id)
    ]
    return post_entry(
        session,
        EntrySpec(
            practice_id=original.practice_id,
            kind=kind,
            legs=legs,
            effective_date=effective_date,
            memo=memo or f"Reversal of {original.kind}",
            created_by=created_by,
            source_type=original.source_type,
            source_id=original.source_id,
            reverses_id=original.id,
        ),
    )


# reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    name: str
    type: str
    currency: str
    opening_minor: int  # signed: + debit balance, - credit balance
    debits_minor: int
    credits_minor: int
    closing_minor: int


@dataclass(frozen=True)
class TrialBalance:
    practice_id: uuid.UUID
    date_from: dt.date | None
    date_to: dt.date
    rows: list[TrialBalanceRow]
    total_debits_minor: dict[str, int]
    total_credits_minor: dict[str, int]
    closing_debit_total_minor: dict[str, int]
    closing_credit_total_minor: dict[str, int]

    @property
    def balanced(self) -> bool:
        return (
            self.total_debits_minor == self.total_credits_minor
            and self.closing_debit_total_minor == self.closing_credit_total_minor
        )


def trial_balance(
    session: Session, practice_id: uuid.UUID, *, date_from: dt.date | None, date_to: dt.date
) -> TrialBalance:
    rows: list[TrialBalanceRow] = []
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    closing_dr: dict[str, int] = defaultdict(int)
    closing_cr: dict[str, int] = defaultdict(int)
    for r in LedgerRepository(session).trial_balance(practice_id, date_from, date_to):
        opening, dr, cr = int(r.opening), int(r.debits), int(r.credits)
        closing = opening + dr - cr
        rows.append(TrialBalanceRow(r.code, r.name, r.type, r.currency, opening, dr, cr, closing))
        debits[r.currency] += dr
        credits[r.currency] += cr
        if closing >= 0:
            closing_dr[r.currency] += closing
        else:
            closing_cr[r.currency] += -closing
    return TrialBalance(
        practice_id,
        date_from,
        date_to,
        rows,
        dict(debits),
        dict(credits),
        dict(closing_dr),
        dict(closing_cr),
    )


def normal_balance(account_type: str, signed_minor: int) -> int:
    """A signed (debit-positive) balance expressed on the account's normal side."""
    return signed_minor if AccountType(account_type) in DEBIT_NORMAL else -signed_minor


def get_entry(session: Session, entry_id: uuid.UUID) -> JournalEntry:
    entry = LedgerRepository(session).get_entry(entry_id)
    if entry is None:
        raise NotFound("No such journal entry", code="ledger.entry_not_found")
    return entry


# permission-checked reads for the adapters ---------------------------------------------------


def practice_trial_balance(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    *,
    date_from: dt.date | None,
    date_to: dt.date,
) -> TrialBalance:
    actor.require(Action.LEDGER_READ)
    actor.check_practice(practice_id)
    if date_from is not None and date_from > date_to:
        raise InvalidInput("date_from is after date_to", code="ledger.period_invalid")
    return trial_balance(session, practice_id, date_from=date_from, date_to=date_to)


@dataclass(frozen=True)
class EntryView:
    entry: JournalEntry
    postings: list[tuple[str, Posting]]  # (account code, posting)


def list_entries(
    session: Session, actor: Principal, practice_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[EntryView]:
    actor.require(Action.LEDGER_READ)
    actor.check_practice(practice_id)
    limit = min(limit, MAX_LIMIT)
    repo = LedgerRepository(session)
    rows = list(
        repo.list_entries(practice_id, before=parse_cursor_uuid(after_id(cursor)), limit=limit + 1)
    )
    page = page_by_id(rows, limit)
    postings = repo.postings_for([e.id for e in page.items])
    codes = {v: k for k, v in repo.account_ids(practice_id).items()}
    return Page(
        [
            EntryView(e, [(codes[p.account_id], p) for p in postings.get(e.id, [])])
            for e in page.items
        ],
        page.next_cursor,
    )


def get_entry_view(session: Session, actor: Principal, entry_id: uuid.UUID) -> EntryView:
    actor.require(Action.LEDGER_READ)
    repo = LedgerRepository(session)
    entry = repo.get_entry(entry_id)
    if entry is None:
        raise NotFound("No such journal entry", code="ledger.entry_not_found")
    if not actor.sees_practice(entry.practice_id):
        raise out_of_scope(
            NotFound("No such journal entry", code="ledger.entry_not_found"),
            "journal_entry",
            entry.id,
        )
    codes = {v: k for k, v in repo.account_ids(entry.practice_id).items()}
    return EntryView(entry, [(codes[p.account_id], p) for p in repo.postings_of(entry.id)])
