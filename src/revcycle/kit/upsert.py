"""Portable upserts (SQLite and PostgreSQL both speak ``INSERT ... ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def insert_ignore(
    session: Session, model: Any, values: Mapping[str, Any], index_elements: Sequence[str]
) -> None:
    """INSERT the row unless one with the same key exists (no error, no change)."""
    stmt = _insert(session, model).values(**values)
    session.execute(stmt.on_conflict_do_nothing(index_elements=list(index_elements)))


def insert_or_update(
    session: Session,
    model: Any,
    values: Mapping[str, Any],
    index_elements: Sequence[str],
    set_: Mapping[str, Any],
) -> Insert:
    """The statement INSERT ... ON CONFLICT (key) DO UPDATE SET ... (add ``.returning()``)."""
    stmt = _insert(session, model).values(**values)
    result: Insert = stmt.on_conflict_do_update(index_elements=list(index_elements), set_=set_)
    return result


def insert_ignore_returning(
    session: Session, model: Any, values: Mapping[str, Any], index_elements: Sequence[str]
) -> Any:
    """INSERT the row unless one with the same key exists; the new row's id, or None when it
    existed (on PostgreSQL a concurrent uncommitted insert of the key is waited for first)."""
    stmt = (
        _insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(index_elements))
        .returning(model.id)
    )
    return session.execute(stmt).scalar_one_or_none()
