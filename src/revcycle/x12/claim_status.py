"""276/277 claim status (005010X212), pure: the inquiry we send and the payer's answer.

* :func:`build_276` writes one ST per :class:`StatusInquiry`: information source (the payer,
  ``HL*20``), receiver (us, ``HL*21`` ``NM1*41``), provider (``HL*19`` ``NM1*1P`` XX NPI) and the
  subscriber as the patient (``HL*22``: ``DMG``, ``NM1*IL`` MI, then ``TRN*1`` our trace,
  ``REF*1K`` payer claim number, ``REF*EJ`` our ``CLM01``, ``AMT*T3`` the charge, ``DTP*472``).
  A dependant without a member id of their own (``HL*23``) is read but not written: revcycle
  sends a dependant with their own member id as the subscriber, as in its 270 and 837.
* :func:`parse_276` reads it back (the payer simulator answers from it).
* :func:`build_277` writes the payer's answer, mirroring the inquiry: ``TRN*2`` echoes our trace,
  ``STC`` carries the category (``A4`` not found, ``P1`` pending/in process, ``A7`` rejected,
  ``F1`` paid, ``F2`` denied, ``F3`` revised/reversed), the claim charge (``STC04``) and the
  payment (``STC05``), ``REF*1K`` the payer's claim number, ``REF*EJ`` our ``CLM01``.
* :func:`parse_277` reads any 277 claim status answer into :class:`StatusResult` per claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from revcycle.x12.core import Segment, Source, X12Error, X12Reader, _transactions, parse_period
from revcycle.x12.payer_files import money
from revcycle.x12.remittance import cents
from revcycle.x12.writer import Composite, Envelope, InterchangeWriter, TransactionWriter

VERSION = "005010X212"


@dataclass(frozen=True, slots=True)
class StatusInquiry:
    trace_number: str  # TRN*1 (echoed in the 277's TRN*2)
    payer_name: str
    payer_id: str
    receiver_name: str  # us (NM1*41)
    receiver_id: str
    provider_name: str
    provider_npi: str
    subscriber_last_name: str
    subscriber_first_name: str
    member_id: str
    service_date: dt.date
    service_date_to: dt.date | None = None
    patient_control_number: str | None = None  # REF*EJ: our CLM01
    payer_claim_number: str | None = None  # REF*1K
    charge_minor: int | None = None  # AMT*T3
    birth_date: dt.date | None = None
    gender: str | None = None


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """The payer's answer to one inquiry."""

    inquiry: StatusInquiry
    category: str  # STC01-1
    code: str  # STC01-2
    effective: dt.date  # STC02
    entity: str | None = None  # STC01-3
    charge_minor: int | None = None  # STC04 (default: the inquiry's AMT*T3, else 0)
    paid_minor: int | None = None  # STC05 (0 when nothing was paid)
    payer_claim_number: str | None = None  # REF*1K
    adjudicated_on: dt.date | None = None  # STC06
    check_number: str | None = None  # STC09


@dataclass(slots=True)
class StatusResult:
    """One claim of a 277: what the payer says about it."""

    position: int
    trace_number: str  # TRN*2 = our 276 TRN*1
    member_id: str = ""
    payer_claim_number: str | None = None
    patient_control_number: str | None = None
    service_date: dt.date | None = None
    service_date_to: dt.date | None = None
    statuses: list[tuple[str, str, str]] = field(default_factory=list)  # (category, code, entity)
    charge_minor: int | None = None
    paid_minor: int | None = None
    effective: dt.date | None = None

    @property
    def category(self) -> str:
        return self.statuses[0][0] if self.statuses else ""


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _date_period(start: dt.date, end: dt.date | None) -> tuple[str, str]:
    if end is not None and end != start:
        return "RD8", f"{_d8(start)}-{_d8(end)}"
    return "D8", _d8(start)


def _tree(tx: TransactionWriter, q: StatusInquiry) -> None:
    tx.add("HL", "1", None, "20", "1")
    tx.add("NM1", "PR", "2", q.payer_name, None, None, None, None, "PI", q.payer_id)
    tx.add("HL", "2", "1", "21", "1")
    tx.add("NM1", "41", "2", q.receiver_name, None, None, None, None, "46", q.receiver_id)
    tx.add("HL", "3", "2", "19", "1")
    tx.add("NM1", "1P", "2", q.provider_name, None, None, None, None, "XX", q.provider_npi)
    tx.add("HL", "4", "3", "22", "0")


def build_276(
    inquiries: Sequence[StatusInquiry], envelope: Envelope, *, first_set_number: int = 1
) -> str:
    if not inquiries:
        raise X12Error("x12.bad_inquiry", "a 276 needs at least one inquiry")
    writer = InterchangeWriter(envelope, functional_id="HR", version=VERSION)
    when = envelope.created_at
    for n, q in enumerate(inquiries, first_set_number):
        if not q.trace_number or not q.member_id:
            raise X12Error("x12.bad_inquiry", f"inquiry {n}: trace number and member id required")
        tx = writer.transaction("276", f"{n:04d}")
        tx.add("BHT", "0010", "13", q.trace_number, _d8(when.date()), when.strftime("%H%M"))
        _tree(tx, q)
        if q.birth_date:
            tx.add("DMG", "D8", _d8(q.birth_date), q.gender)
        tx.add(
            "NM1",
            "IL",
            "1",
            q.subscriber_last_name,
            q.subscriber_first_name,
            None,
            None,
            None,
            "MI",
            q.member_id,
        )
        tx.add("TRN", "1", q.trace_number)
        if q.payer_claim_number:
            tx.add("REF", "1K", q.payer_claim_number)
        if q.patient_control_number:
            tx.add("REF", "EJ", q.patient_control_number)
        if q.charge_minor is not None:
            tx.add("AMT", "T3", money(q.charge_minor))
        qual, value = _date_period(q.service_date, q.service_date_to)
        tx.add("DTP", "472", qual, value)
        writer.append(tx)
    return writer.render()


def build_277(
    answers: Sequence[StatusAnswer], envelope: Envelope, *, first_set_number: int = 1
) -> str:
    writer = InterchangeWriter(envelope, functional_id="HN", version=VERSION)
    when = envelope.created_at
    for n, a in enumerate(answers, first_set_number):
        q = a.inquiry
        tx = writer.transaction("277", f"{n:04d}")
        tx.add("BHT", "0010", "08", q.trace_number, _d8(when.date()), when.strftime("%H%M"), "DG")
        _tree(tx, q)
        tx.add(
            "NM1",
            "IL",
            "1",
            q.subscriber_last_name,
            q.subscriber_first_name,
            None,
            None,
            None,
            "MI",
            q.member_id,
        )
        tx.add("TRN", "2", q.trace_number)
        tx.add(
            "STC",
            Composite(a.category, a.code, a.entity or ""),
            _d8(a.effective),
            None,
            money(a.charge_minor if a.charge_minor is not None else q.charge_minor or 0),
            money(a.paid_minor or 0),
            _d8(a.adjudicated_on) if a.adjudicated_on else None,
            None,
            None,
            a.check_number,
        )
        if a.payer_claim_number:
            tx.add("REF", "1K", a.payer_claim_number)
        if q.patient_control_number:
            tx.add("REF", "EJ", q.patient_control_number)
        qual, value = _date_period(q.service_date, q.service_date_to)
        tx.add("DTP", "472", qual, value)
        writer.append(tx)
    return writer.render()


# -- reading ---------------------------------------------------------------------------------
def _err(seg: Segment, code: str, message: str) -> X12Error:
    return X12Error(code, message, segment_id=seg.id, position=seg.position)


def parse_276(src: Source) -> list[StatusInquiry]:  # noqa: C901, PLR0912 - one loop dispatch
    """The inquiries of a 276 (envelope errors raised): one per subscriber or dependant loop."""
    reader = X12Reader(src)
    out: list[StatusInquiry] = []
    for tx in _transactions(reader):
        st = tx.segments[0]
        if tx.set_id != "276":
            raise _err(st, "x12.unexpected_set", f"transaction set {tx.set_id[:5]!r} is not a 276")
        for exc in tx.errors:
            raise exc
        names: dict[str, tuple[str, str]] = {}
        current: dict[str, object] | None = None
        person: dict[str, object] = {}

        def close(names: dict[str, tuple[str, str]] = names, st: Segment = st) -> None:
            nonlocal current
            if current is not None:
                out.append(_inquiry(current, names, st))
            current = None

        for seg in tx.segments[1:-1]:
            sid = seg.id
            if sid == "HL":
                close()
                if seg[3] == "22":
                    person = {}
            elif sid == "NM1":
                if seg[1] in ("PR", "41", "1P"):
                    names[seg[1]] = (seg[3], seg[9])
                elif seg[1] == "IL":
                    person.update(last=seg[3], first=seg[4], member_id=seg[9])
            elif sid == "DMG" and seg[2]:
                person["birth_date"], _ = parse_period(seg[1], seg[2], seg)
                person["gender"] = seg[3] or None
            elif sid == "TRN":
                close()
                if not seg[2]:
                    raise _err(seg, "x12.missing_element", "TRN02 (trace number) is required")
                current = {**person, "trace": seg[2]}
            elif current is not None and sid == "REF":
                if seg[1] == "1K":
                    current["icn"] = seg[2]
                elif seg[1] == "EJ":
                    current["pcn"] = seg[2]
            elif current is not None and sid == "AMT" and seg[1] == "T3":
                current["charge"] = cents(seg[2], seg, 2)
            elif current is not None and sid == "DTP" and seg[1] == "472" and "day" not in current:
                current["day"], current["day_to"] = parse_period(seg[2], seg[3], seg)
        close()
    for exc in reader.errors:
        raise exc
    return out


def _inquiry(
    data: dict[str, object], names: dict[str, tuple[str, str]], st: Segment
) -> StatusInquiry:
    day = data.get("day")
    if not isinstance(day, dt.date):
        raise _err(st, "x12.missing_segment", "a claim status inquiry needs DTP*472")
    member = str(data.get("member_id") or "")
    if not member:
        raise _err(st, "x12.missing_segment", "a claim status inquiry needs NM1*IL with MI")
    payer = names.get("PR", ("", ""))
    receiver = names.get("41", ("", ""))
    provider = names.get("1P", ("", ""))
    to = data.get("day_to")
    charge = data.get("charge")
    birth = data.get("birth_date")
    return StatusInquiry(
        trace_number=str(data["trace"]),
        payer_name=payer[0],
        payer_id=payer[1],
        receiver_name=receiver[0],
        receiver_id=receiver[1],
        provider_name=provider[0],
        provider_npi=provider[1],
        subscriber_last_name=str(data.get("last") or ""),
        subscriber_first_name=str(data.get("first") or ""),
        member_id=member,
        service_date=day,
        service_date_to=to if isinstance(to, dt.date) else None,
        patient_control_number=str(data["pcn"]) if data.get("pcn") else None,
        payer_claim_number=str(data["icn"]) if data.get("icn") else None,
        charge_minor=charge if isinstance(charge, int) else None,
        birth_date=birth if isinstance(birth, dt.date) else None,
        gender=str(data["gender"]) if data.get("gender") else None,
    )


def parse_277(src: Source) -> list[StatusResult]:  # noqa: C901 - one loop dispatch
    """Every claim answered in a 277 (envelope errors raised)."""
    reader = X12Reader(src)
    out: list[StatusResult] = []
    for tx in _transactions(reader):
        st = tx.segments[0]
        if tx.set_id != "277":
            raise _err(st, "x12.unexpected_set", f"transaction set {tx.set_id[:5]!r} is not a 277")
        for exc in tx.errors:
            raise exc
        member = ""
        current: StatusResult | None = None
        in_line = False
        for seg in tx.segments[1:-1]:
            sid = seg.id
            if sid == "HL":
                current = None
                in_line = False
            elif sid == "NM1" and seg[1] in ("IL", "QC"):
                member = seg[9] or member
            elif sid == "TRN" and seg[1] == "2":
                current = StatusResult(seg.position, seg[2], member)
                out.append(current)
                in_line = False
            elif current is None:
                continue
            elif sid == "SVC":
                in_line = True
            elif sid == "STC" and not in_line:
                parts = seg.components(1)
                if not parts or not parts[0]:
                    raise _err(seg, "x12.missing_element", "STC01 (claim status) is required")
                parts += ["", ""]
                current.statuses.append((parts[0], parts[1], parts[2]))
                if len(current.statuses) == 1:
                    current.effective, _ = parse_period("D8", seg[2], seg) if seg[2] else (None, 0)
                    current.charge_minor = cents(seg[4], seg, 4) if seg[4] else None
                    current.paid_minor = cents(seg[5], seg, 5) if seg[5] else None
            elif sid == "REF" and not in_line:
                if seg[1] == "1K":
                    current.payer_claim_number = seg[2]
                elif seg[1] == "EJ":
                    current.patient_control_number = seg[2]
            elif sid == "DTP" and seg[1] == "472" and not in_line:
                current.service_date, current.service_date_to = parse_period(seg[2], seg[3], seg)
    for exc in reader.errors:
        raise exc
    return out
