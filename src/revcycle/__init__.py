"""revcycle: healthcare revenue-cycle billing."""

__version__ = "0.1.0"
