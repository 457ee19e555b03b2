"""Writing many ORM rows without the unit of work (docs/remittance-posting.md, "Throughput").

The session's flush is general: per object it collects parameters through the attribute
machinery and issues a multi-row statement whose SQL text (thousands of placeholders) the driver
then parses. For a batch of thousands of plain rows that is most of the cost. These helpers write
the same rows with the same column values in one statement per table and leave the objects in
the session exactly as a flush would (persistent, clean), so later changes to them are tracked
and flushed as usual:

* :func:`insert_pending` -- the session's new instances of some models: PostgreSQL ``COPY``,
  ``executemany`` elsewhere. Column defaults are applied in Python as the flush would (an
  object whose missing value needs a server default, or that points at a row still pending in
  the session, is left to the flush).
* :func:`update_dirty` -- the changed columns of some persistent objects: one ``UPDATE ... FROM
  unnest(arrays)`` per table and set of changed columns on PostgreSQL (the rows' values travel as
  one array parameter per column), ``executemany`` elsewhere.

Both run inside the caller's transaction (nothing is committed) and fire no ORM flush events:
callers use them for tables without ``before_insert``/``before_update`` hooks. The statements
themselves are :mod:`revcycle.kit.bulk`'s (``copy_rows``, ``update_rows``): values go through
their column types' bind processing, as in a flush, and driver errors surface as SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Column, Table, insert, inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import NO_VALUE

from revcycle.kit import bulk

T = TypeVar("T")


class _Plan:
    """How one mapped class's rows are written: columns, attribute keys, defaults."""

    def __init__(self, model: type) -> None:
        mapper: Mapper[Any] = inspect(model)
        self.mapper = mapper
        self.table = cast(Table, mapper.local_table)
        self.columns: list[Column[Any]] = list(self.table.columns)
        self.keys = [mapper.get_property_by_column(c).key for c in self.columns]
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.pk = self.columns.index(next(c for c in self.columns if c.primary_key))
        # Foreign keys: (attribute key, referenced table name).
        self.fks = [
            (self.keys[i], fk.column.table.name)
            for i, c in enumerate(self.columns)
            for fk in c.foreign_keys
        ]
        self.names = [c.name for c in self.columns]


_PLANS: dict[type, _Plan] = {}


def _plan(model: type) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    return plan


_MISSING = object()


def new_row(model: type[T], **values: Any) -> T:
    """A new (transient) instance of ``model`` holding ``values``, as ``model(**values)`` gives,
    built without the attribute events the constructor fires one by one (a new object has no
    history to record): about twenty times cheaper, for rows made by the thousand. Only column
    attributes may be given; defaults are applied when the row is written, as after the
    constructor."""
    known = _COLUMN_KEYS.get(model)
    if known is None:
        mapper: Mapper[Any] = inspect(model)
        known = _COLUMN_KEYS[model] = (
            frozenset(p.key for p in mapper.column_attrs),
            mapper.class_manager,
        )
    if not values.keys() <= known[0]:
        raise TypeError(f"not columns of {model.__name__}: {sorted(values.keys() - known[0])}")
    instance = cast(T, known[1].new_instance())
    instance.__dict__.update(values)
    return instance


_COLUMN_KEYS: dict[type, tuple[frozenset[str], Any]] = {}


def _default(column: Column[Any]) -> Any:
    """The value the flush would give a column the object left unset (``_MISSING``: the
    database's own default, which only the flush can fetch back)."""
    default = column.default
    if default is not None and getattr(default, "is_scalar", False):
        return default.arg  # type: ignore[attr-defined]
    if default is not None and getattr(default, "is_callable", False):
        return default.arg(None)  # type: ignore[attr-defined]
    if default is not None or column.server_default is not None:
        return _MISSING
    return None


def insert_pending(session: Session, models: Sequence[type]) -> int:
    """Insert the session's pending instances of ``models`` (tables in this order, rows in the
    order they were added) and make them persistent and clean; returns how many were written.
    An instance pointing at a row still pending (not written here) is left to the flush."""
    if not session.new:
        return 0
    wanted = {m: _plan(m) for m in models}
    by_model: dict[type, list[Any]] = {m: [] for m in models}
    # Primary keys of rows the flush will still write, per table (what must not be pointed at).
    pending_keys: dict[str, set[Any]] = {}
    for obj in session.new:
        model = type(obj)
        if model in wanted:
            by_model[model].append(obj)
        else:
            mapper = inspect(obj).mapper
            table = cast(Table, mapper.local_table).name
            keys = pending_keys.setdefault(table, set())
            keys.update(v for v in mapper.primary_key_from_instance(obj) if v is not None)
    written = 0
    for model in models:
        plan = wanted[model]
        rows: list[list[Any]] = []
        done: list[Any] = []
        for obj in by_model[model]:
            values = _row_values(plan, obj, pending_keys)
            if values is None:
                ident = getattr(obj, plan.keys[plan.pk])
                pending_keys.setdefault(plan.table.name, set()).add(ident)
                continue
            rows.append(values)
            done.append(obj)
        if not rows:
            continue
        _insert_rows(session, plan, rows)
        _as_flushed(session, done)
        written += len(done)
    return written


def _row_values(plan: _Plan, obj: Any, pending_keys: dict[str, set[Any]]) -> list[Any] | None:
    state = inspect(obj)
    data = state.dict
    values: list[Any] = []
    for column, key in zip(plan.columns, plan.keys, strict=True):
        value = data.get(key, _MISSING)
        if value is _MISSING:
            value = _default(column)
            if value is _MISSING or (value is None and column.type.should_evaluate_none):
                # A database default, or a JSON column left unset (SQL NULL, where a None
                # given would be the JSON null): only the flush writes exactly that.
                return None
            set_committed_value(obj, key, value)
        values.append(value)
    for key, table in plan.fks:
        keys = pending_keys.get(table)
        if keys:
            value = data.get(key)
            if value is not None and value in keys:
                return None
    return values


def _insert_rows(session: Session, plan: _Plan, rows: list[list[Any]]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        names = plan.names
        session.execute(insert(plan.table), [dict(zip(names, r, strict=True)) for r in rows])
        return
    bulk.copy_rows(session, plan.table, plan.names, rows)


def insert_dicts(
    session: Session, table: Table, rows: list[dict[str, Any]], *, copy_from: int = 1
) -> None:
    """Insert plain rows (dicts keyed by column name, every row the same keys): COPY on
    PostgreSQL from ``copy_from`` rows on (COPY costs one more round trip than an INSERT),
    executemany otherwise -- :func:`revcycle.kit.bulk.insert_rows`."""
    bulk.insert_rows(session, table, rows, copy_min=copy_from)


def update_dirty(session: Session, objects: Iterable[Any]) -> int:
    """Write the changed columns of ``objects`` (persistent instances of one or more mapped
    classes) and mark them clean; returns how many rows were updated. A change is what the
    flush would write: a column whose value differs from the one loaded. An object with other
    pending changes (a relationship) is left to the flush."""
    groups: dict[tuple[type, tuple[str, ...]], list[Any]] = {}
    unchanged: list[Any] = []
    for obj in objects:
        state = inspect(obj)
        committed = state.committed_state
        if not committed or not state.persistent:
            continue
        plan = _plan(type(obj))
        data = state.dict
        if not all(key in plan.index and key in data for key in committed):
            continue
        changed = [
            key for key, before in committed.items() if before is NO_VALUE or before != data[key]
        ]
        if changed:
            changed.sort(key=plan.index.__getitem__)
            groups.setdefault((type(obj), tuple(changed)), []).append(obj)
        else:
            unchanged.append(obj)  # set to what it was: nothing to write
    count = 0
    for (model, keys), objs in groups.items():
        _update_rows(session, _plan(model), keys, objs)
        _as_flushed(session, objs)
        count += len(objs)
    _as_flushed(session, unchanged)
    return count


def _as_flushed(session: Session, objects: list[Any]) -> None:
    """What the session does to the objects a flush wrote: persistent (in the identity map),
    history cleared, and remembered by the transaction (a rollback expunges the new ones and
    expires the changed ones). The one private call of this module; SQLAlchemy is pinned."""
    if objects:
        session._register_persistent({inspect(o) for o in objects})


def _update_rows(session: Session, plan: _Plan, keys: tuple[str, ...], objs: list[Any]) -> None:
    pk_name, pk_key = plan.names[plan.pk], plan.keys[plan.pk]
    names = [plan.names[plan.index[k]] for k in keys]
    bulk.update_rows(
        session,
        plan.table,
        pk_name,
        [
            {
                pk_name: getattr(o, pk_key),
                **{n: getattr(o, k) for n, k in zip(names, keys, strict=True)},
            }
            for o in objs
        ],
    )
