"""Acknowledgements of submitted claims, pure: 999 (005010X231A1) and 277CA (005010X214).

* A **999** answers a functional group: per transaction set (``AK2``) whether it was accepted
  (``IK5``), and where syntax errors are (``IK3`` segment errors with the segment's position in
  the set counting ST as 1, ``CTX`` business context such as ``CLM01:<our claim id>``, ``IK4``
  element errors with the bad value). ``A`` and ``E`` are accepted; ``R``, ``M``, ``W``, ``X``
  rejected; ``P`` (AK9 only) partially accepted: look at each set.
* A **277CA** answers claims: per claim (``HL*PT`` loop) the patient control number we sent
  (``TRN*2``), the payer's claim number (``REF*1K``), and ``STC`` statuses whose **category**
  decides the outcome (``A1``/``A2`` accepted, ``A3``/``A6``/``A7``/``A8`` rejected...): the action
  code and the counts are not trusted when they contradict it (shared/research/
  x12-field-notes.md section 7.2).

Dispatch in the 277CA is on HL03, never on the HL number; HL04 is not relied upon.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from revcycle.x12.core import (
    CHUNK_SIZE,
    Segment,
    Source,
    Transaction,
    X12Error,
    X12Reader,
    _transactions,
    parse_date,
)
from revcycle.x12.remittance import cents

ACCEPTED_999 = frozenset({"A", "E"})

ACK_CODES: dict[str, str] = {
    "A": "Accepted",
    "E": "Accepted But Errors Were Noted",
    "M": "Rejected, Message Authentication Code (MAC) Failed",
    "P": "Partially Accepted, At Least One Transaction Set Was Rejected",
    "R": "Rejected",
    "W": "Rejected, Assurance Failed Validity Tests",
    "X": "Rejected, Content After Decryption Could Not Be Analyzed",
}

SEGMENT_ERRORS: dict[str, str] = {
    "1": "Unrecognized segment ID",
    "2": "Unexpected segment",
    "3": "Required segment missing",
    "4": "Loop occurs over maximum times",
    "5": "Segment exceeds maximum use",
    "6": "Segment not in defined transaction set",
    "7": "Segment not in proper sequence",
    "8": "Segment has data element errors",
    "I4": "Implementation 'Not Used' segment present",
    "I6": "Implementation dependent segment missing",
    "I7": "Implementation loop occurs under minimum times",
    "I8": "Implementation segment below minimum use",
    "I9": "Implementation dependent 'Not Used' segment present",
}

ELEMENT_ERRORS: dict[str, str] = {
    "1": "Required data element missing",
    "2": "Conditional required data element missing",
    "3": "Too many data elements",
    "4": "Data element too short",
    "5": "Data element too long",
    "6": "Invalid character in data element",
    "7": "Invalid code value",
    "8": "Invalid date",
    "9": "Invalid time",
    "10": "Exclusion condition violated",
    "12": "Too many repetitions",
    "13": "Too many components",
    "I6": "Code value not used in implementation",
    "I9": "Implementation dependent data element missing",
    "I10": "Implementation 'Not Used' data element present",
    "I11": "Implementation too few repetitions",
    "I12": "Implementation pattern match failure",
    "I13": "Implementation dependent 'Not Used' data element present",
}

SET_ERRORS: dict[str, str] = {
    "1": "Transaction set not supported",
    "2": "Transaction set trailer missing",
    "3": "Transaction set control number in header and trailer do not match",
    "4": "Number of included segments does not match actual count",
    "5": "One or more segments in error",
    "6": "Missing or invalid transaction set identifier",
    "7": "Missing or invalid transaction set control number",
    "23": "Transaction set control number not unique within the functional group",
    "I5": "Implementation one or more segments in error",
    "I6": "Implementation convention not supported",
}

# STC01-1 claim status category codes (the outcome of a 277CA is decided by these).
CATEGORIES: dict[str, str] = {
    "A0": "Acknowledgement/Forwarded",
    "A1": "Acknowledgement/Receipt",
    "A2": "Acknowledgement/Acceptance into adjudication system",
    "A3": "Acknowledgement/Returned as unprocessable claim",
    "A4": "Acknowledgement/Not Found",
    "A5": "Acknowledgement/Split Claim",
    "A6": "Acknowledgement/Rejected for Missing Information",
    "A7": "Acknowledgement/Rejected for Invalid Information",
    "A8": "Acknowledgement/Rejected for relational field in error",
    "E0": "Response not possible - error on submitted request data",
    "E1": "Response not possible - System Status",
    "F0": "Finalized",
    "F1": "Finalized/Payment",
    "F2": "Finalized/Denial",
    "F3": "Finalized/Revised",
    "F4": "Finalized/Adjudication Complete - No payment forthcoming",
    "P0": "Pending: Adjudication/Details",
    "P1": "Pending/In Process",
    "P2": "Pending/Payer Review",
    "P3": "Pending/Provider Requested Information",
    "P4": "Pending/Patient Requested Information",
    "R0": "Requests for additional Information/General Requests",
}
ACCEPTED_CATEGORIES = frozenset({"A1", "A2", "A5"})
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8", "E0"})
FORWARDED_CATEGORIES = frozenset({"A0"})

ENTITIES: dict[str, str] = {
    "03": "Dependent",
    "40": "Receiver",
    "41": "Submitter",
    "77": "Service Location",
    "82": "Rendering Provider",
    "85": "Billing Provider",
    "DN": "Referring Provider",
    "IL": "Insured or Subscriber",
    "PR": "Payer",
    "QC": "Patient",
}


def describe(table: dict[str, str], code: str) -> str:
    return table.get(code, "unknown")


# -- 999 -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ElementError:
    position: str  # IK401: element position[:component[:repetition]] in the segment
    element_reference: str  # IK402: data element reference number
    code: str  # IK403
    bad_value: str  # IK404

    @property
    def description(self) -> str:
        return describe(ELEMENT_ERRORS, self.code)


@dataclass(slots=True)
class SegmentError:
    segment_id: str  # IK301
    position: int  # IK302: position in the set, ST = 1
    loop_id: str  # IK303
    code: str  # IK304
    context: list[str] = field(default_factory=list)  # CTX01, e.g. "CLM01:INV-1001"
    elements: list[ElementError] = field(default_factory=list)

    @property
    def description(self) -> str:
        return describe(SEGMENT_ERRORS, self.code)

    @property
    def claim_id(self) -> str | None:
        """The CLM01 the error is about, when the sender gave it as business context."""
        for ctx in self.context:
            name, _, value = ctx.partition(":")
            if name == "CLM01" and value:
                return value
        return None


@dataclass(slots=True)
class SetAck:
    set_id: str  # AK201 (837)
    control_number: str  # AK202: our ST02
    implementation: str  # AK203: our ST03
    status: str = ""  # IK501
    codes: list[str] = field(default_factory=list)  # IK502..IK506
    segment_errors: list[SegmentError] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED_999


@dataclass(slots=True)
class GroupAck:
    functional_id: str  # AK101 (HC for an 837)
    group_control_number: str  # AK102: our GS06
    version: str  # AK103: our GS08
    status: str = ""  # AK901
    included: int = 0
    received: int = 0
    accepted_count: int = 0
    codes: list[str] = field(default_factory=list)
    sets: list[SetAck] = field(default_factory=list)


@dataclass(slots=True)
class Ack999:
    interchange_control_number: str
    control_number: str  # the 999's own ST02
    position: int
    groups: list[GroupAck] = field(default_factory=list)


def iter_999(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Ack999]:
    for tx in _transactions(X12Reader(src, chunk_size=chunk_size)):
        yield parse_999_set(tx)


def _int(seg: Segment, index: int) -> int:
    value = seg[index]
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()):
        raise _err(seg, "x12.bad_number", f"{seg.id}{index:02d} {value!r} is not a count")
    return int(value)


def _err(seg: Segment, code: str, message: str) -> X12Error:
    return X12Error(code, message, segment_id=seg.id, position=seg.position)


def _expect_set(tx: Transaction, set_id: str) -> None:
    if tx.set_id != set_id:
        st = tx.segments[0]
        raise _err(st, "x12.unexpected_set", f"transaction set {tx.set_id!r} is not a {set_id}")
    for exc in tx.errors:
        raise exc


def parse_999_set(tx: Transaction) -> Ack999:
    _expect_set(tx, "999")
    ack = Ack999(tx.interchange.control_number, tx.control_number, tx.segments[0].position)
    group: GroupAck | None = None
    current: SetAck | None = None
    segment: SegmentError | None = None
    for seg in tx.segments[1:-1]:
        sid = seg.id
        if sid == "AK1":
            group = GroupAck(seg[1], seg[2], seg[3])
            ack.groups.append(group)
            current = segment = None
        elif sid == "AK2":
            if group is None:
                raise _err(seg, "x12.misplaced_segment", "AK2 before AK1")
            current = SetAck(seg[1], seg[2], seg[3])
            group.sets.append(current)
            segment = None
        elif sid == "IK3":
            if current is None:
                raise _err(seg, "x12.misplaced_segment", "IK3 outside an AK2 loop")
            segment = SegmentError(seg[1], _int(seg, 2), seg[3], seg[4])
            current.segment_errors.append(segment)
        elif sid == "CTX" and segment is not None:
            segment.context.append(seg[1])
        elif sid == "IK4":
            if segment is None:
                raise _err(seg, "x12.misplaced_segment", "IK4 outside an IK3 loop")
            segment.elements.append(ElementError(seg[1], seg[2], seg[3], seg[4]))
        elif sid == "IK5":
            if current is None:
                raise _err(seg, "x12.misplaced_segment", "IK5 outside an AK2 loop")
            current.status = seg[1]
            current.codes = [seg[i] for i in range(2, 7) if seg[i]]
            segment = None
        elif sid == "AK9":
            if group is None:
                raise _err(seg, "x12.misplaced_segment", "AK9 before AK1")
            group.status = seg[1]
            group.included, group.received, group.accepted_count = (
                _int(seg, 2),
                _int(seg, 3),
                _int(seg, 4),
            )
            group.codes = [seg[i] for i in range(5, 10) if seg[i]]
            current = segment = None
    for g in ack.groups:
        if not g.status:
            raise _err(
                tx.segments[-1],
                "x12.missing_segment",
                f"AK9 missing for group {g.group_control_number}",
            )
        for s in g.sets:
            if not s.status:
                raise _err(
                    tx.segments[-1],
                    "x12.missing_segment",
                    f"IK5 missing for set {s.control_number}",
                )
    return ack


# -- 277CA ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Status:
    category: str  # STC01-1
    code: str  # STC01-2: claim status code
    entity: str  # STC01-3
    effective: dt.date | None  # STC02
    action: str  # STC03: WQ accept / U reject (not trusted against the category)
    amount_minor: int | None  # STC04
    message: str  # STC12 free text

    @property
    def category_description(self) -> str:
        return describe(CATEGORIES, self.category)

    @property
    def entity_description(self) -> str:
        return describe(ENTITIES, self.entity) if self.entity else ""


def _outcome(statuses: list[Status]) -> str:
    """accepted | rejected | forwarded | pending | unknown, from the categories (a rejection in any
    status wins: no partial acceptance)."""
    cats = {s.category for s in statuses}
    if cats & REJECTED_CATEGORIES:
        return "rejected"
    if cats & ACCEPTED_CATEGORIES:
        return "accepted"
    if cats & FORWARDED_CATEGORIES:
        return "forwarded"
    if any(c.startswith(("P", "F", "R")) for c in cats):
        return "pending"
    return "unknown"


@dataclass(slots=True)
class LineAck:
    position: int
    procedure: str  # SVC01-2
    modifiers: list[str]
    charge_minor: int
    line_control_number: str | None = None  # REF*FJ = our REF*6R
    service_date: dt.date | None = None
    statuses: list[Status] = field(default_factory=list)


@dataclass(slots=True)
class ClaimAck:
    position: int
    patient_control_number: str = ""  # TRN02 at the patient level = our CLM01
    payer_claim_number: str | None = None  # REF*1K: store it (835 CLP07, REF*F8 on a 7 or 8)
    clearinghouse_trace: str | None = None  # REF*D9
    billing_provider_npi: str | None = None
    service_date: dt.date | None = None
    service_date_to: dt.date | None = None
    statuses: list[Status] = field(default_factory=list)
    lines: list[LineAck] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return _outcome(self.statuses)

    @property
    def charge_minor(self) -> int | None:
        return next((s.amount_minor for s in self.statuses if s.amount_minor is not None), None)


@dataclass(slots=True)
class Ack277:
    interchange_control_number: str
    control_number: str
    position: int
    reference: str  # BHT03 of the 277CA
    source_name: str = ""
    received_date: dt.date | None = None  # DTP*050
    processed_date: dt.date | None = None  # DTP*009
    batch_trace: str | None = None  # TRN*2 at the receiver level = our 837 BHT03
    batch_statuses: list[Status] = field(default_factory=list)
    claims: list[ClaimAck] = field(default_factory=list)


def iter_277ca(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Ack277]:
    for tx in _transactions(X12Reader(src, chunk_size=chunk_size)):
        yield parse_277ca_set(tx)


def _date(seg: Segment, index: int) -> tuple[dt.date | None, dt.date | None]:
    qual, value = seg[index - 1], seg[index]
    if not value:
        return None, None
    if qual == "RD8" or "-" in value:
        start, _, end = value.partition("-")
        return parse_date(start, seg), parse_date(end, seg) if end else None
    return parse_date(value, seg), None


def _status(seg: Segment) -> Status:
    parts = seg.components(1)
    if not parts or not parts[0]:
        raise _err(seg, "x12.missing_element", "STC01 (claim status) is required")
    when = parse_date(seg[2], seg) if seg[2] else None
    amount = cents(seg[4], seg, 4, required=False) if seg[4] else None
    return Status(
        category=parts[0],
        code=parts[1] if len(parts) > 1 else "",
        entity=parts[2] if len(parts) > 2 else "",
        effective=when,
        action=seg[3],
        amount_minor=amount,
        message=seg[12],
    )


def parse_277ca_set(tx: Transaction) -> Ack277:  # noqa: C901, PLR0912 - one loop dispatch
    _expect_set(tx, "277")
    body = tx.segments[1:-1]
    if not body or body[0].id != "BHT":
        at = body[0] if body else tx.segments[0]
        raise _err(at, "x12.missing_segment", "a 277CA starts with BHT after ST")
    ack = Ack277(
        tx.interchange.control_number, tx.control_number, tx.segments[0].position, body[0][3]
    )
    level = ""
    provider_npi: str | None = None
    claim: ClaimAck | None = None
    line: LineAck | None = None
    for seg in body[1:]:
        sid = seg.id
        if sid == "HL":
            level = seg[3]
            line = None
            if level == "PT":
                claim = ClaimAck(seg.position, billing_provider_npi=provider_npi)
                ack.claims.append(claim)
            elif level not in ("20", "21", "19"):
                raise _err(seg, "x12.bad_code", f"HL03 {level!r} is not a 277CA level")
            else:
                claim = None
            continue
        if sid == "SVC":
            if claim is None:
                raise _err(seg, "x12.misplaced_segment", "SVC outside a claim (HL*PT) loop")
            proc = seg.components(1)
            line = LineAck(
                seg.position,
                proc[1] if len(proc) > 1 else "",
                [m for m in proc[2:6] if m],
                cents(seg[2], seg, 2, required=False),
            )
            claim.lines.append(line)
        elif sid == "STC":
            status = _status(seg)
            if line is not None:
                line.statuses.append(status)
            elif claim is not None:
                claim.statuses.append(status)
            elif level in ("21", "19"):
                ack.batch_statuses.append(status)
        elif sid == "TRN":
            if claim is not None and level == "PT" and seg[1] == "2":
                claim.patient_control_number = seg[2]
            elif level == "21" and seg[1] == "2":
                ack.batch_trace = seg[2]
        elif sid == "NM1":
            if level == "20":
                ack.source_name = seg[3]
            elif level == "19" and seg[8] == "XX":
                provider_npi = seg[9]
        elif sid == "REF":
            if line is not None and seg[1] == "FJ":
                line.line_control_number = seg[2]
            elif claim is not None and seg[1] == "1K":
                claim.payer_claim_number = seg[2]
            elif claim is not None and seg[1] == "D9":
                claim.clearinghouse_trace = seg[2]
        elif sid == "DTP":
            start, end = _date(seg, 3)
            if line is not None and seg[1] == "472":
                line.service_date = start
            elif claim is not None and seg[1] == "472":
                claim.service_date, claim.service_date_to = start, end
            elif level == "20" and seg[1] == "050":
                ack.received_date = start
            elif level == "20" and seg[1] == "009":
                ack.processed_date = start
    for c in ack.claims:
        if not c.patient_control_number:
            raise _err(
                tx.segments[0],
                "x12.missing_segment",
                f"the claim at position {c.position} has no TRN*2 (patient control number)",
            )
    return ack
