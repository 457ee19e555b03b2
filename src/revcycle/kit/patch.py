"""Applying a PATCH body to a model: explicit ``null`` on a column that cannot be empty is a 422
with a stable code, never a database error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect

from revcycle.errors import DomainError


class NullNotAllowed(DomainError):
    code = "request.null_not_allowed"
    status = 422
    title = "Field cannot be empty"


def apply_changes(obj: object, changes: Mapping[str, Any]) -> None:
    """``setattr`` each change, after refusing ``None`` for every NOT NULL column among them."""
    columns = inspect(type(obj)).columns
    empty = sorted(
        name
        for name, value in changes.items()
        if value is None and name in columns and not columns[name].nullable
    )
    if empty:
        raise NullNotAllowed(
            f"{', '.join(empty)} cannot be null; leave a field out to keep its value",
            fields=empty,
        )
    for name, value in changes.items():
        setattr(obj, name, value)
