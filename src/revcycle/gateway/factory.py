"""Builds the configured gateway (``REVCYCLE_GATEWAY``)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from revcycle.config import Settings
from revcycle.gateway.base import PaymentGateway
from revcycle.gateway.testgw.service import TestGateway


def build_gateway(settings: Settings, factory: sessionmaker[Session]) -> PaymentGateway:
    if settings.gateway == "test":
        # The test gateway keeps its tables in revcycle's database, in transactions of its own.
        return TestGateway(factory)
    raise ValueError(f"unknown gateway {settings.gateway!r}")  # pragma: no cover - Literal
