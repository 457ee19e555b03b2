from __future__ import annotations


class UnbalancedEntry(Exception):  # noqa: N818 - a programming error, never a user error
    """Raised when code tries to post an entry that does not balance. A bug, not bad input."""
