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
