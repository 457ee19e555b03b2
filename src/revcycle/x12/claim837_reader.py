"""837P reader (005010X222A1), pure and streaming: an interchange in, typed claims out.

It reads what :func:`revcycle.x12.claim837.build_837p` writes, and real 837P files: one
:class:`Read837` per ST..SE set (memory: one set), with per claim the submitter and receiver of
the set, the billing provider NPI, the payer (2010BB ``NM109``), the subscriber's member id
(2010BA ``NM109``), the patient when it is not the subscriber (2000C), ``CLM01``/``CLM02``/
``CLM05`` (place of service and frequency), ``REF*F8``/``G1``/``9F``/``EA``, the ``HI`` codes,
the lines (``SV1`` procedure and modifiers, charge, unit code, units, pointers, ``DTP*472``,
``REF*6R``, ``LIN`` NDC) and the COB loops (2320/2330B per other payer, 2430 per line).

Loops are recognised by HL03 (``20`` billing provider, ``22`` subscriber, ``23`` patient) and by
what is open (a ``SBR`` inside a claim starts a 2320 loop, an ``SVD`` inside a line a 2430 loop),
never by HL numbers. Every problem is an :class:`X12Error` naming the segment and its position
in the file; the reader raises nothing else, whatever the input (hypothesis tests). Positions of
each claim inside its set (ST = 1) are kept so a 999 ``IK302`` can name the claim.

Business rules (CLM02 equal to the sum of the lines, NPI check digits, known codes) are not
enforced here: a reader reports what the file says, and the payer simulator decides on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

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
from revcycle.x12.remittance import cents

VERSION = "005010X222A1"


@dataclass(frozen=True, slots=True)
class CasAdjustment:
    group: str
    reason: str
    amount_minor: int
    quantity: Decimal | None = None


@dataclass(slots=True)
class PriorLinePayment:
    """2430: what another payer did with this line (``SVD``, ``CAS``, ``DTP*573``)."""

    payer_id: str
    paid_minor: int
    procedure: str
    modifiers: list[str]
    units: Decimal | None
    adjudicated_on: dt.date | None = None
    adjustments: list[CasAdjustment] = field(default_factory=list)


@dataclass(slots=True)
class OtherPayerRead:
    """2320/2330A/2330B: another payer of this claim."""

    responsibility: str  # SBR01
    relationship: str  # SBR02
    filing_code: str  # SBR09
    payer_id: str = ""  # 2330B NM109
    payer_name: str = ""
    member_id: str = ""  # 2330A NM109
    paid_minor: int | None = None  # AMT*D
    remaining_patient_liability_minor: int | None = None  # AMT*EAF
    claim_number: str | None = None  # 2330B REF*F8
    adjudicated_on: dt.date | None = None  # DTP*573
    adjustments: list[CasAdjustment] = field(default_factory=list)


@dataclass(slots=True)
class LineRead:
    number: int  # LX01
    position: int  # SV1 position in the set (ST = 1)
    procedure_qualifier: str
    procedure: str
    modifiers: list[str]
    charge_minor: int
    unit_code: str
    units: Decimal
    diagnosis_pointers: list[int]
    place_of_service: str | None = None  # SV105, only when it differs from the claim's
    description: str | None = None  # SV101-7
    service_date: dt.date | None = None
    service_date_to: dt.date | None = None
    line_control_number: str | None = None  # REF*6R
    ndc: str | None = None
    rendering_npi: str | None = None
    prior_payments: list[PriorLinePayment] = field(default_factory=list)


@dataclass(slots=True)
class PersonRead:
    last_name: str
    first_name: str
    middle_name: str = ""
    birth_date: dt.date | None = None
    gender: str = ""


@dataclass(slots=True)
class ClaimRead:
    claim_id: str  # CLM01
    charge_minor: int  # CLM02
    place_of_service: str  # CLM05-1
    frequency: str  # CLM05-3
    first_segment: int  # CLM position in the set (ST = 1)
    last_segment: int
    billing_provider_npi: str
    billing_provider_name: str
    payer_id: str  # 2010BB NM109
    payer_name: str
    member_id: str  # 2010BA NM109
    subscriber: PersonRead
    responsibility: str  # 2000B SBR01
    filing_code: str  # 2000B SBR09
    group_number: str | None
    patient: PersonRead | None = None  # 2000C, when the patient is not the subscriber
    patient_relationship: str | None = None  # PAT01
    prior_authorization: str | None = None  # REF*G1
    original_claim_number: str | None = None  # REF*F8 (frequency 7 and 8)
    referral_number: str | None = None  # REF*9F
    medical_record_number: str | None = None  # REF*EA
    diagnoses: list[tuple[str, str]] = field(default_factory=list)  # (qualifier, code) from HI
    rendering_npi: str | None = None
    referring_npi: str | None = None
    lines: list[LineRead] = field(default_factory=list)
    other_payers: list[OtherPayerRead] = field(default_factory=list)

    @property
    def lines_total_minor(self) -> int:
        return sum(line.charge_minor for line in self.lines)

    @property
    def service_date(self) -> dt.date | None:
        dates = [line.service_date for line in self.lines if line.service_date]
        return min(dates) if dates else None

    @property
    def service_date_to(self) -> dt.date | None:
        dates = [line.service_date_to or line.service_date for line in self.lines]
        known = [d for d in dates if d]
        return max(known) if known else None


@dataclass(slots=True)
class Read837:
    """One 837 set."""

    interchange: InterchangeHeader
    group_control_number: str  # GS06
    group_version: str  # GS08
    control_number: str  # ST02
    implementation: str  # ST03
    position: int  # ST position in the file
    batch_reference: str  # BHT03
    submitter_name: str = ""
    submitter_id: str = ""
    receiver_name: str = ""
    receiver_id: str = ""
    claims: list[ClaimRead] = field(default_factory=list)
    envelope_errors: list[X12Error] = field(default_factory=list)


def iter_837(src: Source, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Read837]:
    """Each 837 set of ``src`` in file order; raises :class:`X12Error` on the first set that
    cannot be read (use :func:`parse_837_set` on ``core`` transactions to go on after one)."""
    for tx in _transactions(X12Reader(src, chunk_size=chunk_size)):
        yield parse_837_set(tx)


def read_837(src: Source) -> list[Read837]:
    """Every set of a (small) file, envelope errors raised."""
    reader = X12Reader(src)
    sets = [parse_837_set(tx) for tx in _transactions(reader)]
    for exc in reader.errors:
        raise exc
    return sets


def _err(seg: Segment, code: str, message: str) -> X12Error:
    return X12Error(code, message, segment_id=seg.id, position=seg.position)


def _decimal(seg: Segment, index: int, *, required: bool = True) -> Decimal | None:
    value = seg[index]
    if not value:
        if required:
            raise _err(seg, "x12.missing_element", f"{seg.id}{index:02d} is required")
        return None
    try:
        dec = Decimal(value)
    except InvalidOperation:
        dec = None
    if dec is None or not dec.is_finite() or dec.copy_abs() >= Decimal(10) ** 12:
        raise _err(seg, "x12.bad_number", f"{seg.id}{index:02d} {value[:20]!r} is not a number")
    return dec


def _cas(seg: Segment) -> list[CasAdjustment]:
    group = seg[1]
    if group not in ("CO", "OA", "PI", "PR"):
        raise _err(seg, "x12.bad_code", f"CAS01 {group[:5]!r} is not an adjustment group code")
    out: list[CasAdjustment] = []
    for i in range(2, 20, 3):
        if not seg[i]:
            if seg[i + 1]:
                raise _err(seg, "x12.missing_element", f"CAS{i:02d} reason code is missing")
            continue
        out.append(
            CasAdjustment(
                group, seg[i], cents(seg[i + 1], seg, i + 1), _decimal(seg, i + 2, required=False)
            )
        )
    if not out:
        raise _err(seg, "x12.missing_element", "CAS has no reason/amount pair")
    return out


class _State:
    def __init__(self, tx: Transaction) -> None:
        st = tx.segments[0]
        self.st_position = st.position
        group = tx.group
        self.result = Read837(
            interchange=tx.interchange,
            group_control_number=group.control_number if group else "",
            group_version=group.version if group else "",
            control_number=st[2],
            implementation=st[3],
            position=st.position,
            batch_reference="",
            envelope_errors=list(tx.errors),
        )
        self.level = ""
        self.billing_npi = ""
        self.billing_name = ""
        self.payer_id = ""
        self.payer_name = ""
        self.member_id = ""
        self.subscriber: PersonRead | None = None
        self.responsibility = ""
        self.filing_code = ""
        self.group_number: str | None = None
        self.patient: PersonRead | None = None
        self.relationship: str | None = None
        self.claim: ClaimRead | None = None
        self.other: OtherPayerRead | None = None
        self.line: LineRead | None = None
        self.svd: PriorLinePayment | None = None
        self.nm1_context = ""  # the last NM1 entity code, for DMG/REF/N3 that follow

    def rel(self, seg: Segment) -> int:
        return seg.position - self.st_position + 1

    def close_claim(self, last: int, at: Segment) -> None:
        if self.line is not None and not self.line.procedure:
            raise _err(at, "x12.missing_segment", f"LX {self.line.number} has no SV1")
        if self.claim is not None:
            if not self.claim.lines:
                raise _err(at, "x12.missing_segment", f"claim {self.claim.claim_id} has no lines")
            self.claim.last_segment = last
            self.result.claims.append(self.claim)
        self.claim = None
        self.other = None
        self.line = None
        self.svd = None


def parse_837_set(tx: Transaction) -> Read837:  # noqa: C901, PLR0912, PLR0915 - one dispatch
    st = tx.segments[0]
    if tx.set_id != "837":
        raise _err(st, "x12.unexpected_set", f"transaction set {tx.set_id[:5]!r} is not an 837")
    for exc in tx.errors:
        raise exc
    segs = tx.segments
    body = segs[1:-1] if segs[-1].id == "SE" else segs[1:]
    if not body or body[0].id != "BHT":
        at = body[0] if body else st
        raise _err(at, "x12.missing_segment", "an 837 starts with BHT after ST")
    s = _State(tx)
    s.result.batch_reference = body[0][3]
    previous = body[0]
    for seg in body[1:]:
        sid = seg.id
        if sid == "HL":
            s.close_claim(s.rel(previous), seg)
            level = seg[3]
            if level not in ("20", "22", "23"):
                raise _err(seg, "x12.bad_code", f"HL03 {level[:5]!r} is not an 837P level")
            s.level = level
            if level == "20":
                s.billing_npi = s.billing_name = ""
            if level in ("20", "22"):
                s.payer_id = s.payer_name = s.member_id = ""
                s.subscriber = None
                s.group_number = None
                s.responsibility = s.filing_code = ""
            s.patient = None
            s.relationship = None
            s.nm1_context = ""
        elif sid == "CLM":
            s.close_claim(s.rel(previous), seg)
            _claim(s, seg)
        elif s.claim is None:
            _header(s, seg)
        else:
            _in_claim(s, s.claim, seg)
        previous = seg
    s.close_claim(s.rel(previous), segs[-1])
    return s.result


def _header(s: _State, seg: Segment) -> None:  # noqa: C901, PLR0912 - loops 1000/2000/2010
    sid = seg.id
    if sid == "NM1":
        code = seg[1]
        s.nm1_context = code
        if code == "41" and not s.level:
            s.result.submitter_name, s.result.submitter_id = seg[3], seg[9]
        elif code == "40" and not s.level:
            s.result.receiver_name, s.result.receiver_id = seg[3], seg[9]
        elif code == "85" and s.level == "20":
            s.billing_name, s.billing_npi = seg[3], seg[9]
        elif code == "IL" and s.level == "22":
            s.subscriber = PersonRead(seg[3], seg[4], seg[5])
            s.member_id = seg[9]
        elif code == "PR" and s.level == "22":
            s.payer_name, s.payer_id = seg[3], seg[9]
        elif code == "QC" and s.level == "23":
            s.patient = PersonRead(seg[3], seg[4], seg[5])
    elif sid == "SBR" and s.level == "22":
        s.responsibility, s.filing_code = seg[1], seg[9]
        s.group_number = seg[3] or None
    elif sid == "PAT" and s.level == "23":
        s.relationship = seg[1]
    elif sid == "DMG":
        person = s.patient if s.nm1_context == "QC" else s.subscriber
        if person is not None and s.nm1_context in ("QC", "IL"):
            if seg[2]:
                person.birth_date, _ = parse_period(seg[1], seg[2], seg)
            person.gender = seg[3]
    elif sid in ("LX", "SV1", "SVD", "SBR", "PAT") and s.level != "20":
        raise _err(seg, "x12.misplaced_segment", f"{sid} outside a claim (no CLM before it)")


def _claim(s: _State, seg: Segment) -> None:
    if s.level not in ("22", "23"):
        raise _err(seg, "x12.misplaced_segment", "CLM outside a subscriber or patient loop")
    if not s.billing_npi:
        raise _err(seg, "x12.missing_segment", "no billing provider (NM1*85) before the claim")
    if not s.payer_id or s.subscriber is None:
        raise _err(seg, "x12.missing_segment", "no subscriber (NM1*IL) and payer (NM1*PR) loop")
    if s.level == "23" and s.patient is None:
        raise _err(seg, "x12.missing_segment", "no patient (NM1*QC) before the claim")
    if not seg[1]:
        raise _err(seg, "x12.missing_element", "CLM01 (patient control number) is required")
    pos = seg.components(5)
    if len(pos) < 3 or not pos[0] or not pos[2]:
        raise _err(seg, "x12.bad_composite", "CLM05 must be place of service:B:frequency")
    s.claim = ClaimRead(
        claim_id=seg[1],
        charge_minor=cents(seg[2], seg, 2),
        place_of_service=pos[0],
        frequency=pos[2],
        first_segment=s.rel(seg),
        last_segment=s.rel(seg),
        billing_provider_npi=s.billing_npi,
        billing_provider_name=s.billing_name,
        payer_id=s.payer_id,
        payer_name=s.payer_name,
        member_id=s.member_id,
        subscriber=s.subscriber,
        responsibility=s.responsibility,
        filing_code=s.filing_code,
        group_number=s.group_number,
        patient=s.patient,
        patient_relationship=s.relationship,
    )


def _in_claim(s: _State, claim: ClaimRead, seg: Segment) -> None:  # noqa: C901, PLR0912, PLR0915
    sid = seg.id
    if sid == "LX":
        if not (seg[1].isascii() and seg[1].isdigit()):
            raise _err(seg, "x12.bad_number", f"LX01 {seg[1][:10]!r} is not a line number")
        s.other = None
        s.svd = None
        s.line = None
        s.nm1_context = "LX"
        claim.lines.append(
            LineRead(int(seg[1]), 0, "", "", [], 0, "", Decimal(0), [])
        )  # completed by the SV1 that must follow
        s.line = claim.lines[-1]
        return
    line = s.line
    if sid == "SV1":
        if line is None or line.procedure:
            raise _err(seg, "x12.misplaced_segment", "SV1 without its LX")
        proc = seg.components(1)
        if len(proc) < 2 or not proc[0] or not proc[1]:
            raise _err(seg, "x12.bad_composite", "SV101 must be qualifier:procedure[:modifiers]")
        pointers: list[int] = []
        for p in seg.components(7):
            if not (p.isascii() and p.isdigit()) or not 1 <= int(p) <= 12:
                raise _err(seg, "x12.bad_number", f"SV107 pointer {p[:5]!r} is not 1..12")
            pointers.append(int(p))
        units = _decimal(seg, 4)
        assert units is not None
        line.position = s.rel(seg)
        line.procedure_qualifier = proc[0]
        line.procedure = proc[1]
        line.modifiers = [m for m in proc[2:6] if m]
        line.description = proc[6] if len(proc) > 6 and proc[6] else None
        line.charge_minor = cents(seg[2], seg, 2)
        line.unit_code = seg[3]
        line.units = units
        line.place_of_service = seg[5] or None
        line.diagnosis_pointers = pointers
        return
    if line is not None and not line.procedure:
        raise _err(seg, "x12.missing_segment", f"LX {line.number} is not followed by its SV1")
    if sid == "SBR":
        if line is not None:
            raise _err(seg, "x12.misplaced_segment", "SBR (2320) after the service lines")
        s.other = OtherPayerRead(seg[1], seg[2], seg[9])
        claim.other_payers.append(s.other)
        s.nm1_context = "SBR"
    elif sid == "SVD":
        if line is None:
            raise _err(seg, "x12.misplaced_segment", "SVD outside a service line")
        proc = seg.components(3)
        s.svd = PriorLinePayment(
            seg[1],
            cents(seg[2], seg, 2),
            proc[1] if len(proc) > 1 else "",
            [m for m in proc[2:6] if m],
            _decimal(seg, 5, required=False),
        )
        line.prior_payments.append(s.svd)
    elif sid == "CAS":
        if s.svd is not None:
            s.svd.adjustments.extend(_cas(seg))
        elif s.other is not None and line is None:
            s.other.adjustments.extend(_cas(seg))
        else:
            raise _err(seg, "x12.misplaced_segment", "CAS outside a 2320 or 2430 loop")
    elif sid == "AMT":
        if s.other is not None and line is None:
            if seg[1] == "D":
                s.other.paid_minor = cents(seg[2], seg, 2)
            elif seg[1] == "EAF":
                s.other.remaining_patient_liability_minor = cents(seg[2], seg, 2)
    elif sid == "NM1":
        code = seg[1]
        s.nm1_context = code
        if line is not None:
            if code == "82":
                line.rendering_npi = seg[9] or None
        elif s.other is not None and code == "IL":
            s.other.member_id = seg[9]
        elif s.other is not None and code == "PR":
            s.other.payer_id, s.other.payer_name = seg[9], seg[3]
        elif code == "82":
            claim.rendering_npi = seg[9] or None
        elif code == "DN":
            claim.referring_npi = seg[9] or None
    elif sid == "REF":
        qual, value = seg[1], seg[2]
        if line is not None:
            if qual == "6R":
                line.line_control_number = value
        elif s.other is not None:
            if qual == "F8" and s.nm1_context == "PR":
                s.other.claim_number = value
        elif qual == "G1":
            claim.prior_authorization = value
        elif qual == "F8":
            claim.original_claim_number = value
        elif qual == "9F":
            claim.referral_number = value
        elif qual == "EA":
            claim.medical_record_number = value
    elif sid == "HI":
        if line is not None or s.other is not None:
            raise _err(seg, "x12.misplaced_segment", "HI after the claim's other payers or lines")
        for i in range(1, len(seg)):
            parts = seg.components(i)
            if not parts:
                continue
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise _err(seg, "x12.bad_composite", f"HI{i:02d} must be qualifier:code")
            claim.diagnoses.append((parts[0], parts[1]))
    elif sid == "DTP":
        if seg[1] == "472" and line is not None:
            line.service_date, line.service_date_to = parse_period(seg[2], seg[3], seg)
        elif seg[1] == "573":
            day, _ = parse_period(seg[2], seg[3], seg)
            if s.svd is not None:
                s.svd.adjudicated_on = day
            elif s.other is not None:
                s.other.adjudicated_on = day
    elif sid == "LIN" and line is not None and seg[2] == "N4":
        line.ndc = seg[3]
    elif sid in ("PAT", "BHT"):
        raise _err(seg, "x12.misplaced_segment", f"{sid} inside a claim")
