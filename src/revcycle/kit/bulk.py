"""Set-based writes for batch paths (autopay, the test gateway's batch charge, audit sealing):
many rows of one table in one statement instead of one statement per row.

* :func:`insert_rows` -- ``COPY ... FROM STDIN`` on PostgreSQL (the cheapest way in for both
  sides), one executemany INSERT elsewhere;
* :func:`update_rows` -- ``UPDATE t SET ... FROM unnest(arrays) AS v WHERE t.key = v.key`` on
  PostgreSQL (one statement, one parameter per column), one executemany UPDATE elsewhere.

Both write exactly what an INSERT / UPDATE through SQLAlchemy would: every value goes through
its column type's bind processing (JSON serialised, UTC timestamps checked, encrypted columns
encrypted), a column the rows leave out takes its Python-side default (insert), and driver
errors surface as SQLAlchemy's own exceptions (``IntegrityError`` on a unique key), so callers
keep their ``except`` clauses. No ORM objects, no unit of work: the caller flushes its pending
ORM rows first when these rows refer to them. This module holds the one COPY-insert
(:func:`copy_rows`) and the one unnest-update (:func:`update_rows`) of the code base;
:mod:`revcycle.kit.bulkwrite` (rows held as ORM objects -- the 835 posting path) and the audit
chain write through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, any_, bindparam, exc, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute, Session


def among(
    session: Session, col: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``col IN (values)`` for a batch: on PostgreSQL ``col = ANY(:array)``, one array parameter
    (the same plan as the IN list, without a placeholder per value for the driver to parse and
    the statement cache to miss); an ordinary IN list elsewhere."""
    values = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return col.in_(values)
    return col == any_(bindparam(None, values, type_=postgresql.ARRAY(col.type)))


# Below this many rows a plain executemany costs less than opening a COPY.
COPY_MIN_ROWS = 8

_Processor = Callable[[Any], Any] | None
_PROCESSORS: dict[tuple[int, str], _Processor] = {}


def _processor(col: Column[Any], dialect: Dialect) -> _Processor:
    key = (id(col), dialect.name)
    try:
        return _PROCESSORS[key]
    except KeyError:
        proc = _PROCESSORS[key] = col.type.dialect_impl(dialect).bind_processor(dialect)
        return proc


def _defaults(table: Table, given: set[str]) -> dict[str, tuple[bool, Any]]:
    """Python-side defaults of the columns the rows leave out: name -> (callable?, value or
    the default's function, called once per row)."""
    out: dict[str, tuple[bool, Any]] = {}
    for col in table.columns:
        default: Any = col.default
        if col.name in given or default is None:
            continue
        if default.is_scalar:
            out[col.name] = (False, default.arg)
        elif default.is_callable:
            out[col.name] = (True, default.arg)
    return out


@contextmanager
def _driver_errors(statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (IntegrityError, OperationalError...)."""
    import psycopg

    try:
        yield
    except psycopg.Error as e:
        raise exc.DBAPIError.instance(statement, None, e, psycopg.Error) from e


def insert_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, copy_min: int = -1
) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    threshold = COPY_MIN_ROWS if copy_min < 0 else copy_min
    if dialect.name != "postgresql" or len(rows) < threshold:
        session.execute(insert(table), list(rows))
        return
    given = list(rows[0])
    defaults = _defaults(table, set(given))
    made = list(defaults.values())
    copy_rows(
        session,
        table,
        given + list(defaults),
        ([row[n] for n in given] + [f(None) if call else f for call, f in made] for row in rows),
    )


def copy_rows(
    session: Session, table: Table, names: Sequence[str], rows: Iterable[list[Any]]
) -> None:
    """``COPY table (names) FROM STDIN`` (PostgreSQL) of ``rows``: lists of Python values in
    the order of ``names``, each passed through its column type's bind processing (the lists
    are overwritten with the processed values). Columns not named take their database
    default."""
    dialect = session.get_bind().dialect
    procs = [(i, p) for i, n in enumerate(names) if (p := _processor(table.c[n], dialect))]
    cols = ", ".join(f'"{n}"' for n in names)
    sql = f'COPY "{table.name}" ({cols}) FROM STDIN'
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with _driver_errors(sql), raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[attr-defined]
        for row in rows:
            for i, p in procs:
                row[i] = p(row[i])
            copy.write_row(row)


def update_rows(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """UPDATE ``table`` row by row from ``rows`` (dicts with the same keys, ``key`` naming the
    row: ``UPDATE t SET c = v.c ... WHERE t.key = v.key``), in one statement on PostgreSQL."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = [n for n in rows[0] if n != key]
    if dialect.name != "postgresql":
        stmt = (
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({n: bindparam(f"_v_{n}") for n in names})
        )
        session.execute(
            stmt,
            [{"_key": r[key], **{f"_v_{n}": r[n] for n in names}} for r in rows],
            execution_options={"synchronize_session": False},
        )
        return
    cols = [key, *names]
    procs = [_processor(table.c[n], dialect) for n in cols]
    types = [table.c[n].type.dialect_impl(dialect).compile(dialect=dialect) for n in cols]
    arrays = [
        [r[n] if p is None else p(r[n]) for r in rows] for n, p in zip(cols, procs, strict=True)
    ]
    # binary parameters (%b): arrays of ids and codes without text quoting
    unnest = ", ".join(f"%b::{t}[]" for t in types)
    sets = ", ".join(f'"{n}" = v."{n}"' for n in names)
    alias = ", ".join(f'"{n}"' for n in cols)
    # identifiers from the table's own metadata; every value is a bound array
    sql = (
        f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({unnest}) AS v({alias}) '  # noqa: S608
        f'WHERE t."{key}" = v."{key}"'
    )
    session.connection().exec_driver_sql(sql, tuple(arrays))
