"""revcycle's side of the gateway: every webhook event processed, exactly once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.clock import utcnow
from revcycle.kit.columns import UUIDPk


class GatewayEvent(Base):
    """The UNIQUE (provider, event_id) is the idempotency of webhook processing: a concurrent
    duplicate delivery fails its INSERT and its whole transaction rolls back (one effect)."""

    __tablename__ = "gateway_events"
    # Named as migration 0007 created it (shorter than the naming convention's name).
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_gateway_events_provider"),)

    id: Mapped[UUIDPk]
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(80))
    type: Mapped[str] = mapped_column(String(40))
    charge_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(40))  # what revcycle did with it
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GatewayUnmatchedRefund(Base):
    """A ``charge.refunded`` event for a refund revcycle did not ask for (made in the gateway's
    dashboard): money left card clearing without a ledger entry. Kept for staff to look at
    (``GET /api/v1/reconciliation/unmatched-refunds``); the settlement reconciliation lists it
    as missing in the ledger too."""

    __tablename__ = "gateway_unmatched_refunds"
    __table_args__ = (UniqueConstraint("provider", "gateway_refund_id"),)

    id: Mapped[UUIDPk]
    provider: Mapped[str] = mapped_column(String(20))
    gateway_refund_id: Mapped[str] = mapped_column(String(40))
    charge_id: Mapped[str] = mapped_column(String(40))
    # Ours, when the charge is one of our payments (else None: not even the charge is ours).
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    event_id: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
