"""The interface revcycle uses to exchange X12 with payers through a clearinghouse.

Two styles of exchange exist, and real clearinghouses (Availity, Change Healthcare, Waystar,
Office Ally...) offer both:

* **Real time** (eligibility and claim status): one 270 (276) interchange out, one 271 (277)
  interchange back within seconds, over one HTTPS/SOAP (CAQH CORE) call.
  :meth:`ClearinghouseClient.eligibility` and :meth:`ClearinghouseClient.claim_status` are
  those calls. It never writes to revcycle's database
  and is called *outside* any database transaction (docs/eligibility.md, "Flow").
* **Batch files** (claims, for the claims issue): an 837 file is submitted
  (:meth:`~ClearinghouseClient.submit_file`, idempotent by a key the caller derives from its
  batch id); acknowledgements and responses (TA1, 999, 277CA, 835) arrive later as files the
  caller polls for (:meth:`~ClearinghouseClient.poll_files`), downloads and then confirms
  (:meth:`~ClearinghouseClient.acknowledge_file`) so they are not offered again. The payer
  simulator (``simulator``) and the directory drop (``directory``) implement them
  (docs/payer-simulator.md).

Failures are exceptions with stable codes: :class:`ClearinghouseTimeout` (no answer in time:
the query may or may not have reached the payer), :class:`ClearinghouseUnavailable` (refused
before sending: connection refused, 5xx, maintenance) and :class:`ClearinghouseRejected` (the
clearinghouse refused the interchange itself: TA1/999 rejection). A payer's own refusal
(AAA) is not an exception: it comes back inside a well-formed 271.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class ClearinghouseError(Exception):
    code = "clearinghouse.error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClearinghouseTimeout(ClearinghouseError):
    code = "clearinghouse.timeout"


class ClearinghouseUnavailable(ClearinghouseError):
    code = "clearinghouse.unavailable"


class ClearinghouseRejected(ClearinghouseError):
    code = "clearinghouse.rejected"


@dataclass(frozen=True)
class SubmittedFile:
    """The clearinghouse's receipt for a batch file."""

    file_id: str
    received_at: dt.datetime


@dataclass(frozen=True)
class InboundFile:
    """A file waiting for us: ``kind`` is TA1, 999, 277CA or 835."""

    file_id: str
    kind: str
    name: str
    content: bytes
    available_at: dt.datetime


@runtime_checkable
class ClearinghouseClient(Protocol):
    name: str  # stored on every check ("simulator", "availity", ...)

    def eligibility(self, x270: str, *, timeout_seconds: float) -> str:
        """Send one 270 interchange, return the 271 interchange as received (text, unparsed:
        the caller stores it raw and parses it itself)."""
        ...

    def claim_status(self, x276: str, *, timeout_seconds: float) -> str:
        """Send one 276 interchange, return the 277 interchange as received (unparsed)."""
        ...

    def submit_file(self, content: bytes, *, kind: str, idempotency_key: str) -> SubmittedFile:
        """Upload a batch file (``kind`` 837P/837I). The same key returns the first receipt and
        never submits twice."""
        ...

    def poll_files(self, *, kinds: tuple[str, ...], limit: int) -> list[InboundFile]:
        """Files not yet acknowledged, oldest first."""
        ...

    def acknowledge_file(self, file_id: str) -> None:
        """Mark a downloaded file as processed (after it is stored); idempotent."""
        ...
