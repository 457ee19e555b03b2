"""Eligibility: build 270 inquiries and parse 271 responses (005010X279A1), pure functions.

``build_270(inquiries, envelope)`` writes one interchange (one GS ``HS``) with one ST per
inquiry; ``parse_270`` reads it back (the payer simulator uses it); ``parse_271`` /
``iter_271`` turn a 271 into typed responses: per subscriber and dependent the trace numbers,
name, member ID, coverage dates, plan/group references and every EB as a :class:`Benefit` row,
with the MSG, DTP, REF, III, HSD, AAA and 2120 (LS/LE) data that follow it.

Mapping tables and the design are in docs/x12.md; the structure follows
shared/research/x12-field-notes.md section 6. Dispatch is on HL03 (20 source, 21 receiver,
22 subscriber, 23 dependent), never on the HL number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from revcycle.kit import codes as idcodes
from revcycle.money import Money, MoneyError
from revcycle.x12 import codes
from revcycle.x12.core import (
    CHUNK_SIZE,
    InterchangeHeader,
    Segment,
    Source,
    Transaction,
    X12Error,
    X12Reader,
    _transactions,
    parse_period,
)
from revcycle.x12.writer import Envelope, InterchangeWriter, TransactionWriter

VERSION = "005010X279A1"
CURRENCY = "USD"


# -- inputs --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Payer:
    name: str
    payer_id: str
    id_qualifier: str = "PI"  # PI payer ID, XV CMS plan ID


@dataclass(frozen=True, slots=True)
class Provider:
    """The information receiver (2100B): a person (``first_name`` set) or an organisation."""

    name: str  # last name or organisation name
    npi: str
    first_name: str | None = None
    id_qualifier: str = "XX"  # XX = NPI; other qualifiers are accepted when parsing


@dataclass(frozen=True, slots=True)
class Person:
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    member_id: str | None = None
    birth_date: dt.date | None = None
    gender: str | None = None  # M F U


@dataclass(frozen=True, slots=True)
class EligibilityInquiry:
    """One patient's eligibility question. ``dependent`` is set when the patient is not the
    subscriber and has no member ID of their own (otherwise send them as the subscriber)."""

    trace_number: str  # TRN02, unique per inquiry; comes back in the 271 TRN*2
    trace_originator_id: str  # TRN03: 10 characters, "1" + EIN or "9" + an assigned number
    payer: Payer
    provider: Provider
    subscriber: Person
    dependent: Person | None = None
    service_date: dt.date | None = None  # DTP*291
    service_date_end: dt.date | None = None  # RD8 range when set
    service_types: tuple[str, ...] = ("30",)
    reference: str | None = None  # BHT03; defaults to the trace number

    @property
    def patient(self) -> Person:
        return self.dependent or self.subscriber


# -- outputs -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CodeValue:
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class DateInfo:
    qualifier: str
    description: str
    start: dt.date
    end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    qualifier: str
    value: str
    description: str


@dataclass(frozen=True, slots=True)
class Trace:
    type_code: str  # 1 current transaction trace number, 2 referenced (an echo of ours)
    number: str
    originator_id: str
    secondary: str = ""


@dataclass(frozen=True, slots=True)
class RequestValidation:
    """An AAA segment: the payer could not (fully) answer at this level."""

    valid_request: bool  # AAA01
    reason_code: str  # AAA03
    reason: str
    follow_up_code: str  # AAA04
    follow_up: str
    loop: str  # where it was: source, receiver, subscriber, dependent, benefit
    position: int


@dataclass(slots=True)
class Address:
    lines: list[str] = field(default_factory=list)
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(slots=True)
class Entity:
    entity_code: str  # NM101
    entity: str  # its description
    entity_type: str  # NM102: 1 person, 2 organisation
    last_name: str  # or organisation name
    first_name: str = ""
    middle_name: str = ""
    id_qualifier: str = ""
    identifier: str = ""
    address: Address | None = None
    contacts: list[tuple[str, str]] = field(default_factory=list)  # PER (qualifier, value)


@dataclass(frozen=True, slots=True)
class Procedure:
    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdditionalInfo:
    """III: e.g. ZZ + place of service code, or free-form text."""

    qualifier: str
    code: str
    category: str = ""
    text: str = ""


@dataclass(slots=True)
class Benefit:
    eligibility_code: str  # EB01
    eligibility: str
    coverage_level_code: str | None  # EB02
    coverage_level: str | None
    service_types: tuple[CodeValue, ...]  # EB03, repeated
    insurance_type_code: str | None  # EB04
    insurance_type: str | None
    plan_description: str | None  # EB05
    time_period_code: str | None  # EB06
    time_period: str | None
    amount: Decimal | None  # EB07 in dollars, exact
    amount_minor: int | None  # EB07 in cents
    percent: Decimal | None  # EB08 as sent: a fraction, .2 = 20 %
    quantity_qualifier: str | None  # EB09
    quantity: Decimal | None  # EB10
    authorization_required: str | None  # EB11 Y N U
    in_network: str | None  # EB12 Y N W U
    procedure: Procedure | None  # EB13
    diagnosis_pointers: tuple[str, ...]  # EB14
    position: int
    messages: list[str] = field(default_factory=list)
    dates: list[DateInfo] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    additional_info: list[AdditionalInfo] = field(default_factory=list)
    deliveries: list[tuple[str, ...]] = field(default_factory=list)  # HSD elements as sent
    related_entities: list[Entity] = field(default_factory=list)  # 2120 (LS/LE)
    errors: list[RequestValidation] = field(default_factory=list)

    @property
    def service_type_codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.service_types)


@dataclass(slots=True)
class Member:
    """A subscriber (HL03 22) or dependent (HL03 23) with their benefits."""

    level: str  # "subscriber" | "dependent"
    hl_id: str
    position: int
    trace_numbers: list[Trace] = field(default_factory=list)
    entity: Entity | None = None
    member_id: str | None = None
    birth_date: dt.date | None = None
    gender: str | None = None
    relationship_code: str | None = None  # INS02
    maintenance_type: str | None = None  # INS03 (001 = the payer changed identifying data)
    references: list[Reference] = field(default_factory=list)
    dates: list[DateInfo] = field(default_factory=list)
    benefits: list[Benefit] = field(default_factory=list)
    errors: list[RequestValidation] = field(default_factory=list)
    dependents: list[Member] = field(default_factory=list)

    def reference(self, *qualifiers: str) -> str | None:
        for q in qualifiers:
            for r in self.references:
                if r.qualifier == q:
                    return r.value
        return None

    @property
    def group_number(self) -> str | None:
        return self.reference("6P", "1L", "IG")

    @property
    def plan_number(self) -> str | None:
        return self.reference("18")

    def date(self, qualifier: str) -> DateInfo | None:
        return next((d for d in self.dates if d.qualifier == qualifier), None)

    @property
    def trace_references(self) -> list[str]:
        """Our own trace numbers echoed back (TRN01 = 2)."""
        return [t.number for t in self.trace_numbers if t.type_code == "2"]

    @property
    def coverage_active(self) -> bool | None:
        """True/False from the first EB01 coverage code; None when there is none."""
        for b in self.benefits:
            if b.eligibility_code in codes.ACTIVE_CODES:
                return True
            if b.eligibility_code in codes.INACTIVE_CODES:
                return False
        return None


@dataclass(slots=True)
class Party:
    """Information source (payer) or receiver (provider) with its AAA errors."""

    level: str  # "source" | "receiver"
    hl_id: str
    entity: Entity | None = None
    errors: list[RequestValidation] = field(default_factory=list)


@dataclass(slots=True)
class EligibilityResponse:
    """One 271 transaction set."""

    control_number: str  # ST02
    reference: str  # BHT03: our BHT03 echoed
    purpose: str  # BHT02: 11 response
    created: dt.date | None
    interchange_control_number: str
    position: int
    source: Party | None = None
    receiver: Party | None = None
    subscribers: list[Member] = field(default_factory=list)
    envelope_errors: list[X12Error] = field(default_factory=list)

    @property
    def members(self) -> list[Member]:
        out: list[Member] = []
        for s in self.subscribers:
            out.append(s)
            out.extend(s.dependents)
        return out

    @property
    def patients(self) -> list[Member]:
        """The people the inquiries were about: dependents, and subscribers without any."""
        out: list[Member] = []
        for s in self.subscribers:
            out.extend(s.dependents or [s])
        return out

    @property
    def errors(self) -> list[RequestValidation]:
        """Every AAA in the set, source first."""
        out: list[RequestValidation] = []
        for p in (self.source, self.receiver):
            if p is not None:
                out.extend(p.errors)
        for m in self.members:
            out.extend(m.errors)
            for b in m.benefits:
                out.extend(b.errors)
        return out


@dataclass(slots=True)
class Result271:
    responses: list[EligibilityResponse]
    errors: list[X12Error]  # envelope errors (counts, control numbers, unexpected sets)
    interchanges: list[InterchangeHeader]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            raise self.errors[0]


# -- 270 -------------------------------------------------------------------------------------
def _check_inquiry(i: int, q: EligibilityInquiry) -> None:
    def bad(message: str) -> X12Error:
        return X12Error("x12.bad_inquiry", f"inquiry {i + 1} ({q.trace_number!r}): {message}")

    if not q.trace_number or len(q.trace_number) > 50:
        raise bad("trace_number must be 1..50 characters")
    if len(q.trace_originator_id) != 10:
        raise bad("trace_originator_id must be 10 characters ('1' + EIN)")
    if not q.payer.name or not q.payer.payer_id:
        raise bad("the payer needs a name and an ID")
    if q.provider.id_qualifier == "XX":
        try:
            idcodes.npi(q.provider.npi)
        except ValueError as exc:
            raise bad(f"provider NPI: {exc}") from None
    if not q.subscriber.member_id:
        raise bad("the subscriber needs a member ID")
    if q.dependent is None and not q.subscriber.last_name:
        raise bad("the subscriber is the patient and needs a last name")
    if q.dependent is not None and not (q.dependent.last_name and q.dependent.first_name):
        raise bad("the dependent needs a first and last name")
    if not q.service_types:
        raise bad("at least one service type code (EQ01), e.g. 30")
    for p in (q.subscriber, q.dependent):
        if p is not None and p.gender not in (None, "M", "F", "U"):
            raise bad("gender must be M, F or U")
    if q.service_date_end is not None and (
        q.service_date is None or q.service_date_end < q.service_date
    ):
        raise bad("service_date_end needs a service_date on or before it")


def build_270(
    inquiries: Sequence[EligibilityInquiry],
    envelope: Envelope,
    *,
    first_set_number: int = 1,
    line_breaks: bool = False,
) -> str:
    """One interchange, one functional group (HS), one ST per inquiry.

    ST02 counts up from ``first_set_number`` (4+ digits); ISA13 and GS06 come from
    ``envelope``. Every inquiry is checked first: a bad one raises ``X12Error`` naming it and
    nothing is produced.
    """
    if not inquiries:
        raise X12Error("x12.bad_inquiry", "no inquiries to send")
    for i, q in enumerate(inquiries):
        _check_inquiry(i, q)
    out = InterchangeWriter(envelope, functional_id="HS", version=VERSION)
    date = envelope.created_at.strftime("%Y%m%d")
    time = envelope.created_at.strftime("%H%M")
    for i, q in enumerate(inquiries):
        tx = out.transaction("270", f"{first_set_number + i:04d}")
        tx.add("BHT", "0022", "13", q.reference or q.trace_number, date, time)
        tx.add("HL", "1", "", "20", "1")
        tx.add(
            "NM1", "PR", "2", q.payer.name, "", "", "", "", q.payer.id_qualifier, q.payer.payer_id
        )
        tx.add("HL", "2", "1", "21", "1")
        pv = q.provider
        tx.add(
            "NM1",
            "1P",
            "1" if pv.first_name else "2",
            pv.name,
            pv.first_name or "",
            "",
            "",
            "",
            pv.id_qualifier,
            pv.npi,
        )
        tx.add("HL", "3", "2", "22", "1" if q.dependent else "0")
        sub = q.subscriber
        if q.dependent is None:
            tx.add("TRN", "1", q.trace_number, q.trace_originator_id)
        tx.add(
            "NM1",
            "IL",
            "1",
            sub.last_name,
            sub.first_name,
            sub.middle_name,
            "",
            "",
            "MI",
            sub.member_id,
        )
        if sub.birth_date or sub.gender:
            tx.add("DMG", "D8" if sub.birth_date else "", _d8(sub.birth_date), sub.gender)
        if q.dependent is None:
            _request_benefits(tx, q)
        else:
            dep = q.dependent
            tx.add("HL", "4", "3", "23", "0")
            tx.add("TRN", "1", q.trace_number, q.trace_originator_id)
            tx.add("NM1", "03", "1", dep.last_name, dep.first_name, dep.middle_name)
            if dep.birth_date or dep.gender:
                tx.add("DMG", "D8" if dep.birth_date else "", _d8(dep.birth_date), dep.gender)
            _request_benefits(tx, q)
        out.append(tx)
    return out.render(line_breaks=line_breaks)


def _request_benefits(tx: TransactionWriter, q: EligibilityInquiry) -> None:
    if q.service_date is not None:
        if q.service_date_end is not None:
            tx.add("DTP", "291", "RD8", f"{_d8(q.service_date)}-{_d8(q.service_date_end)}")
        else:
            tx.add("DTP", "291", "D8", _d8(q.service_date))
    for code in q.service_types:
        tx.add("EQ", code)


def _d8(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


@dataclass(slots=True)
class Request270:
    """One 270 transaction set as read back: its inquiries (one per patient)."""

    control_number: str
    reference: str
    date: str
    time: str
    interchange: InterchangeHeader
    inquiries: list[EligibilityInquiry]
    position: int


@dataclass(slots=True)
class Result270:
    requests: list[Request270]
    errors: list[X12Error]
    interchanges: list[InterchangeHeader]


def parse_270(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Result270:
    """Read a 270 back into inquiries (one per 2000C subscriber or 2000D dependent)."""
    reader = X12Reader(src, chunk_size=chunk_size)
    requests: list[Request270] = []
    headers: list[InterchangeHeader] = []
    for tx in _transactions(reader):
        if not headers or headers[-1] is not tx.interchange:
            headers.append(tx.interchange)
        if tx.set_id != "270":
            reader.errors.append(_unexpected_set(tx, "270"))
            continue
        requests.append(_parse_270_set(tx))
    return Result270(requests, list(reader.errors), headers)


def _unexpected_set(tx: Transaction, wanted: str) -> X12Error:
    st = tx.segments[0]
    return X12Error(
        "x12.unexpected_set",
        f"transaction set {tx.set_id!r} where {wanted} was expected",
        segment_id="ST",
        position=st.position,
    )


@dataclass(slots=True)
class _Patient270:
    subscriber: Person
    dependent: Person | None = None
    trace: Trace | None = None
    service_date: dt.date | None = None
    service_date_end: dt.date | None = None
    service_types: list[str] = field(default_factory=list)


def _parse_270_set(tx: Transaction) -> Request270:
    payer = Payer("", "")
    provider = Provider("", "", None, "")
    reference = date = time = ""
    patients: list[_Patient270] = []
    level = ""
    current: _Patient270 | None = None
    subscriber: Person | None = None
    for seg in tx.segments[1:-1]:
        sid = seg.elements[0]
        if sid == "BHT":
            reference, date, time = seg[3], seg[4], seg[5]
        elif sid == "HL":
            level = seg[3]
            if level == "22":
                subscriber = Person()
                current = _Patient270(subscriber)
                patients.append(current)
            elif level == "23":
                if subscriber is None:
                    raise X12Error(
                        "x12.bad_hl",
                        "a dependent (HL 23) without a subscriber (HL 22)",
                        segment_id="HL",
                        position=seg.position,
                    )
                if current is not None and current.dependent is None and not current.trace:
                    patients.remove(current)  # the subscriber is not a patient here
                current = _Patient270(subscriber, Person())
                patients.append(current)
            elif level not in ("20", "21"):
                raise _bad_hl(seg)
        elif sid == "NM1":
            if level == "20":
                payer = Payer(seg[3], seg[9], seg[8])
            elif level == "21":
                provider = Provider(seg[3], seg[9], seg[4] or None, seg[8])
            elif current is not None:
                person = Person(seg[3], seg[4], seg[5], seg[9] or None)
                if level == "22":
                    subscriber = person
                    current.subscriber = person
                else:
                    current.dependent = person
        elif current is None:
            continue
        elif sid == "TRN":
            current.trace = Trace(seg[1], seg[2], seg[3], seg[4])
        elif sid == "DMG":
            birth = parse_period("D8", seg[2], seg)[0] if seg[2] else None
            who = current.dependent if level == "23" else current.subscriber
            assert who is not None
            updated = Person(
                who.last_name, who.first_name, who.middle_name, who.member_id, birth, seg[3] or None
            )
            if level == "23":
                current.dependent = updated
            else:
                current.subscriber = subscriber = updated
        elif sid == "DTP" and seg[1] in ("291", "472", "307"):
            current.service_date, current.service_date_end = parse_period(seg[2], seg[3], seg)
        elif sid == "EQ":
            current.service_types.extend(seg.repeats(1) or [""])
    inquiries = [
        EligibilityInquiry(
            trace_number=p.trace.number if p.trace else "",
            trace_originator_id=p.trace.originator_id if p.trace else "",
            payer=payer,
            provider=provider,
            subscriber=p.subscriber,
            dependent=p.dependent,
            service_date=p.service_date,
            service_date_end=p.service_date_end,
            service_types=tuple(p.service_types) or ("30",),
            reference=reference,
        )
        for p in patients
    ]
    return Request270(
        tx.control_number,
        reference,
        date,
        time,
        tx.interchange,
        inquiries,
        tx.segments[0].position,
    )


def _bad_hl(seg: Segment) -> X12Error:
    return X12Error(
        "x12.bad_hl",
        f"HL03 {seg[3]!r} is not a 270/271 level (20, 21, 22 or 23)",
        segment_id="HL",
        position=seg.position,
    )


# -- 271 -------------------------------------------------------------------------------------
def parse_271(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Result271:
    """Parse a whole 271 file (several interchanges and sets allowed).

    Raises ``X12Error`` for what cannot be read at all (no ISA, broken delimiters, truncated
    data, a bad date or amount: the error names the segment and its position). Envelope
    problems (counts, control numbers, other transaction sets) do not stop reading: they are in
    ``Result271.errors`` and on each response's ``envelope_errors``.
    """
    reader = X12Reader(src, chunk_size=chunk_size)
    responses: list[EligibilityResponse] = []
    headers: list[InterchangeHeader] = []
    for tx in _transactions(reader):
        if not headers or headers[-1] is not tx.interchange:
            headers.append(tx.interchange)
        if tx.set_id != "271":
            reader.errors.append(_unexpected_set(tx, "271"))
            continue
        responses.append(parse_271_set(tx))
    return Result271(responses, list(reader.errors), headers)


def iter_271(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[EligibilityResponse]:
    """Stream the responses of a large 271 file one set at a time (memory: one set). Envelope
    errors found with a set are on its ``envelope_errors``."""
    reader = X12Reader(src, chunk_size=chunk_size)
    for tx in _transactions(reader):
        if tx.set_id != "271":
            raise _unexpected_set(tx, "271")
        yield parse_271_set(tx)


_LOOP_NAMES = {"20": "source", "21": "receiver", "22": "subscriber", "23": "dependent"}


def parse_271_set(tx: Transaction) -> EligibilityResponse:
    """One ST..SE 271 set."""
    st = tx.segments[0]
    resp = EligibilityResponse(
        control_number=st[2],
        reference="",
        purpose="",
        created=None,
        interchange_control_number=tx.interchange.control_number,
        position=st.position,
        envelope_errors=list(tx.errors),
    )
    members: dict[str, Member] = {}
    party: Party | None = None
    member: Member | None = None
    benefit: Benefit | None = None
    entity: Entity | None = None  # the NM1 that N3/N4/PER attach to
    in_ls = False
    for seg in tx.segments[1:]:
        els = seg.elements
        sid = els[0]
        if sid == "SE":
            break
        if sid == "EB":
            if member is None:
                raise _misplaced(seg, "EB outside a subscriber or dependent loop")
            benefit = _benefit(seg)
            member.benefits.append(benefit)
            entity = None
            in_ls = False
        elif sid == "HL":
            level = seg[3]
            benefit = None
            entity = None
            in_ls = False
            if level in ("20", "21"):
                party = Party(_LOOP_NAMES[level], seg[1])
                member = None
                if level == "20":
                    resp.source = party
                else:
                    resp.receiver = party
            elif level == "22":
                party = None
                member = Member("subscriber", seg[1], seg.position)
                members[seg[1]] = member
                resp.subscribers.append(member)
            elif level == "23":
                party = None
                parent = members.get(seg[2]) or (resp.subscribers[-1] if resp.subscribers else None)
                if parent is None:
                    raise X12Error(
                        "x12.bad_hl",
                        "a dependent (HL 23) without a subscriber (HL 22)",
                        segment_id="HL",
                        position=seg.position,
                    )
                member = Member("dependent", seg[1], seg.position)
                parent.dependents.append(member)
            else:
                raise _bad_hl(seg)
        elif benefit is not None:
            if in_ls:
                if sid == "LE":
                    in_ls = False
                    entity = None
                elif sid == "NM1":
                    entity = _entity(seg)
                    benefit.related_entities.append(entity)
                elif entity is not None:
                    _entity_detail(entity, seg)
            elif sid == "MSG":
                benefit.messages.append(seg[1])
            elif sid == "DTP":
                benefit.dates.append(_date(seg))
            elif sid == "REF":
                benefit.references.append(_reference(seg))
            elif sid == "AAA":
                benefit.errors.append(_aaa(seg, "benefit"))
            elif sid == "III":
                benefit.additional_info.append(AdditionalInfo(seg[1], seg[2], seg[3], seg[4]))
            elif sid == "HSD":
                benefit.deliveries.append(tuple(els[1:]))
            elif sid == "LS":
                in_ls = True
                entity = None
        elif member is not None:
            if sid == "NM1":
                entity = _entity(seg)
                member.entity = entity
                if seg[8] in ("MI", "") and seg[9]:
                    member.member_id = seg[9]
            elif sid == "TRN":
                member.trace_numbers.append(Trace(seg[1], seg[2], seg[3], seg[4]))
            elif sid == "REF":
                member.references.append(_reference(seg))
            elif sid == "DTP":
                member.dates.append(_date(seg))
            elif sid == "DMG":
                if seg[2]:
                    member.birth_date = parse_period(seg[1], seg[2], seg)[0]
                member.gender = seg[3] or None
            elif sid == "INS":
                member.relationship_code = seg[2] or None
                member.maintenance_type = seg[3] or None
            elif sid == "AAA":
                member.errors.append(_aaa(seg, member.level))
            elif entity is not None:
                _entity_detail(entity, seg)
        elif party is not None:
            if sid == "NM1":
                entity = _entity(seg)
                party.entity = entity
            elif sid == "AAA":
                party.errors.append(_aaa(seg, party.level))
            elif entity is not None:
                _entity_detail(entity, seg)
        elif sid == "BHT":
            resp.purpose = seg[2]
            resp.reference = seg[3]
            resp.created = parse_period("D8", seg[4], seg)[0] if seg[4] else None
    if member is None and party is None and resp.source is None:
        raise X12Error(
            "x12.empty_response",
            f"271 set {resp.control_number} has no HL loops",
            segment_id="ST",
            position=st.position,
        )
    return resp


def _misplaced(seg: Segment, message: str) -> X12Error:
    return X12Error("x12.misplaced_segment", message, segment_id=seg.id, position=seg.position)


def _entity(seg: Segment) -> Entity:
    code = seg[1]
    return Entity(
        entity_code=code,
        entity=codes.describe(codes.ENTITY_CODES, code),
        entity_type=seg[2],
        last_name=seg[3],
        first_name=seg[4],
        middle_name=seg[5],
        id_qualifier=seg[8],
        identifier=seg[9],
    )


def _entity_detail(entity: Entity, seg: Segment) -> None:
    sid = seg.elements[0]
    if sid == "N3":
        entity.address = entity.address or Address()
        entity.address.lines.extend(v for v in (seg[1], seg[2]) if v)
    elif sid == "N4":
        entity.address = entity.address or Address()
        entity.address.city = seg[1]
        entity.address.state = seg[2]
        entity.address.postal_code = seg[3]
        entity.address.country = seg[4]
    elif sid == "PER":
        for i in (3, 5, 7):
            if seg[i]:
                entity.contacts.append((seg[i], seg[i + 1]))


def _date(seg: Segment) -> DateInfo:
    start, end = parse_period(seg[2], seg[3], seg)
    return DateInfo(seg[1], codes.describe(codes.DATE_QUALIFIERS, seg[1]), start, end)


def _reference(seg: Segment) -> Reference:
    return Reference(seg[1], seg[2], codes.describe(codes.REFERENCE_QUALIFIERS, seg[1]))


def _aaa(seg: Segment, loop: str) -> RequestValidation:
    reason, follow = seg[3], seg[4]
    return RequestValidation(
        valid_request=seg[1] == "Y",
        reason_code=reason,
        reason=codes.describe(codes.REJECT_REASONS, reason),
        follow_up_code=follow,
        follow_up=codes.describe(codes.FOLLOW_UP_ACTIONS, follow),
        loop=loop,
        position=seg.position,
    )


def _decimal(value: str, seg: Segment, index: int) -> Decimal | None:
    if not value:
        return None
    try:
        dec = Decimal(value)
    except InvalidOperation:
        dec = None
    if dec is None or not dec.is_finite():
        raise X12Error(
            "x12.bad_number",
            f"{seg.id}{index:02d} {value!r} is not a number",
            segment_id=seg.id,
            position=seg.position,
        )
    return dec


_SERVICE_TYPE_CACHE: dict[str, CodeValue] = {}


def _service_type(code: str) -> CodeValue:
    cv = _SERVICE_TYPE_CACHE.get(code)
    if cv is None:
        cv = CodeValue(code, codes.describe(codes.SERVICE_TYPES, code))
        if len(_SERVICE_TYPE_CACHE) < 4096:  # bounded: arbitrary input must not grow it
            _SERVICE_TYPE_CACHE[code] = cv
    return cv


def _benefit(seg: Segment) -> Benefit:
    els = seg.elements
    n = len(els)

    def el(i: int) -> str:
        return els[i] if i < n else ""

    eb01 = el(1)
    if not eb01:
        raise X12Error(
            "x12.missing_element",
            "EB01 (eligibility or benefit information code) is required",
            segment_id="EB",
            position=seg.position,
        )
    level, ins, period = el(2), el(4), el(6)
    amount = _decimal(el(7), seg, 7)
    amount_minor = None
    if amount is not None:
        try:
            amount_minor = Money.parse(amount, CURRENCY).amount_minor
        except MoneyError as exc:
            raise X12Error(
                "x12.bad_amount",
                f"EB07 {el(7)!r}: {exc.message}",
                segment_id="EB",
                position=seg.position,
            ) from None
    procedure = None
    if el(13):
        parts = seg.components(13)
        procedure = Procedure(parts[0], parts[1] if len(parts) > 1 else "", tuple(parts[2:6]))
    return Benefit(
        eligibility_code=eb01,
        eligibility=codes.describe(codes.ELIGIBILITY_CODES, eb01),
        coverage_level_code=level or None,
        coverage_level=codes.describe(codes.COVERAGE_LEVELS, level) if level else None,
        service_types=tuple(_service_type(c) for c in seg.repeats(3)),
        insurance_type_code=ins or None,
        insurance_type=codes.describe(codes.INSURANCE_TYPES, ins) if ins else None,
        plan_description=el(5) or None,
        time_period_code=period or None,
        time_period=codes.describe(codes.TIME_PERIODS, period) if period else None,
        amount=amount,
        amount_minor=amount_minor,
        percent=_decimal(el(8), seg, 8),
        quantity_qualifier=el(9) or None,
        quantity=_decimal(el(10), seg, 10),
        authorization_required=el(11) or None,
        in_network=el(12) or None,
        procedure=procedure,
        diagnosis_pointers=tuple(seg.components(14)),
        position=seg.position,
    )


__all__ = [
    "VERSION",
    "Benefit",
    "EligibilityInquiry",
    "EligibilityResponse",
    "Member",
    "Payer",
    "Person",
    "Provider",
    "Result270",
    "Result271",
    "build_270",
    "iter_271",
    "parse_270",
    "parse_271",
    "parse_271_set",
]
