"""The hash chain over audit events: how an event is hashed, how it is appended, how it is verified.

An event's hash is SHA-256 over a canonical JSON form of everything stored about it, including
its chain key, its sequence number and the previous event's hash (``GENESIS`` for the first), so
changing, deleting, inserting or reordering a stored event breaks the chain from that point on.

Appending happens once per transaction, at COMMIT (``seal``): events recorded during the work are
buffered on the session, then per chain (in sorted order, so two transactions never wait on each
other in opposite orders) the chain head row is locked and advanced by one ``UPDATE ...
RETURNING``, the hashes are computed and the events inserted. The head's row lock is the only
serialisation, it is held from that statement to COMMIT, and the chain head's sequence number
can't fork because the lock and the unique ``(chain_key, chain_seq)`` index both forbid it.

A chain proves integrity relative to its head. Someone able to rewrite the database could
recompute a whole chain; ``revcycle audit verify --write-anchors`` saves the heads to a file kept
elsewhere, and a later ``verify --anchors`` then proves those events are unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from revcycle.audit.models import AuditChainHead, AuditEvent
from revcycle.kit import bulkwrite

GENESIS = "0" * 64
GLOBAL_CHAIN = "global"
HASH_VERSION = 1
COPY_FROM = 50  # events per chain from which they are written by COPY (PostgreSQL)

_EVENTS = cast(Table, AuditEvent.__table__)
_HEADS = cast(Table, AuditChainHead.__table__)


def chain_key_for(practice_id: uuid.UUID | None) -> str:
    return str(practice_id) if practice_id is not None else GLOBAL_CHAIN


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form of one event. Version 1; never change it in place."""
    payload = {
        "v": HASH_VERSION,
        "chain_key": event["chain_key"],
        "chain_seq": event["chain_seq"],
        "prev_hash": event["prev_hash"],
        "occurred_at": _iso(event["occurred_at"]),
        "actor_user_id": _str(event["actor_user_id"]),
        "actor_role": event["actor_role"],
        "practice_id": _str(event["practice_id"]),
        "category": event["category"],
        "action": event["action"],
        "object_type": event["object_type"],
        "object_id": event["object_id"],
        "fields": list(event["fields"] or []),
        "detail": event["detail"],
        "request_id": event["request_id"],
        "client_addr": event["client_addr"],
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _advance_head(session: Session, key: str, count: int) -> tuple[int, str]:
    """Lock the chain head, reserve ``count`` sequence numbers; return (previous seq, hash)."""
    advance = (
        update(_HEADS)
        .where(_HEADS.c.chain_key == key)
        .values(last_seq=_HEADS.c.last_seq + count)
        .returning(_HEADS.c.last_seq, _HEADS.c.last_hash)
    )
    row = session.execute(advance).one_or_none()
    if row is None:
        dialect = session.get_bind().dialect.name
        ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            ins(_HEADS)
            .values(chain_key=key, last_seq=0, last_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain_key"])
        )
        row = session.execute(advance).one()
    return int(row.last_seq) - count, str(row.last_hash)


def seal(session: Session, events: list[dict[str, Any]]) -> None:
    """Append buffered events to their chains, in the caller's transaction."""
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_chain.setdefault(event["chain_key"], []).append(event)
    for key in sorted(by_chain):
        batch = by_chain[key]
        seq, prev = _advance_head(session, key, len(batch))
        rows = []
        for event in batch:
            seq += 1
            row = {**event, "chain_seq": seq, "prev_hash": prev}
            row["hash"] = prev = event_hash(row)
            rows.append(row)
        # Many events (a remittance set's claims) go by COPY on PostgreSQL.
        bulkwrite.insert_dicts(session, _EVENTS, rows, copy_from=COPY_FROM)
        session.execute(update(_HEADS).where(_HEADS.c.chain_key == key).values(last_hash=prev))


# verification -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    chain_key: str
    chain_seq: int | None
    event_id: int | None
    reason: str  # hash_mismatch | link_mismatch | sequence_gap | head_mismatch | anchor_mismatch
    message: str


@dataclass
class ChainReport:
    chain_key: str
    events: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    first_break: ChainBreak | None = None


@dataclass
class VerifyReport:
    chains: list[ChainReport] = field(default_factory=list)
    unchained_events: int = 0

    @property
    def ok(self) -> bool:
        return self.unchained_events == 0 and all(c.first_break is None for c in self.chains)

    @property
    def breaks(self) -> list[ChainBreak]:
        return [c.first_break for c in self.chains if c.first_break is not None]

    def anchors(self) -> dict[str, dict[str, Any]]:
        return {c.chain_key: {"seq": c.last_seq, "hash": c.last_hash} for c in self.chains}


def _event_rows(session: Session, key: str) -> Iterator[Any]:
    stmt = (
        select(_EVENTS)
        .where(_EVENTS.c.chain_key == key)
        .order_by(_EVENTS.c.chain_seq)
        .execution_options(yield_per=2000)
    )
    yield from session.execute(stmt)


def _verify_chain(
    session: Session, key: str, head: tuple[int, str] | None, anchor: Mapping[str, Any] | None
) -> ChainReport:
    report = ChainReport(chain_key=key)

    def broke(row: Any, reason: str, message: str) -> ChainReport:
        seq = None if row is None else int(row.chain_seq)
        event_id = None if row is None else int(row.id)
        report.first_break = ChainBreak(key, seq, event_id, reason, message)
        return report

    expected_prev = GENESIS
    for row in _event_rows(session, key):
        report.events += 1
        if row.chain_seq != report.last_seq + 1:
            return broke(
                row,
                "sequence_gap",
                f"expected event #{report.last_seq + 1}, found #{row.chain_seq}: "
                "events are missing",
            )
        if row.prev_hash != expected_prev:
            return broke(row, "link_mismatch", "does not link to the event before it")
        computed = event_hash(row._mapping)
        if computed != row.hash:
            return broke(row, "hash_mismatch", "its content no longer matches its hash")
        if (
            anchor is not None
            and row.chain_seq == anchor.get("seq")
            and computed != anchor.get("hash")
        ):
            return broke(row, "anchor_mismatch", "differs from the saved anchor")
        report.last_seq, report.last_hash = int(row.chain_seq), computed
        expected_prev = computed
    if head is not None and head != (report.last_seq, report.last_hash):
        report.first_break = ChainBreak(
            key,
            report.last_seq + 1 if head[0] > report.last_seq else report.last_seq,
            None,
            "head_mismatch",
            f"the chain head says #{head[0]} but the events end at #{report.last_seq}"
            if head[0] != report.last_seq
            else "the chain head's hash differs from the last event's",
        )
    elif anchor is not None and int(anchor.get("seq", 0)) > report.last_seq:
        report.first_break = ChainBreak(
            key,
            int(anchor["seq"]),
            None,
            "anchor_mismatch",
            f"the saved anchor is at #{anchor['seq']} but the events end at #{report.last_seq}",
        )
    return report


def verify(
    session: Session, anchors: Mapping[str, Mapping[str, Any]] | None = None
) -> VerifyReport:
    """Recompute every chain; report the first broken link of each."""
    heads = {
        str(r.chain_key): (int(r.last_seq), str(r.last_hash))
        for r in session.execute(select(_HEADS.c.chain_key, _HEADS.c.last_seq, _HEADS.c.last_hash))
    }
    keys = set(heads) | {
        str(k)
        for k in session.scalars(
            select(_EVENTS.c.chain_key).where(_EVENTS.c.chain_key.is_not(None)).distinct()
        )
    }
    anchors = anchors or {}
    keys |= set(anchors)
    report = VerifyReport()
    for key in sorted(keys):
        report.chains.append(_verify_chain(session, key, heads.get(key), anchors.get(key)))
    unchained = select(func.count()).select_from(_EVENTS).where(_EVENTS.c.chain_key.is_(None))
    report.unchained_events = int(session.scalar(unchained) or 0)
    return report
