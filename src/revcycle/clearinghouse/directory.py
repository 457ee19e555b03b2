"""A directory (SFTP-style) drop: ``REVCYCLE_CLEARINGHOUSE=directory``.

Many clearinghouses exchange batch files through folders (an SFTP account, a mounted share, a
sync agent). revcycle writes each 837 into the **outbox** and reads the answers (TA1, 999,
277CA, 835) from the **inbox**; an acknowledged answer is moved into the **archive**.

* :meth:`~DirectoryClearinghouse.submit_file` writes atomically: the content goes to a hidden
  temporary file first, which is then *hard-linked* under its final name (``link`` fails when the
  name exists, so two racing submissions make one file). The name comes from the idempotency key
  (``837P_<sha256(key)[:32]>.x12``), and a receipt link is kept in ``outbox/.receipts`` so a retry
  after the pickup agent took the file does not send it a second time.
* :meth:`~DirectoryClearinghouse.poll_files` lists the inbox (hidden files skipped), oldest first
  (modification time, then name); the kind comes from the file's own ST01/GS08.
* :meth:`~DirectoryClearinghouse.acknowledge_file` moves the file into the archive (``rename``,
  atomic on one file system); acknowledging an archived file again does nothing.

A folder has no real-time channel: eligibility (270/271) and claim status (276/277) go to the
``realtime`` client when one is given (the factory passes the payer simulator), otherwise they
raise :class:`ClearinghouseUnavailable`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

from revcycle.clearinghouse.base import (
    ClearinghouseClient,
    ClearinghouseRejected,
    ClearinghouseUnavailable,
    InboundFile,
    SubmittedFile,
)
from revcycle.x12.core import X12Error, iter_segments

RECEIPTS = ".receipts"


def file_name(kind: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"{kind}_{digest}.x12"


def kind_of(content: bytes) -> str:
    """TA1, 999, 277CA, 277, 835, 837P... from the first transaction set (or ``unknown``)."""
    try:
        version = ""
        for seg in iter_segments(content):
            if seg.id == "TA1":
                return "TA1"
            if seg.id == "GS":
                version = seg[8]
            if seg.id == "ST":
                set_id, version = seg[1], seg[3] or version
                if set_id == "277" and version.startswith("005010X214"):
                    return "277CA"
                if set_id == "837":
                    return "837I" if "X223" in version else "837P"
                return set_id
    except X12Error:
        return "unknown"
    return "unknown"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _mtime(path: Path) -> dt.datetime:
    """The file's modification time (a file's data, not the clock: kit.clock stays the only
    reader of the current time)."""
    return _EPOCH + dt.timedelta(microseconds=path.stat().st_mtime_ns // 1000)


class DirectoryClearinghouse:
    name = "directory"

    def __init__(
        self,
        outbox: Path,
        inbox: Path,
        archive: Path,
        *,
        eligibility_fallback: ClearinghouseClient | None = None,
    ) -> None:
        self.outbox = outbox
        self.inbox = inbox
        self.archive = archive
        self._realtime = eligibility_fallback

    # real time: not over a folder --------------------------------------------------------------
    def eligibility(self, x270: str, *, timeout_seconds: float) -> str:
        if self._realtime is None:
            raise ClearinghouseUnavailable("a directory drop has no real-time channel")
        return self._realtime.eligibility(x270, timeout_seconds=timeout_seconds)

    def claim_status(self, x276: str, *, timeout_seconds: float) -> str:
        if self._realtime is None:
            raise ClearinghouseUnavailable("a directory drop has no real-time channel")
        return self._realtime.claim_status(x276, timeout_seconds=timeout_seconds)

    # batch files -----------------------------------------------------------------------------
    def submit_file(self, content: bytes, *, kind: str, idempotency_key: str) -> SubmittedFile:
        if not idempotency_key or len(idempotency_key) > 255:
            raise ClearinghouseRejected("an idempotency key of 1-255 characters is required")
        if kind not in ("837P", "837I"):
            raise ClearinghouseRejected(f"the directory drop does not send {kind!r} files")
        name = file_name(kind, idempotency_key)
        receipts = self.outbox / RECEIPTS
        try:
            receipts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClearinghouseUnavailable(
                f"the outbox cannot be written: {exc.strerror}"
            ) from None
        receipt = receipts / name
        if receipt.exists():
            return SubmittedFile(name, _mtime(receipt))
        tmp = self.outbox / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, receipt)  # exclusive: a racing submission with the same key loses
            except FileExistsError:
                return SubmittedFile(name, _mtime(receipt))
            with contextlib.suppress(FileExistsError):
                os.link(receipt, self.outbox / name)
        except OSError as exc:
            raise ClearinghouseUnavailable(
                f"the outbox cannot be written: {exc.strerror}"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return SubmittedFile(name, _mtime(receipt))

    def poll_files(self, *, kinds: tuple[str, ...], limit: int) -> list[InboundFile]:
        try:
            paths = [p for p in self.inbox.iterdir() if p.is_file() and not p.name.startswith(".")]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ClearinghouseUnavailable(f"the inbox cannot be read: {exc.strerror}") from None
        out: list[InboundFile] = []
        for path in sorted(paths, key=lambda p: (p.stat().st_mtime_ns, p.name)):
            if len(out) >= limit:
                break
            content = path.read_bytes()
            kind = kind_of(content)
            if kind in kinds:
                out.append(InboundFile(path.name, kind, path.name, content, _mtime(path)))
        return out

    def acknowledge_file(self, file_id: str) -> None:
        if not file_id or "/" in file_id or "\\" in file_id or file_id.startswith("."):
            raise ClearinghouseRejected(f"{file_id!r} is not an inbox file name")
        source = self.inbox / file_id
        target = self.archive / file_id
        if not source.exists():
            if target.exists():
                return  # acknowledged before
            raise ClearinghouseRejected(f"no file {file_id!r} in the inbox")
        self.archive.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
