"""Deterministic demo data (``revcycle demo seed``)."""
