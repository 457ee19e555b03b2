"""Builds the configured clearinghouse client (``REVCYCLE_CLEARINGHOUSE``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse.base import ClearinghouseClient
from revcycle.clearinghouse.directory import DirectoryClearinghouse
from revcycle.clearinghouse.payer import Delays
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import Settings


def delays_from(settings: Settings) -> Delays:
    return Delays(
        ack999=settings.clearinghouse_999_delay_seconds,
        ack277=settings.clearinghouse_277ca_delay_seconds,
        remittance=settings.clearinghouse_835_delay_seconds,
        reversal=settings.clearinghouse_reversal_delay_seconds,
    )


def build_clearinghouse(settings: Settings, factory: sessionmaker[Session]) -> ClearinghouseClient:
    if settings.clearinghouse == "simulator":
        return SimulatorClearinghouse(factory, delays=delays_from(settings))
    if settings.clearinghouse == "directory":
        return DirectoryClearinghouse(
            Path(settings.clearinghouse_outbox_dir),
            Path(settings.clearinghouse_inbox_dir),
            Path(settings.clearinghouse_archive_dir),
            eligibility_fallback=SimulatorClearinghouse(factory),
        )
    raise ValueError(f"unknown clearinghouse {settings.clearinghouse!r}")  # pragma: no cover
