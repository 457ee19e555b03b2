"""The general 835 path (``X12Reader`` segments, ``_transactions``, ``parse_835_set``) as the
reference for ``Reader835``'s specialised reader, and a full comparison of the two."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from revcycle.x12.core import CHUNK_SIZE, Source, X12Error, X12Reader, _transactions
from revcycle.x12.remittance import Reader835, parse_835_set


def plain(value: Any) -> Any:
    """Everything a result holds, as comparable values (types and exact decimal text kept)."""
    if isinstance(value, X12Error):
        return ("X12Error", value.code, value.detail, value.segment_id, value.position)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple((f.name, plain(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def read(src: Source, *, reference: bool, chunk_size: int = CHUNK_SIZE) -> Any:
    """(results, the exception that stopped reading, the reader's errors), all ``plain``."""
    items: list[Any] = []
    stopped = None
    if reference:
        reader: Any = X12Reader(src, chunk_size=chunk_size)
        sets: Any = (parse_835_set(tx) for tx in _transactions(reader))
    else:
        reader = Reader835(src, chunk_size=chunk_size)
        sets = iter(reader)
    try:
        for item in sets:
            items.append(plain(item))
    except X12Error as exc:
        stopped = plain(exc)
    return items, stopped, plain(list(reader.errors))


def assert_same(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Any:
    fast = read(src, reference=False, chunk_size=chunk_size)
    ref = read(src, reference=True, chunk_size=chunk_size)
    assert fast == ref
    return fast
