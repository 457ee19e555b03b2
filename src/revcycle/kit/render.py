"""Money rendering helper shared by Read schemas."""

from __future__ import annotations

from revcycle.money import Money


def amount(minor: int, currency: str) -> str:
    return Money(minor, currency).format()
