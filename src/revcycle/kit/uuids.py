from __future__ import annotations

import uuid

from revcycle.errors import InvalidInput
from revcycle.kit.pagination import InvalidCursor


def parse_cursor_uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidCursor("The cursor is not one this service issued") from None


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a valid {what} id", code=f"{what}.invalid_id"
        ) from None
