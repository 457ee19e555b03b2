"""Opaque keyset cursors for list endpoints."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from revcycle.errors import InvalidInput

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class InvalidCursor(InvalidInput):
    code = "pagination.invalid_cursor"


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidCursor("The cursor is not one this service issued") from None
    if not isinstance(data, dict):
        raise InvalidCursor("The cursor is not one this service issued")
    return data


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def after_id(cursor: str | None) -> Any:
    """Decode a cursor of the plain ``{"id": ...}`` form into the id (a string) or None."""
    data = decode_cursor(cursor)
    if data is None:
        return None
    value = data.get("id")
    if not isinstance(value, str):
        raise InvalidCursor("The cursor is not one this service issued")
    return value


def page_by_id(rows: list[T], limit: int, key: Any = None) -> Page[T]:
    """Rows fetched with ``limit + 1``: trim and build the next cursor from the last row's id."""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = key(last) if key is not None else last.id  # type: ignore[attr-defined]
        return Page(rows, encode_cursor({"id": str(value)}))
    return Page(rows, None)
