from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.ledger import service
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, JournalEntry, Posting
from revcycle.ledger.service import Leg
from revcycle.money import Money
from revcycle.practices.models import Practice


def usd(minor: int) -> Money:
    return Money(minor, "USD")


def post(
    session: Session,
    practice: Practice,
    legs: Sequence[Leg],
    *,
    on: dt.date = dt.date(2026, 1, 10),
    kind: str = "test.entry",
    memo: str | None = None,
) -> uuid.UUID:
    return service.post_entry(
        session,
        service.EntrySpec(
            practice_id=practice.id, kind=kind, legs=legs, effective_date=on, memo=memo
        ),
    )


def charge(
    session: Session, practice: Practice, minor: int, *, on: dt.date = dt.date(2026, 1, 10)
) -> uuid.UUID:
    """Dr patient AR / Cr service revenue."""
    return post(
        session,
        practice,
        [
            service.debit(AccountCode.PATIENT_AR, usd(minor)),
            service.credit(AccountCode.SERVICE_REVENUE, usd(minor)),
        ],
        on=on,
    )


def raw_entry(
    session: Session,
    practice_id: uuid.UUID,
    postings: Sequence[tuple[AccountCode, int, str]],
    *,
    reverses_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    on: dt.date = dt.date(2026, 1, 10),
    kind: str = "test.raw",
) -> uuid.UUID:
    """Write an entry straight into the tables, bypassing ledger.service (and its checks)."""
    accounts = dict(
        session.execute(
            select(Account.code, Account.id).where(Account.practice_id == practice_id)
        ).all()
    )
    entry_id = uuid7()
    session.execute(
        JournalEntry.__table__.insert().values(
            id=entry_id,
            practice_id=practice_id,
            kind=kind,
            effective_date=on,
            created_at=utcnow(),
            reverses_id=reverses_id,
        )
    )
    for code, minor, currency in postings:
        session.execute(
            Posting.__table__.insert().values(
                entry_id=entry_id,
                account_id=accounts[code.value],
                amount_minor=minor,
                currency=currency,
                patient_id=patient_id,
            )
        )
    return entry_id


def ledger_counts(session: Session) -> tuple[int, int]:
    """(journal entries, postings) currently visible."""
    return (
        int(session.scalar(select(func.count()).select_from(JournalEntry)) or 0),
        int(session.scalar(select(func.count()).select_from(Posting)) or 0),
    )
