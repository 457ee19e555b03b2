"""Which unique constraint or index an ``IntegrityError`` names, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError


def violates_unique(exc: IntegrityError, *, name: str, table: str, columns: Sequence[str]) -> bool:
    """True when ``exc`` is a unique violation of the constraint or index ``name`` on
    ``table(columns)``: PostgreSQL (psycopg) reports the name, SQLite the columns."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == name
    expected = "UNIQUE constraint failed: " + ", ".join(f"{table}.{c}" for c in columns)
    return str(exc.orig) == expected
