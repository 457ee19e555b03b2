"""Builds the configured clearinghouse client (``REVCYCLE_CLEARINGHOUSE``)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse.base import ClearinghouseClient
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import Settings


def build_clearinghouse(settings: Settings, factory: sessionmaker[Session]) -> ClearinghouseClient:
    if settings.clearinghouse == "simulator":
        return SimulatorClearinghouse(factory)
    raise ValueError(f"unknown clearinghouse {settings.clearinghouse!r}")  # pragma: no cover
