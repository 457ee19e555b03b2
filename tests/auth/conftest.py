"""Fixtures for the identity tests."""

from tests.auth.helpers import clock

__all__ = ["clock"]
