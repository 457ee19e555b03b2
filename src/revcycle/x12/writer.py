"""X12 5010 writer: ISA/GS/ST ... SE/GE/IEA with fixed-width ISA and counted segments.

The caller allocates and persists the control numbers (ISA13 per sender/receiver pair, GS06 per
sender, ST02 unique within the group) and passes them in; this module never invents one and
reads no clock (the creation time is passed in too).

Output rules (x12-field-notes.md 1.4): data is upper-cased, delimiter characters and line breaks
inside data are removed (X12 has no escape character), trailing empty elements and trailing
empty components are dropped, an empty segment is never written, and SE01/GE01/IEA01 are
counted while writing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from revcycle.x12.core import DEFAULT_DELIMITERS, Delimiters, X12Error


class Composite(tuple[str, ...]):
    """A composite element: its parts are joined with the component separator."""

    def __new__(cls, *parts: str) -> Composite:
        return super().__new__(cls, parts)


class Repeated(tuple[str, ...]):
    """A repeated element: its values are joined with the repetition separator (ISA11)."""

    def __new__(cls, *values: str) -> Repeated:
        return super().__new__(cls, values)


Element = str | Composite | Repeated | None


@dataclass(frozen=True, slots=True)
class Envelope:
    """Interchange and group identifiers. Control numbers come from the caller's sequences."""

    sender_id: str
    receiver_id: str
    interchange_control_number: int
    group_control_number: int
    created_at: dt.datetime
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str | None = None  # GS02; default sender_id
    application_receiver: str | None = None  # GS03; default receiver_id
    usage: str = "P"  # ISA15: P production, T test
    ack_requested: str = "0"  # ISA14: 1 asks for a TA1
    delimiters: Delimiters = field(default=DEFAULT_DELIMITERS)

    def check(self) -> None:
        if not 0 <= self.interchange_control_number <= 999_999_999:
            raise X12Error("x12.bad_control_number", "ISA13 must fit in 9 digits")
        if not 1 <= self.group_control_number <= 999_999_999:
            raise X12Error("x12.bad_control_number", "GS06 must be 1..999999999")
        for name, value, width in (
            ("sender_id", self.sender_id, 15),
            ("receiver_id", self.receiver_id, 15),
            ("sender_qualifier", self.sender_qualifier, 2),
            ("receiver_qualifier", self.receiver_qualifier, 2),
        ):
            if not value or len(value) > width:
                raise X12Error("x12.bad_envelope", f"{name} must be 1..{width} characters")
        if self.usage not in ("P", "T"):
            raise X12Error("x12.bad_envelope", "usage must be P or T")
        if self.ack_requested not in ("0", "1"):
            raise X12Error("x12.bad_envelope", "ack_requested must be 0 or 1")
        if self.delimiters.repetition is None:
            raise X12Error("x12.bad_envelope", "5010 needs a repetition separator")
        self.delimiters.check()


# Joins plain values while a segment is assembled; never valid inside X12 data.
_GLUE = "\x1c"


class TransactionWriter:
    """Segments of one ST..SE set; SE01 is counted, never passed in."""

    __slots__ = ("_bad", "_clean", "_d", "_segments", "control_number", "set_id")

    def __init__(
        self, set_id: str, control_number: str, version: str, delimiters: Delimiters
    ) -> None:
        self.set_id = set_id
        self.control_number = control_number
        self._d = delimiters
        bad = {delimiters.element, delimiters.component, delimiters.segment, "\r", "\n"}
        if delimiters.repetition:
            bad.add(delimiters.repetition)
        self._clean = str.maketrans(dict.fromkeys(bad, None))
        # Plain values are joined first and checked once for anything needing cleaning.
        self._bad = re.compile("[" + re.escape("".join(sorted(bad))) + "]")
        self._segments: list[str] = []
        self.add("ST", set_id, control_number, version)

    def _value(self, value: Element) -> str:
        if value is None:
            return ""
        if isinstance(value, Composite):
            parts = [p.upper().translate(self._clean) for p in value]
            while parts and not parts[-1]:
                parts.pop()
            return self._d.component.join(parts)
        if isinstance(value, Repeated):
            reps = [r.upper().translate(self._clean) for r in value]
            return (self._d.repetition or "").join(r for r in reps if r)
        return value.upper().translate(self._clean)

    def add(self, segment_id: str, *elements: Element) -> None:
        joined: str | None
        try:
            joined = _GLUE.join([e or "" for e in elements])  # type: ignore[misc]
        except TypeError:  # a Composite or Repeated value: the general path
            joined = None
        if (
            joined is not None
            and joined.count(_GLUE) == len(elements) - 1  # no value carries the glue itself
            and self._bad.search(joined) is None
        ):
            # Nothing to clean: one pass for the whole segment.
            joined = joined.rstrip(_GLUE)
            if joined:
                element = self._d.element
                self._segments.append(segment_id + element + joined.upper().replace(_GLUE, element))
                return
        values = [self._value(e) for e in elements]
        while values and not values[-1]:
            values.pop()
        if not values:
            raise X12Error(
                "x12.empty_segment", f"segment {segment_id} has no data", segment_id=segment_id
            )
        self._segments.append(self._d.element.join([segment_id, *values]))

    def add_raw(self, segment_id: str, values: Sequence[str]) -> None:
        """Append a segment whose values the caller has already cleaned (fast path)."""
        self._segments.append(self._d.element.join([segment_id, *values]))

    @property
    def count(self) -> int:
        """Segments so far, ST included (SE adds one)."""
        return len(self._segments)

    def finish(self) -> list[str]:
        self._segments.append(
            self._d.element.join(["SE", str(len(self._segments) + 1), self.control_number])
        )
        return self._segments


class InterchangeWriter:
    """One interchange with one functional group (what every 270/837 batch here needs)."""

    def __init__(self, envelope: Envelope, *, functional_id: str, version: str) -> None:
        envelope.check()
        self.envelope = envelope
        self.functional_id = functional_id
        self.version = version
        self._d = envelope.delimiters
        self._parts: list[str] = []
        self._sets = 0
        self._control_numbers: set[str] = set()

    def reserve(self, control_number: str) -> None:
        """Check an ST02 and mark it used in this group."""
        if not (4 <= len(control_number) <= 9 and control_number.isdigit()):
            raise X12Error("x12.bad_control_number", "ST02 must be 4 to 9 digits", segment_id="ST")
        if control_number in self._control_numbers:
            raise X12Error(
                "x12.duplicate_control_number",
                f"ST02 {control_number} is already used in this group",
                segment_id="ST",
            )
        self._control_numbers.add(control_number)

    def transaction(self, set_id: str, control_number: str) -> TransactionWriter:
        self.reserve(control_number)
        return TransactionWriter(set_id, control_number, self.version, self._d)

    def append(self, tx: TransactionWriter) -> None:
        self._parts.extend(tx.finish())
        self._sets += 1

    def append_text(self, text: str) -> None:
        """A whole ST..SE set written by the caller (its ST02 reserved first): clean segments
        joined with the segment terminator, without one after the SE."""
        self._parts.append(text)
        self._sets += 1

    def render(self, *, line_breaks: bool = False) -> str:
        """The whole interchange. ``line_breaks`` puts a newline after every terminator (for
        people reading it; parsers here and elsewhere accept both)."""
        e = self.envelope
        d = self._d
        when = e.created_at
        isa = d.element.join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                e.sender_qualifier.ljust(2),
                e.sender_id.upper().ljust(15),
                e.receiver_qualifier.ljust(2),
                e.receiver_id.upper().ljust(15),
                when.strftime("%y%m%d"),
                when.strftime("%H%M"),
                d.repetition or "U",
                "00501",
                f"{e.interchange_control_number:09d}",
                e.ack_requested,
                e.usage,
                d.component,
            ]
        )
        gs = d.element.join(
            [
                "GS",
                self.functional_id,
                (e.application_sender or e.sender_id).upper(),
                (e.application_receiver or e.receiver_id).upper(),
                when.strftime("%Y%m%d"),
                when.strftime("%H%M"),
                str(e.group_control_number),
                "X",
                self.version,
            ]
        )
        ge = d.element.join(["GE", str(self._sets), str(e.group_control_number)])
        iea = d.element.join(["IEA", "1", f"{e.interchange_control_number:09d}"])
        term = d.segment + ("\n" if line_breaks else "")
        # Data never holds the terminator (it is cleaned out), so inside a part it ends a segment.
        parts = [p.replace(d.segment, term) for p in self._parts] if line_breaks else self._parts
        return term.join([isa, gs, *parts, ge, iea]) + term
