"""JSON routes for settlement reconciliation (runs are made by ``revcycle reconcile
settlement``; these read them) and the gateway refunds revcycle did not make."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from revcycle.api.context import CtxDep
from revcycle.kit.render import amount
from revcycle.reconciliation import service
from revcycle.reconciliation.schemas import (
    DifferenceRead,
    PayoutRead,
    RunList,
    RunRead,
    UnmatchedRefundList,
    UnmatchedRefundRead,
)

router = APIRouter(tags=["reconciliation"])


def run_read(v: service.RunView) -> RunRead:
    r, cur = v.run, v.run.currency

    def opt(minor: int | None) -> str | None:
        return None if minor is None else amount(minor, cur)

    return RunRead(
        id=r.id,
        provider=r.provider,
        day=r.day,
        payout_id=r.payout_id,
        currency=cur,
        status=r.status,
        gateway_gross=amount(r.gateway_gross_minor, cur),
        gateway_refunded=amount(r.gateway_refunded_minor, cur),
        gateway_fees=amount(r.gateway_fees_minor, cur),
        gateway_net=amount(
            r.gateway_gross_minor - r.gateway_refunded_minor - r.gateway_fees_minor, cur
        ),
        ledger_charges=amount(r.ledger_charges_minor, cur),
        ledger_refunds=amount(r.ledger_refunds_minor, cur),
        differences=[
            DifferenceRead(
                kind=d.kind,
                item=d.item,
                reference=d.reference,
                charge_id=d.charge_id,
                practice_id=d.practice_id,
                source_id=d.source_id,
                gateway_amount=opt(d.gateway_minor),
                ledger_amount=opt(d.ledger_minor),
            )
            for d in v.differences
        ],
        payouts=[
            PayoutRead(
                practice_id=p.practice_id,
                payout_id=p.payout_id,
                cleared=amount(p.cleared_minor, cur),
                fees=amount(p.fees_minor, cur),
                net=amount(p.cleared_minor - p.fees_minor, cur),
                entry_id=p.entry_id,
            )
            for p in v.payouts
        ],
        created_at=r.created_at,
    )


@router.get("/reconciliation/settlements", response_model=RunList)
def list_settlement_runs(
    ctx: CtxDep,
    date: Annotated[dt.date | None, Query(description="The settlement day (UTC)")] = None,
    practice_id: uuid.UUID | None = None,
) -> object:
    """Stored settlement reconciliation runs (newest first) with their differences and the
    payouts they posted, limited to the caller's practices."""
    return ctx.read(
        lambda s, p: RunList(
            items=[run_read(v) for v in service.list_runs(s, p, day=date, practice_id=practice_id)]
        )
    )


@router.get("/reconciliation/unmatched-refunds", response_model=UnmatchedRefundList)
def list_unmatched_refunds(ctx: CtxDep, practice_id: uuid.UUID | None = None) -> object:
    """Refunds made at the gateway (its dashboard) that revcycle did not ask for."""
    return ctx.read(
        lambda s, p: UnmatchedRefundList(
            items=[
                UnmatchedRefundRead(
                    provider=r.provider,
                    gateway_refund_id=r.gateway_refund_id,
                    charge_id=r.charge_id,
                    payment_id=r.payment_id,
                    practice_id=r.practice_id,
                    amount=amount(r.amount_minor, r.currency),
                    currency=r.currency,
                    received_at=r.received_at,
                )
                for r in service.list_unmatched_refunds(s, p, practice_id=practice_id)
            ]
        )
    )
