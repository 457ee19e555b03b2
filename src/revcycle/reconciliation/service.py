"""Daily settlement reconciliation (docs/reconciliation.md).

``reconcile_settlement`` takes the gateway's report for a day (fetched by the caller before the
transaction: no database lock is held over a network call), compares its charges and refunds with
the ledger's card-clearing movements of that day, stores the run and its differences, and posts the
payout for the lines that match, per practice, once: debit bank (1020) the net, debit card
processing fees (6200) the fees of those charges, credit card clearing (1010) charges - refunds.
Lines that don't match stay in clearing until someone resolves them; a re-run posts only what was
not posted yet (UNIQUE provider + payout + practice).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.gateway.base import SettlementLine, SettlementReport
from revcycle.gateway.models import GatewayUnmatchedRefund
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.money import Money
from revcycle.reconciliation import calc
from revcycle.reconciliation.models import (
    ReconciliationDifference,
    ReconciliationRun,
    SettlementPayout,
)
from revcycle.reconciliation.repository import ReconciliationRepository


@dataclass(frozen=True)
class RunView:
    run: ReconciliationRun
    differences: list[ReconciliationDifference]
    payouts: list[SettlementPayout]


def _post_payouts(
    session: Session,
    actor: Principal,
    provider: str,
    report: SettlementReport,
    run: ReconciliationRun,
    matched: list[tuple[SettlementLine, calc.LedgerItem]],
) -> list[SettlementPayout]:
    repo = ReconciliationRepository(session)
    cleared: dict[uuid.UUID, int] = defaultdict(int)
    fees: dict[uuid.UUID, int] = defaultdict(int)
    for line, mine in matched:
        sign = 1 if line.kind == "charge" else -1
        cleared[mine.practice_id] += sign * line.amount_minor
        fees[mine.practice_id] += line.fee_minor
    posted: list[SettlementPayout] = []
    for practice_id in sorted(cleared, key=str):
        if repo.payout_posted(provider, report.payout_id, practice_id):
            continue
        c, f = cleared[practice_id], fees[practice_id]
        legs = [
            ledger.debit(AccountCode.CARD_CLEARING, Money(-c, report.currency)),
            ledger.debit(AccountCode.CARD_FEES, Money(f, report.currency)),
            ledger.debit(AccountCode.BANK_OPERATING, Money(c - f, report.currency)),
        ]
        legs = [leg for leg in legs if leg.amount.amount_minor != 0]
        if not legs:
            continue
        payout_row_id = uuid7()
        entry_id = ledger.post_entry(
            session,
            ledger.EntrySpec(
                practice_id=practice_id,
                kind=EntryKind.SETTLEMENT.value,
                legs=legs,
                effective_date=report.day,
                memo=f"Card settlement {report.payout_id}",
                created_by=actor.user_id,
                source_type="settlement",
                source_id=payout_row_id,
            ),
        )
        payout = SettlementPayout(
            id=payout_row_id,
            provider=provider,
            payout_id=report.payout_id,
            practice_id=practice_id,
            day=report.day,
            currency=report.currency,
            cleared_minor=c,
            fees_minor=f,
            entry_id=entry_id,
            run_id=run.id,
        )
        repo.add(payout)
        posted.append(payout)
    return posted


def reconcile_settlement(
    session: Session, actor: Principal, provider: str, report: SettlementReport
) -> RunView:
    actor.require(Action.RECONCILIATION_READ)
    repo = ReconciliationRepository(session)
    ours = repo.card_clearing_items(provider, report.day)
    practices = repo.practices_of_charges(line.charge_id for line in report.lines)
    differences, matched = calc.compare(report.lines, ours, practices)
    run = ReconciliationRun(
        id=uuid7(),
        provider=provider,
        day=report.day,
        payout_id=report.payout_id,
        currency=report.currency,
        gateway_gross_minor=report.gross_minor,
        gateway_refunded_minor=report.refunded_minor,
        gateway_fees_minor=report.fees_minor,
        ledger_charges_minor=sum(x.amount_minor for x in ours if x.item == "charge"),
        ledger_refunds_minor=sum(x.amount_minor for x in ours if x.item == "refund"),
        difference_count=len(differences),
        status="matched" if not differences else "differences",
        created_by=actor.user_id,
    )
    repo.add(run)
    rows = [
        ReconciliationDifference(
            run_id=run.id,
            kind=d.kind,
            item=d.item,
            reference=d.reference,
            charge_id=d.charge_id,
            practice_id=d.practice_id,
            source_id=d.source_id,
            gateway_minor=d.gateway_minor,
            ledger_minor=d.ledger_minor,
            position=i,
        )
        for i, d in enumerate(differences, start=1)
    ]
    repo.add(*rows)
    payouts = _post_payouts(session, actor, provider, report, run, matched)
    audit.record(
        session,
        actor,
        "reconciliation:settlement",
        object_type="reconciliation_run",
        object_id=run.id,
        practice_id=None,
        fields=["differences", "payouts"],
        detail={
            "day": report.day.isoformat(),
            "payout_id": report.payout_id,
            "differences": len(differences),
            "payouts_posted": len(payouts),
        },
    )
    return RunView(run, rows, payouts)


def _visible(actor: Principal, practice_id: uuid.UUID | None) -> bool:
    """Lines not tied to one of our practices (not ours at all) carry no patient data: every
    reader sees them; the rest only within the caller's practices."""
    return practice_id is None or actor.sees_practice(practice_id)


def list_runs(
    session: Session,
    actor: Principal,
    *,
    day: dt.date | None,
    practice_id: uuid.UUID | None,
    limit: int = 20,
) -> list[RunView]:
    actor.require(Action.RECONCILIATION_READ)
    repo = ReconciliationRepository(session)
    runs = list(repo.runs(day=day, limit=limit))
    ids = [r.id for r in runs]
    diffs, payouts = repo.differences(ids), repo.payouts(ids)

    def keep(pid: uuid.UUID | None) -> bool:
        return _visible(actor, pid) and (practice_id is None or pid in {None, practice_id})

    views = [
        RunView(
            r,
            [d for d in diffs[r.id] if keep(d.practice_id)],
            [p for p in payouts[r.id] if keep(p.practice_id)],
        )
        for r in runs
    ]
    audit.record_read(
        session,
        actor,
        "reconciliation:read",
        object_type="reconciliation_run",
        object_id=None,
        practice_id=practice_id,
        detail={"day": day.isoformat() if day else None, "runs": len(views)},
    )
    return views


def list_unmatched_refunds(
    session: Session, actor: Principal, *, practice_id: uuid.UUID | None, limit: int = 100
) -> list[GatewayUnmatchedRefund]:
    actor.require(Action.RECONCILIATION_READ)
    rows = [
        r
        for r in ReconciliationRepository(session).unmatched_refunds(limit)
        if _visible(actor, r.practice_id)
        and (practice_id is None or r.practice_id in {None, practice_id})
    ]
    audit.record_read(
        session,
        actor,
        "reconciliation:unmatched_refunds",
        object_type="gateway_unmatched_refund",
        object_id=None,
        practice_id=practice_id,
        detail={"rows": len(rows)},
    )
    return rows
