"""JSON routes for the front-desk cash drawer, bank deposits and the daily report. Every POST
needs an Idempotency-Key (428 otherwise)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.cash import service
from revcycle.cash.schemas import (
    CheckLine,
    DailyReport,
    DepositCreate,
    DepositRead,
    DrawerClose,
    DrawerItemRead,
    DrawerOpen,
    DrawerRead,
    LedgerDay,
    ReportRow,
)
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead

router = APIRouter(tags=["cash"])
Limit = Annotated[int, Query(ge=1, le=200)]


def _opt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else amount(minor, currency)


def drawer_read(v: service.DrawerView) -> DrawerRead:
    d, c = v.drawer, v.drawer.currency
    exp = v.expected
    return DrawerRead(
        id=d.id,
        practice_id=d.practice_id,
        user_id=d.user_id,
        location=d.location,
        business_date=d.business_date,
        status=d.status,
        currency=c,
        opening_float=amount(d.opening_float_minor, c),
        opened_at=d.opened_at,
        closed_at=d.closed_at,
        expected_cash=amount(d.opening_float_minor + exp.cash_minor, c),
        expected_checks=amount(exp.checks_minor, c),
        counted_cash=_opt(d.counted_cash_minor, c),
        counted_checks=_opt(d.counted_checks_minor, c),
        over_short=_opt(d.over_short_minor, c),
        denominations=None if d.denominations is None else list(d.denominations["counts"]),
        note=d.note,
        deposit_id=d.deposit_id,
        items=[
            DrawerItemRead(
                payment_id=i.payment_id,
                refund_id=i.refund_id,
                receipt_number=v.receipts.get(i.refund_id or i.payment_id)  # type: ignore[arg-type]
                if (i.refund_id or i.payment_id)
                else None,
                method=i.method,
                amount=amount(i.amount_minor, c),
                reference=i.reference,
                created_at=i.created_at,
            )
            for i in v.items
        ],
    )


def deposit_read(v: service.DepositView) -> DepositRead:
    d, c = v.deposit, v.deposit.currency
    return DepositRead(
        id=d.id,
        practice_id=d.practice_id,
        deposited_on=d.deposited_on,
        bank_reference=d.bank_reference,
        currency=c,
        cash=amount(d.cash_minor, c),
        checks=amount(d.checks_minor, c),
        total=amount(d.total_minor, c),
        entry_id=d.entry_id,
        drawer_ids=v.drawer_ids,
        check_lines=[
            CheckLine(
                payment_id=line.payment_id,
                receipt_number=line.receipt_number,
                check_number=line.check_number,
                amount=amount(line.amount_minor, c),
            )
            for line in v.checks
        ],
        created_at=d.created_at,
    )


def _day(f: service.LedgerDayFigures, c: str) -> LedgerDay:
    return LedgerDay(
        payments=amount(f.payments, c),
        refunds=amount(f.refunds, c),
        over_short=amount(f.over_short, c),
        deposits=amount(f.deposits, c),
        other=amount(f.other, c),
        net=amount(f.net, c),
    )


def report_read(v: service.DailyReportView) -> DailyReport:
    c = v.practice.currency
    keys = sorted(
        v.rows, key=lambda k: (v.usernames.get(k[0], "") if k[0] else "", str(k[0]), k[1])
    )
    return DailyReport(
        practice_id=v.practice.id,
        date=v.day,
        currency=c,
        rows=[
            ReportRow(
                user_id=user_id,
                username=v.usernames.get(user_id) if user_id else None,
                method=method,
                taken=amount(r.taken, c),
                refunded=amount(r.refunded, c),
                expected=amount(r.expected, c),
                counted=amount(r.counted, c),
                over_short=amount(r.over_short, c),
                deposited=amount(r.deposited, c),
                undeposited=amount(r.undeposited, c),
                outside_drawers=amount(r.outside_drawers, c),
            )
            for user_id, method in keys
            for r in [v.rows[(user_id, method)]]
        ],
        drawers=[drawer_read(d) for d in v.drawers],
        deposits=[deposit_read(d) for d in v.deposits],
        totals=_day(v.totals, c),
        ledger=_day(v.ledger, c),
        reconciled=v.reconciled,
    )


@router.post("/practices/{practice_id}/cash/drawers", status_code=201, response_model=DrawerRead)
def open_drawer(practice_id: uuid.UUID, body: DrawerOpen, ctx: CtxDep) -> Response:
    """Open your cash drawer with a float (one open drawer per user)."""
    key = ctx.idempotency_key

    def work(s: Session, p: Principal) -> BaseModel:
        return drawer_read(service.open_drawer(s, p, practice_id, body, idempotency_key=key))

    return ctx.write(work, status_code=201)


@router.get("/practices/{practice_id}/cash/drawers", response_model=PageRead[DrawerRead])
def list_drawers(
    practice_id: uuid.UUID,
    ctx: CtxDep,
    business_date: dt.date | None = None,
    status: Literal["open", "closed"] | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_drawers(
            s,
            p,
            practice_id,
            business_date=business_date,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return PageRead[DrawerRead](
            items=[drawer_read(v) for v in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/cash/drawers/{drawer_id}", response_model=DrawerRead)
def get_drawer(drawer_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: drawer_read(service.get_drawer(s, p, drawer_id)))


@router.post("/cash/drawers/{drawer_id}/close", response_model=DrawerRead)
def close_drawer(drawer_id: uuid.UUID, body: DrawerClose, ctx: CtxDep) -> Response:
    """Count and close a drawer: the over/short is computed and posted (once)."""
    key = ctx.idempotency_key

    def work(s: Session, p: Principal) -> BaseModel:
        return drawer_read(service.close_drawer(s, p, drawer_id, body, idempotency_key=key))

    return ctx.write(work)


@router.post("/practices/{practice_id}/cash/deposits", status_code=201, response_model=DepositRead)
def create_deposit(practice_id: uuid.UUID, body: DepositCreate, ctx: CtxDep) -> Response:
    """Deposit closed drawers at the bank (1000 -> 1020); the answer is the deposit slip."""
    key = ctx.idempotency_key

    def work(s: Session, p: Principal) -> BaseModel:
        return deposit_read(service.deposit(s, p, practice_id, body, idempotency_key=key))

    return ctx.write(work, status_code=201)


@router.get("/cash/deposits/{deposit_id}", response_model=DepositRead)
def get_deposit(deposit_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: deposit_read(service.get_deposit(s, p, deposit_id)))


@router.get("/practices/{practice_id}/cash/daily-report", response_model=DailyReport)
def daily_report(practice_id: uuid.UUID, ctx: CtxDep, date: dt.date) -> object:
    """Per user and method: taken, expected, counted, over/short, deposited, undeposited; totals
    checked against the day's movements of account 1000 (``reconciled``)."""
    return ctx.read(lambda s, p: report_read(service.daily_report(s, p, practice_id, date)))
