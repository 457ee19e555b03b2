"""``revcycle keys rotate``: move every sealed value and blind index to the active key, online.

For each table with encrypted columns (found in the metadata) it repeats, in short committed
transactions: select up to ``batch_size`` *stale* rows (a value not sealed under the active key id,
a legacy plaintext value, or a blind index not computed under the active key id), locked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises writers with ``BEGIN IMMEDIATE``),
re-seal and recompute them, and commit. The stale test is re-evaluated under the lock, so a row
rewritten meanwhile by the API (already under the active key) or by a second rotation is simply
not stale any more: two rotations share the work, a re-run does nothing, and API processes keep
serving. Rows skipped because another transaction held them are retried in a later pass.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from revcycle.crypto import blind_index
from revcycle.crypto.fields import DecryptionError, is_encrypted_type, key_id_of, seal, unseal
from revcycle.crypto.keyring import Keyring
from revcycle.db import unit_of_work


@dataclass(frozen=True)
class EncryptedColumn:
    name: str
    context: str
    kind: str  # "str" | "date"


@dataclass
class TableReport:
    rows: int = 0
    values: int = 0
    indexes: int = 0


@dataclass
class RotationReport:
    active_key_id: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    remaining: int = 0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    @property
    def values(self) -> int:
        return sum(t.values for t in self.tables.values())

    @property
    def indexes(self) -> int:
        return sum(t.indexes for t in self.tables.values())


def encrypted_tables(metadata: sa.MetaData) -> dict[str, list[EncryptedColumn]]:
    out: dict[str, list[EncryptedColumn]] = {}
    for table in metadata.sorted_tables:
        cols = [
            EncryptedColumn(c.name, c.type.context, c.type.kind)
            for c in table.columns
            if is_encrypted_type(c.type)
        ]
        if cols:
            out[table.name] = cols
    return out


class _Plan:
    """Raw (TEXT) view of one table's encrypted and blind-index columns."""

    def __init__(self, table: sa.Table, columns: list[EncryptedColumn]) -> None:
        self.name = table.name
        self.columns = columns
        self.indexes = blind_index.REGISTRY.get(table.name, ())
        names = [c.name for c in columns] + [i.column for i in self.indexes]
        self.raw = sa.table(
            table.name, sa.column("id", table.c.id.type), *[sa.column(n, sa.Text) for n in names]
        )

    def stale(self, key_id: str) -> sa.ColumnElement[bool]:
        c = self.raw.c
        conds: list[sa.ColumnElement[bool]] = [
            sa.and_(c[col.name].is_not(None), sa.not_(c[col.name].like(f"e1:{key_id}:%")))
            for col in self.columns
        ]
        for idx in self.indexes:
            conds.append(sa.and_(c[idx.column].is_not(None), ~c[idx.column].like(f"{key_id}:%")))
            conds.append(
                sa.and_(c[idx.column].is_(None), *[c[s].is_not(None) for s in idx.sources])
            )
        return sa.or_(*conds)

    def rewrite(
        self, keyring: Keyring, row: sa.Row[Any], report: TableReport
    ) -> dict[str, str | None]:
        active = keyring.active_key_id
        by_kind = {c.name: c for c in self.columns}
        plain: dict[str, Any] = {}
        changes: dict[str, str | None] = {}
        for col in self.columns:
            stored = row._mapping[col.name]
            if stored is None:
                plain[col.name] = None
                continue
            kid = key_id_of(stored)
            try:
                text = stored if kid is None else unseal(keyring, col.context, stored)
            except DecryptionError as exc:
                raise DecryptionError(f"{self.name} row {row.id}: {exc}") from None
            plain[col.name] = _typed(by_kind[col.name].kind, text)
            if kid != active:
                changes[col.name] = seal(keyring, col.context, text)
                report.values += 1
        for column, value in blind_index.values_for(keyring, self.indexes, plain).items():
            if row._mapping[column] != value:
                changes[column] = value
                report.indexes += 1
        return changes


def _typed(kind: str, text: str) -> Any:
    if kind == "date":
        return dt.date.fromisoformat(text)
    return text


def _batch(
    factory: sessionmaker[Session],
    keyring: Keyring,
    plan: _Plan,
    after: uuid.UUID | None,
    batch_size: int,
    report: TableReport,
) -> tuple[int, uuid.UUID | None]:
    raw = plan.raw
    with unit_of_work(factory) as s:
        q = sa.select(*raw.c).where(plan.stale(keyring.active_key_id))
        if after is not None:
            q = q.where(raw.c.id > after)
        q = q.order_by(raw.c.id).limit(batch_size)
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = s.execute(q).all()
        for row in rows:
            changes = plan.rewrite(keyring, row, report)
            if changes:
                s.execute(sa.update(raw).where(raw.c.id == row.id).values(**changes))
                report.rows += 1
    return len(rows), (rows[-1].id if rows else None)


def count_stale(factory: sessionmaker[Session], keyring: Keyring, metadata: sa.MetaData) -> int:
    total = 0
    with unit_of_work(factory) as s:
        for name, cols in encrypted_tables(metadata).items():
            plan = _Plan(metadata.tables[name], cols)
            q = sa.select(sa.func.count()).select_from(plan.raw)
            total += int(s.scalar(q.where(plan.stale(keyring.active_key_id))) or 0)
    return total


def rotate(
    factory: sessionmaker[Session],
    keyring: Keyring,
    metadata: sa.MetaData,
    *,
    batch_size: int = 500,
    max_passes: int = 5,
    progress: Callable[[str, TableReport], None] | None = None,
) -> RotationReport:
    """Re-seal everything not under the active key; returns what it changed and what is left."""
    report = RotationReport(keyring.active_key_id)
    for name, cols in encrypted_tables(metadata).items():
        plan = _Plan(metadata.tables[name], cols)
        tr = report.tables.setdefault(name, TableReport())
        for attempt in range(max_passes):
            after: uuid.UUID | None = None
            seen = 0
            while True:
                n, after = _batch(factory, keyring, plan, after, batch_size, tr)
                seen += n
                if progress is not None and n:
                    progress(name, tr)
                if n < batch_size:
                    break
            if seen == 0:
                break
            if attempt:  # rows skipped while locked elsewhere: give their holders a moment
                time.sleep(0.05 * attempt)
    report.remaining = count_stale(factory, keyring, metadata)
    return report


def census(factory: sessionmaker[Session], metadata: sa.MetaData) -> dict[str, int]:
    """How many stored values each key id sealed (``"plaintext"`` for unsealed legacy values)."""
    counts: dict[str, int] = {}
    with unit_of_work(factory) as s:
        for name, cols in encrypted_tables(metadata).items():
            plan = _Plan(metadata.tables[name], cols)
            q = sa.select(*[plan.raw.c[c.name] for c in cols])
            for row in s.execute(q):
                for value in row:
                    if value is not None:
                        kid = key_id_of(value) or "plaintext"
                        counts[kid] = counts.get(kid, 0) + 1
    return dict(sorted(counts.items()))
