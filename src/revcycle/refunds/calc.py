"""Pure refund maths: which money a refund takes back (minor units in, minor units out)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

Source = tuple[uuid.UUID | None, int]  # (invoice id, or None for patient credit; minor units)


def plan_refund(amount: int, credit: int, applied: Sequence[Source]) -> list[Source]:
    """Take ``amount`` first from the payment's unapplied patient ``credit``, then from its
    invoice allocations in reverse order of application (``applied`` is in application order,
    each with what is still refundable from it). Raises ValueError when the sources do not cover
    the amount: callers check the refundable total first."""
    if amount <= 0:
        raise ValueError("a refund amount is positive")
    parts: list[Source] = []
    left = amount
    for invoice_id, available in [(None, credit), *reversed(applied)]:
        if left == 0:
            break
        take = min(left, available)
        if take > 0:
            parts.append((invoice_id, take))
            left -= take
    if left:
        raise ValueError("the refund exceeds what is refundable")
    return parts
