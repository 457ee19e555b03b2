"""X12 5010 core: delimiter detection, a streaming segment tokenizer and envelope validation.

Pure code, no I/O of its own: the reader takes a ``str``, ``bytes`` or a file object (text or
binary) and reads it in chunks, so memory depends on the largest segment (and, for
:func:`iter_transactions`, on the largest ST..SE set), never on the size of the file.

Error model: every problem is an :class:`X12Error` with a stable ``code``, a message, the segment
ID and the segment's ordinal position in the file (1-based, the first ISA is 1). Problems that
make further reading impossible (no ISA, a broken ISA, a segment ID that is not one, the data
ending inside a segment) are raised. Envelope problems (counts, control numbers, missing
trailers) are collected in ``X12Reader.errors`` while reading goes on, so the caller sees all of
them and decides; :func:`iter_transactions` attaches them to the set they concern.

See docs/x12.md for the rules (they follow shared/research/x12-field-notes.md section 1).
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from revcycle.errors import InvalidInput

CHUNK_SIZE = 64 * 1024
# An ISA is 106 characters when padded; leave room for CR/LF and odd senders, but never read an
# unbounded amount while looking for the 16th separator.
MAX_ISA_LENGTH = 512
# A segment longer than this is not X12 (the longest 5010 segments are well under 4 KiB).
MAX_SEGMENT_LENGTH = 64 * 1024
# A transaction set is read whole before it is interpreted: more segments than this is refused
# (about 30,000 claims of an 835; a real sender splits bigger runs into several sets), so hostile
# input, such as an ST followed by 100 MB of segments and no SE, cannot exhaust memory.
MAX_SET_SEGMENTS = 400_000
ENVELOPE_IDS = frozenset({"ISA", "IEA", "GS", "GE", "TA1"})
_WS = " \t\x00\x0b\x0c"
_SKIP = frozenset(" \t\r\n\x00\x0b\x0c\ufeff")


class X12Error(InvalidInput):
    """A parse or envelope error naming the segment and its ordinal position in the file."""

    code = "x12.invalid"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        segment_id: str | None = None,
        position: int | None = None,
    ) -> None:
        where = ""
        if segment_id is not None or position is not None:
            where = f" (segment {segment_id or '?'} at position {position or '?'})"
        super().__init__(
            message + where, code=code, segment_id=segment_id, position=position, detail=message
        )
        self.segment_id = segment_id
        self.position = position
        self.detail = message

    def __repr__(self) -> str:
        return f"X12Error({self.code!r}, {self.detail!r}, {self.segment_id!r}, {self.position!r})"


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"

    def check(self) -> None:
        chars = [self.element, self.component, self.segment]
        if self.repetition is not None:
            chars.append(self.repetition)
        if len(set(chars)) != len(chars):
            raise X12Error(
                "x12.bad_delimiters",
                f"delimiters must be distinct: {chars!r}",
                segment_id="ISA",
            )
        for c in chars:
            if len(c) != 1 or c.isalnum() or c == " " or (c in "\r\n" and c != self.segment):
                raise X12Error(
                    "x12.bad_delimiters",
                    f"{c!r} cannot be a delimiter (alphanumeric, space or line break)",
                    segment_id="ISA",
                )


DEFAULT_DELIMITERS = Delimiters()


class Segment:
    """One segment: ``elements[0]`` is the segment ID, ``seg[1]`` is the first data element.

    Indexing past the end gives ``""`` (X12 drops trailing empty elements).
    """

    __slots__ = ("delimiters", "elements", "position")

    def __init__(self, elements: list[str], position: int, delimiters: Delimiters) -> None:
        self.elements = elements
        self.position = position
        self.delimiters = delimiters

    @property
    def id(self) -> str:
        return self.elements[0]

    def __getitem__(self, index: int) -> str:
        els = self.elements
        return els[index] if index < len(els) else ""

    def __len__(self) -> int:
        return len(self.elements)

    def components(self, index: int) -> list[str]:
        value = self[index]
        return value.split(self.delimiters.component) if value else []

    def repeats(self, index: int) -> list[str]:
        value = self[index]
        if not value:
            return []
        rep = self.delimiters.repetition
        return value.split(rep) if rep else [value]

    def text(self) -> str:
        return self.delimiters.element.join(self.elements)

    def __repr__(self) -> str:
        return f"Segment({self.text()!r}, position={self.position})"


@dataclass(frozen=True, slots=True)
class InterchangeHeader:
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str
    control_number: str
    ack_requested: str
    usage: str
    delimiters: Delimiters
    position: int


@dataclass(frozen=True, slots=True)
class GroupHeader:
    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control_number: str
    version: str
    position: int


@dataclass(slots=True)
class Transaction:
    """One ST..SE set with its envelope context and the envelope errors that concern it."""

    interchange: InterchangeHeader
    group: GroupHeader | None
    segments: list[Segment]
    errors: list[X12Error] = field(default_factory=list)

    @property
    def set_id(self) -> str:
        return self.segments[0][1]

    @property
    def control_number(self) -> str:
        return self.segments[0][2]


# -- input -----------------------------------------------------------------------------------
Source = str | bytes | bytearray | memoryview | IO[str] | IO[bytes]


def _raw_chunks(src: Source, chunk_size: int) -> Iterator[str | bytes]:
    if isinstance(src, str):
        for i in range(0, len(src), chunk_size):
            yield src[i : i + chunk_size]
        return
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]
        return
    while True:
        chunk = src.read(chunk_size)
        if not chunk:
            return
        yield chunk


def _decoded(chunks: Iterable[str | bytes]) -> Iterator[str]:
    """Text chunks: a leading UTF-8 BOM dropped; strict UTF-8, falling back to latin-1 from the
    first undecodable chunk on (X12 data is ASCII in practice; the fallback only keeps odd bytes
    in names readable instead of failing)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    latin = False
    head = b""
    started = False
    for chunk in chunks:
        if isinstance(chunk, str):
            yield chunk
            continue
        if not started:
            head += chunk
            if len(head) < 3 and b"\xef\xbb\xbf".startswith(head):
                continue
            started = True
            chunk = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        if latin:
            yield chunk.decode("latin-1")
            continue
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError:
            latin = True
            text = (pending + chunk).decode("latin-1")
        yield text
    if not started and head:
        yield head.decode("latin-1")
    if not latin:
        pending = decoder.getstate()[0]
        if pending:
            yield pending.decode("latin-1")


# -- delimiter detection ----------------------------------------------------------------------
def detect_delimiters(head: str, position: int = 1) -> tuple[Delimiters, list[str], int]:
    """Delimiters, the ISA elements and the index just past the ISA terminator in ``head``.

    ``head`` must start at the ``I`` of ``ISA``. Fields need not be padded: separators are
    counted (CR/LF inside the header are skipped). Raises ``X12Error`` when the ISA is broken,
    or ``_NeedMore`` when ``head`` ends before the terminator.
    """
    if len(head) < 4 and "ISA".startswith(head[:3]):
        raise _NeedMore
    if not head.startswith("ISA"):
        raise X12Error(
            "x12.not_x12",
            "the data does not start with an ISA segment",
            segment_id=head[:3] or None,
            position=position,
        )
    element = head[3]
    if element.isalnum() or element in " \r\n":
        raise X12Error(
            "x12.bad_delimiters",
            f"{element!r} cannot be the element separator",
            segment_id="ISA",
            position=position,
        )
    count = 0
    i = 3
    n = len(head)
    limit = min(n, MAX_ISA_LENGTH)
    while i < limit:
        if head[i] == element:
            count += 1
            if count == 16:
                break
        i += 1
    if count < 16:
        if n < MAX_ISA_LENGTH:
            raise _NeedMore
        raise X12Error(
            "x12.bad_isa",
            f"the ISA has {count + 1} elements instead of 16 within {MAX_ISA_LENGTH} characters",
            segment_id="ISA",
            position=position,
        )
    if i + 2 >= n:
        raise _NeedMore
    component = head[i + 1]
    terminator = head[i + 2]
    end = i + 3
    if terminator == "\r":
        if end >= n:
            raise _NeedMore
        if head[end] == "\n":
            terminator = "\n"
            end += 1
    raw = head[: i + 2].replace("\r", "").replace("\n", "")
    elements = raw.split(element)
    isa11 = elements[11]
    version = elements[12].strip()
    repetition: str | None = None
    if version >= "00501" and len(isa11) == 1 and not isa11.isalnum() and isa11 != " ":
        repetition = isa11
    delims = Delimiters(element, component, repetition, terminator)
    try:
        delims.check()
    except X12Error as exc:
        raise X12Error(
            "x12.bad_delimiters", exc.detail, segment_id="ISA", position=position
        ) from None
    return delims, elements, end


class _NeedMore(Exception):
    pass


class ChunkBuffer:
    """The text of a source as it is read, chunk by chunk: ``buf[pos:]`` is what has not been
    read yet. Shared by :class:`X12Reader` and the specialised 835 reader: both keep ``buf`` and
    ``pos`` in local variables while they cut segments, set ``pos`` back here before calling a
    method and take both again after it (a method may read the next chunk)."""

    __slots__ = ("_chunks", "_exhausted", "_first", "buf", "pos")

    def __init__(self, src: Source, chunk_size: int) -> None:
        self._chunks = _decoded(_raw_chunks(src, chunk_size))
        self._exhausted = False
        self._first = True  # no ISA found yet
        self.buf = ""
        self.pos = 0

    def more(self) -> bool:
        """Read the next chunk (what was read before ``pos`` is dropped); False at the end."""
        if self._exhausted:
            return False
        for chunk in self._chunks:
            if chunk:
                self.buf = self.buf[self.pos :] + chunk
                self.pos = 0
                return True
        self._exhausted = True
        return False

    def read_isa(self, position: int) -> tuple[Delimiters, list[str]] | None:
        """Skip whitespace, line breaks and NULs (and a BOM in text input), then read the ISA
        there (the segment at ``position + 1``) and move past it: its delimiters and elements,
        or None when the data ends before one (an error when the data is empty)."""
        while True:
            buf = self.buf
            pos = self.pos
            while pos < len(buf) and buf[pos] in _SKIP:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                break
            if not self.more():
                if self._first:
                    raise X12Error("x12.empty", "the data is empty", position=1)
                return None
        self._first = False
        while True:
            try:
                delims, elements, end = detect_delimiters(self.buf[self.pos :], position + 1)
                break
            except _NeedMore:
                if not self.more():
                    raise X12Error(
                        "x12.truncated",
                        "the data ends inside the ISA header",
                        segment_id="ISA",
                        position=position + 1,
                    ) from None
        self.pos += end
        return delims, elements

    def no_terminator(self, term: str, esep: str, position: int) -> bool:
        """``buf[pos:]`` holds no segment terminator (``position`` is the last segment read):
        True when another chunk was read (look again), False when the data ends there with
        nothing but blanks; raises when the segment is too long or the data ends inside it."""
        buf = self.buf
        pos = self.pos
        if len(buf) - pos > MAX_SEGMENT_LENGTH:
            raise X12Error(
                "x12.segment_too_long",
                f"no segment terminator {term!r} within {MAX_SEGMENT_LENGTH} characters",
                segment_id=buf[pos : pos + 3].strip() or None,
                position=position + 1,
            )
        if self.more():
            return True
        rest = buf[pos:].strip(" \t\r\n\x00\x0b\x0c")
        if rest:
            raise X12Error(
                "x12.truncated",
                "the data ends inside a segment (no terminator)",
                segment_id=rest.split(esep, 1)[0][:3],
                position=position + 1,
            )
        return False


def check_segment_id(sid: str, position: int) -> None:
    """A segment ID is 2 or 3 upper-case ASCII letters and digits, starting with a letter."""
    if not (
        2 <= len(sid) <= 3
        and sid.isascii()
        and sid.isalnum()
        and sid.isupper()
        and sid[0].isalpha()
    ):
        raise X12Error(
            "x12.bad_segment_id",
            f"{sid[:10]!r} is not a segment ID",
            segment_id=sid[:10],
            position=position,
        )


# -- tokenizer ---------------------------------------------------------------------------------
class X12Reader:
    """Streaming segments of one file (several interchanges allowed), envelope checked.

    Iterate it once. ``errors`` collects envelope problems found so far; ``interchange`` and
    ``group`` are the envelope headers in force for the segment just yielded.
    """

    def __init__(self, src: Source, *, chunk_size: int = CHUNK_SIZE) -> None:
        self._buffer = ChunkBuffer(src, chunk_size)
        self.errors: list[X12Error] = []
        self._envelope = Envelope(self.errors)
        self.segment_count = 0

    # raw segments ----------------------------------------------------------------------------
    def _segments(self) -> Iterator[Segment]:
        src = self._buffer
        buf = ""
        pos = 0
        delims: Delimiters | None = None
        position = 0
        known: set[str] = set()

        while True:
            if delims is None:
                src.pos = pos
                isa = src.read_isa(position)
                if isa is None:
                    return
                delims, elements = isa
                buf, pos = src.buf, src.pos
                position += 1
                yield Segment(elements, position, delims)
                continue
            term = delims.segment
            esep = delims.element
            while True:
                j = buf.find(term, pos)
                if j < 0:
                    src.pos = pos
                    if src.no_terminator(term, esep, position):
                        buf, pos = src.buf, src.pos
                        continue
                    return
                start = pos
                raw = buf[pos:j]
                pos = j + 1
                if "\r" in raw or "\n" in raw:
                    raw = raw.replace("\r", "").replace("\n", "")
                if raw[:1] in _WS or raw[-1:] in _WS:
                    raw = raw.strip(_WS)
                if not raw:
                    continue
                if raw.startswith("ISA") and len(raw) > 3 and not raw[3].isalnum():
                    # A new interchange without an IEA: the checker reports it; detect again.
                    pos = start
                    delims = None
                    break
                elements = raw.split(esep)
                sid = elements[0]
                position += 1
                if sid not in known:  # each ID is checked once
                    check_segment_id(sid, position)
                    known.add(sid)
                yield Segment(elements, position, delims)
                if sid == "IEA":
                    delims = None
                    break

    # envelope checking -----------------------------------------------------------------------
    @property
    def interchange(self) -> InterchangeHeader | None:
        return self._envelope.interchange

    @property
    def group(self) -> GroupHeader | None:
        return self._envelope.group

    def __iter__(self) -> Iterator[Segment]:
        env = self._envelope
        last: Segment | None = None
        for seg in self._segments():
            last = seg
            self.segment_count += 1
            if env.st is not None and seg.elements[0] not in SET_BOUNDARY_IDS:
                env.seg_in_set += 1  # the common case, inline: a segment inside a set
            else:
                env.feed(seg)
            yield seg
        env.finish(last)


# Segments that end (SE) or break (ST GE IEA ISA) an open ST..SE set.
SET_BOUNDARY_IDS = frozenset({"SE", "ST", "GE", "IEA", "ISA"})


class Envelope:
    """The envelope rules (ISA/IEA, GS/GE, ST/SE pairing, counts, control numbers), fed one
    segment at a time in file order; problems are appended to ``errors`` while reading goes on.

    ``interchange`` and ``group`` are the headers in force after the segment just fed. Shared by
    :class:`X12Reader` and the specialised 835 reader (one implementation of the rules).
    """

    __slots__ = (
        "errors",
        "group",
        "gs",
        "interchange",
        "isa",
        "n_groups",
        "n_sets",
        "seg_in_set",
        "st",
    )

    def __init__(self, errors: list[X12Error]) -> None:
        self.errors = errors
        self.interchange: InterchangeHeader | None = None
        self.group: GroupHeader | None = None
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None  # the open ST..SE set
        self.n_groups = 0
        self.n_sets = 0
        self.seg_in_set = 0  # segments of the open set fed so far, its ST included

    def _error(self, code: str, message: str, seg: Segment | None) -> X12Error:
        err = X12Error(
            code,
            message,
            segment_id=seg.id if seg else None,
            position=seg.position if seg else None,
        )
        self.errors.append(err)
        return err

    def feed(self, seg: Segment) -> None:  # noqa: C901, PLR0912 - one rule per envelope segment
        sid = seg.elements[0]
        st = self.st
        if st is not None:
            self.seg_in_set += 1
            if sid == "SE":
                self._check_se(st, seg, self.seg_in_set)
                self.st = None
                return
            if sid not in ("ST", "GE", "IEA", "ISA"):
                return
            self._error(
                "x12.missing_se",
                f"transaction set {st[1]} {st[2]} has no SE before this {sid}",
                seg,
            )
            self.st = None
        isa = self.isa
        gs = self.gs
        if sid == "ISA":
            if isa is not None:
                self._error("x12.missing_iea", "an ISA follows an interchange with no IEA", seg)
            self.isa = seg
            self.gs = None
            self.n_groups = 0
            self.interchange = self._header(seg)
            self.group = None
        elif isa is None:
            self._error("x12.outside_envelope", f"{sid} outside an interchange", seg)
        elif sid == "GS":
            if gs is not None:
                self._error("x12.missing_ge", "a GS follows a group with no GE", seg)
            self.gs = seg
            self.n_groups += 1
            self.n_sets = 0
            self.group = GroupHeader(
                seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[8], seg.position
            )
        elif sid == "ST":
            if gs is None:
                self._error("x12.outside_group", "ST outside a functional group (GS)", seg)
            self.st = seg
            self.n_sets += 1
            self.seg_in_set = 1
            if gs is not None and seg[3] and gs[8] and seg[3] != gs[8]:
                self._error(
                    "x12.version_mismatch",
                    f"ST03 {seg[3]!r} differs from GS08 {gs[8]!r}",
                    seg,
                )
        elif sid == "GE":
            if gs is None:
                self._error("x12.unexpected_ge", "GE with no open functional group", seg)
            else:
                if _int(seg[1]) != self.n_sets:
                    self._error(
                        "x12.ge_count",
                        f"GE01 says {seg[1]!r} transaction sets, the group has {self.n_sets}",
                        seg,
                    )
                if not _same_number(seg[2], gs[6]):
                    self._error(
                        "x12.ge_control",
                        f"GE02 {seg[2]!r} does not match GS06 {gs[6]!r}",
                        seg,
                    )
            self.gs = None
            self.group = None
        elif sid == "IEA":
            if gs is not None:
                self._error("x12.missing_ge", "IEA while a functional group is open", seg)
                self.gs = None
            if _int(seg[1]) != self.n_groups:
                self._error(
                    "x12.iea_count",
                    f"IEA01 says {seg[1]!r} functional groups, the interchange has {self.n_groups}",
                    seg,
                )
            if not _same_number(seg[2], isa[13]):
                self._error(
                    "x12.iea_control",
                    f"IEA02 {seg[2]!r} does not match ISA13 {isa[13]!r}",
                    seg,
                )
            self.isa = None
        elif sid != "TA1":
            self._error("x12.outside_transaction", f"{sid} outside a transaction set (ST..SE)", seg)

    def finish(self, last: Segment | None) -> None:
        """The data has ended after ``last``: report what is still open."""
        if self.st is not None:
            self._error(
                "x12.missing_se",
                f"the data ends inside transaction set {self.st[2]} (no SE)",
                last,
            )
        if self.gs is not None:
            self._error("x12.missing_ge", "the data ends inside a functional group (no GE)", last)
        if self.isa is not None:
            self._error("x12.missing_iea", "the data ends inside an interchange (no IEA)", last)

    def _check_se(self, st: Segment, se: Segment, counted: int) -> None:
        if _int(se[1]) != counted:
            self._error(
                "x12.se_count",
                f"SE01 says {se[1]!r} segments, transaction set {st[2]} has {counted}",
                se,
            )
        if se[2] != st[2]:
            self._error("x12.se_control", f"SE02 {se[2]!r} does not match ST02 {st[2]!r}", se)

    @staticmethod
    def _header(seg: Segment) -> InterchangeHeader:
        return InterchangeHeader(
            sender_qualifier=seg[5].strip(),
            sender_id=seg[6].strip(),
            receiver_qualifier=seg[7].strip(),
            receiver_id=seg[8].strip(),
            date=seg[9].strip(),
            time=seg[10].strip(),
            version=seg[12].strip(),
            control_number=seg[13].strip(),
            ack_requested=seg[14].strip(),
            usage=seg[15].strip(),
            delimiters=seg.delimiters,
            position=seg.position,
        )


def _same_number(a: str, b: str) -> bool:
    """Control numbers match as numbers when both are digits (leading zeros are padding)."""
    ia, ib = _int(a), _int(b)
    return ia == ib if ia is not None and ib is not None else a.strip() == b.strip()


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def iter_segments(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Segment]:
    """Every segment of ``src`` in order (envelope errors are not reported: use X12Reader)."""
    return iter(X12Reader(src, chunk_size=chunk_size))


def iter_transactions(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Transaction]:
    """Each ST..SE set with its envelope headers, one at a time (memory: one set).

    Envelope errors found while reading a set are attached to it. Errors found after the last
    set (GE/IEA counts, a missing IEA) are only in ``X12Reader.errors``: use
    :func:`read_transactions`, or iterate ``_transactions(reader)`` yourself, to see them too.
    """
    reader = X12Reader(src, chunk_size=chunk_size)
    yield from _transactions(reader)


def set_too_long(segment_id: str | None, position: int) -> X12Error:
    """The refusal of a set that reached :data:`MAX_SET_SEGMENTS` without its SE."""
    return X12Error(
        "x12.set_too_long",
        f"a transaction set of more than {MAX_SET_SEGMENTS:,} segments without its SE: not read "
        "further (split large runs into several sets)",
        segment_id=segment_id,
        position=position,
    )


def _transactions(reader: X12Reader) -> Iterator[Transaction]:
    current: Transaction | None = None
    seen = 0
    for seg in reader:
        sid = seg.elements[0]
        if sid == "ST":
            assert reader.interchange is not None
            current = Transaction(reader.interchange, reader.group, [seg])
            continue
        if current is None:
            continue
        current.segments.append(seg)
        if len(current.segments) > MAX_SET_SEGMENTS:
            raise set_too_long(sid, seg.position)
        if sid == "SE":
            current.errors.extend(reader.errors[seen:])
            seen = len(reader.errors)
            yield current
            current = None
    if current is not None:  # a set cut short: yield it so its error is seen with it
        current.errors.extend(reader.errors[seen:])
        yield current


@dataclass(slots=True)
class ReadResult:
    transactions: list[Transaction]
    errors: list[X12Error]
    interchanges: list[InterchangeHeader]


def read_transactions(src: Source, *, chunk_size: int = CHUNK_SIZE) -> ReadResult:
    """All sets of ``src`` plus every envelope error (in file order) and interchange header."""
    reader = X12Reader(src, chunk_size=chunk_size)
    sets: list[Transaction] = []
    headers: list[InterchangeHeader] = []
    for tx in _transactions(reader):
        sets.append(tx)
        if not headers or headers[-1] is not tx.interchange:
            headers.append(tx.interchange)
    return ReadResult(sets, list(reader.errors), headers)


# -- small value parsers shared by the transaction modules -----------------------------------
def parse_date(value: str, seg: Segment) -> dt.date:
    """A ``CCYYMMDD`` date (D8)."""
    if len(value) == 8 and value.isascii() and value.isdigit():
        try:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            pass
    raise X12Error(
        "x12.bad_date",
        f"{value!r} is not a CCYYMMDD date",
        segment_id=seg.id,
        position=seg.position,
    )


def parse_period(qualifier: str, value: str, seg: Segment) -> tuple[dt.date, dt.date | None]:
    """D8 (one date) or RD8 (``CCYYMMDD-CCYYMMDD``)."""
    if qualifier == "RD8":
        start, sep, end = value.partition("-")
        if not sep:
            raise X12Error(
                "x12.bad_date",
                f"{value!r} is not a CCYYMMDD-CCYYMMDD range",
                segment_id=seg.id,
                position=seg.position,
            )
        return parse_date(start, seg), parse_date(end, seg)
    if qualifier in ("D8", ""):
        return parse_date(value, seg), None
    raise X12Error(
        "x12.bad_date",
        f"date format qualifier {qualifier!r} is not D8 or RD8",
        segment_id=seg.id,
        position=seg.position,
    )
