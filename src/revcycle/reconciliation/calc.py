"""Comparing a settlement with the ledger (pure: no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from revcycle.gateway.base import SettlementLine

MISSING_IN_LEDGER = "missing_in_ledger"
MISSING_AT_GATEWAY = "missing_at_gateway"
AMOUNT_MISMATCH = "amount_mismatch"


@dataclass(frozen=True)
class LedgerItem:
    """One card-clearing movement: a card payment (its charge) or a card refund's payout."""

    item: str  # charge | refund
    reference: str  # the gateway's id
    charge_id: str
    amount_minor: int  # positive
    practice_id: uuid.UUID
    source_id: uuid.UUID


@dataclass(frozen=True)
class Difference:
    kind: str
    item: str
    reference: str
    charge_id: str | None
    gateway_minor: int | None
    ledger_minor: int | None
    practice_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None


def compare(
    lines: Iterable[SettlementLine],
    ledger: Iterable[LedgerItem],
    practice_of_charge: Mapping[str, uuid.UUID] | None = None,
) -> tuple[list[Difference], list[tuple[SettlementLine, LedgerItem]]]:
    """(differences, matched pairs). Items are matched by kind and the gateway's id; the same
    amount on both sides is a match."""
    practice_of_charge = practice_of_charge or {}
    ours = {(x.item, x.reference): x for x in ledger}
    differences: list[Difference] = []
    matched: list[tuple[SettlementLine, LedgerItem]] = []
    seen: set[tuple[str, str]] = set()
    for line in lines:
        key = (line.kind, line.id)
        seen.add(key)
        mine = ours.get(key)
        if mine is None:
            differences.append(
                Difference(
                    MISSING_IN_LEDGER,
                    line.kind,
                    line.id,
                    line.charge_id,
                    line.amount_minor,
                    None,
                    practice_of_charge.get(line.charge_id),
                )
            )
        elif mine.amount_minor != line.amount_minor:
            differences.append(
                Difference(
                    AMOUNT_MISMATCH,
                    line.kind,
                    line.id,
                    line.charge_id,
                    line.amount_minor,
                    mine.amount_minor,
                    mine.practice_id,
                    mine.source_id,
                )
            )
        else:
            matched.append((line, mine))
    for key, mine in ours.items():
        if key not in seen:
            differences.append(
                Difference(
                    MISSING_AT_GATEWAY,
                    mine.item,
                    mine.reference,
                    mine.charge_id,
                    None,
                    mine.amount_minor,
                    mine.practice_id,
                    mine.source_id,
                )
            )
    return differences, matched
