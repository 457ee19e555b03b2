"""JSON routes for the ledger: trial balance and journal entries (read-only by design)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.kit.clock import today
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.ledger import service
from revcycle.ledger.schemas import (
    JournalEntryRead,
    PostingRead,
    TrialBalanceRead,
    TrialBalanceRowRead,
)

router = APIRouter(tags=["ledger"])
Limit = Annotated[int, Query(ge=1, le=200)]


def entry_read(v: service.EntryView) -> JournalEntryRead:
    e = v.entry
    return JournalEntryRead(
        id=e.id,
        practice_id=e.practice_id,
        kind=e.kind,
        memo=e.memo,
        effective_date=e.effective_date,
        created_at=e.created_at,
        reverses_id=e.reverses_id,
        source_type=e.source_type,
        source_id=e.source_id,
        postings=[
            PostingRead(
                account_code=code,
                amount=amount(p.amount_minor, p.currency),
                currency=p.currency,
                patient_id=p.patient_id,
                invoice_id=p.invoice_id,
            )
            for code, p in v.postings
        ],
    )


@router.get("/practices/{practice_id}/trial-balance", response_model=TrialBalanceRead)
def trial_balance(
    practice_id: uuid.UUID,
    ctx: CtxDep,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        tb = service.practice_trial_balance(
            s, p, practice_id, date_from=date_from, date_to=date_to or today()
        )
        return TrialBalanceRead(
            practice_id=tb.practice_id,
            date_from=tb.date_from,
            date_to=tb.date_to,
            rows=[
                TrialBalanceRowRead(
                    account_code=r.code,
                    account_name=r.name,
                    account_type=r.type,
                    currency=r.currency,
                    opening=amount(r.opening_minor, r.currency),
                    debits=amount(r.debits_minor, r.currency),
                    credits=amount(r.credits_minor, r.currency),
                    closing=amount(r.closing_minor, r.currency),
                )
                for r in tb.rows
            ],
            total_debits={c: amount(v, c) for c, v in tb.total_debits_minor.items()},
            total_credits={c: amount(v, c) for c, v in tb.total_credits_minor.items()},
            balanced=tb.balanced,
        )

    return ctx.read(work)


@router.get("/practices/{practice_id}/journal-entries", response_model=PageRead[JournalEntryRead])
def list_entries(
    practice_id: uuid.UUID, ctx: CtxDep, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_entries(s, p, practice_id, cursor=cursor, limit=limit)
        return PageRead[JournalEntryRead](
            items=[entry_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/journal-entries/{entry_id}", response_model=JournalEntryRead)
def get_entry(entry_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: entry_read(service.get_entry_view(s, p, entry_id)))
