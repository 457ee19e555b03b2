"""835 health care claim payment/advice (005010X221A1, and 004010X091A1 tolerated), pure.

``iter_835(src)`` reads a file of any size one ST..SE set at a time (memory: one set) and yields
a :class:`Remittance` per set, or a :class:`RemittanceFailure` for a set that cannot be read (the
error names the segment and its position). What real files do is tolerated by the core reader:
a UTF-8 byte-order mark, newlines and indentation between segments, a non-padded ISA, several
interchanges, groups and sets per file.

Money is exact: every amount is converted to integer cents with signs kept (a reversal's amounts
are negative), and more than two decimals is an error of that set, never rounded.

Balancing (shared/research/x12-field-notes.md section 4.1) is computed, not enforced here:

* line: ``SVC02 - sum(line CAS) = SVC03``
* claim: ``CLP03 - sum(claim CAS) - sum(line CAS) = CLP04``
* set: ``sum(CLP04) - sum(PLB) = BPR02``

Each failed equation is listed in ``Remittance.balance_errors``; ``balanced`` is true when there
are none. Posting refuses an unbalanced set whole (it never "fixes up" a remittance).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from revcycle.kit import gcpause
from revcycle.x12.core import (
    CHUNK_SIZE,
    Segment,
    Source,
    Transaction,
    X12Error,
    parse_date,
)

VERSION_5010 = "005010X221A1"
VERSION_4010 = "004010X091A1"

# CAS01 claim adjustment group codes; CR (correction and reversal) is 4010 only.
GROUPS_5010 = frozenset({"CO", "OA", "PI", "PR"})
GROUPS_4010 = GROUPS_5010 | {"CR"}

# CLP02 claim status codes and what they mean for posting (field notes section 3).
CLAIM_STATUSES: dict[str, str] = {
    "1": "Processed as Primary",
    "2": "Processed as Secondary",
    "3": "Processed as Tertiary",
    "4": "Denied",
    "19": "Processed as Primary, Forwarded to Additional Payer(s)",
    "20": "Processed as Secondary, Forwarded to Additional Payer(s)",
    "21": "Processed as Tertiary, Forwarded to Additional Payer(s)",
    "22": "Reversal of Previous Payment",
    "23": "Not Our Claim, Forwarded to Additional Payer(s)",
    "25": "Predetermination Pricing Only - No Payment",
}

PAYMENT_METHODS: dict[str, str] = {
    "ACH": "Automated Clearing House",
    "BOP": "Financial Institution Option",
    "CHK": "Check",
    "FWT": "Federal Reserve Funds/Wire Transfer - Nonrepetitive",
    "NON": "Non-Payment Data",
}


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: str  # CO OA PI PR (CR in 4010)
    reason: str  # CARC
    amount_minor: int  # positive reduces the payment
    quantity: Decimal | None = None


@dataclass(slots=True)
class ServiceLine:
    position: int
    procedure_qualifier: str  # HC (CPT/HCPCS), AD, ER, HP, IV, N4, NU, RB, ZZ...
    procedure: str
    modifiers: list[str]
    charge_minor: int
    paid_minor: int
    revenue_code: str | None
    units: Decimal  # SVC05 units paid; 1 when not sent
    submitted_procedure: str | None = None  # SVC06: the code we sent, when the payer changed it
    submitted_modifiers: list[str] = field(default_factory=list)
    submitted_units: Decimal | None = None  # SVC07
    service_date: dt.date | None = None  # DTM*472, or DTM*150 of a range
    service_date_to: dt.date | None = None  # DTM*151
    line_control_number: str | None = None  # REF*6R: our line id, the best match key
    allowed_minor: int | None = None  # AMT*B6
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # LQ*HE RARCs

    def adjustment_total(self) -> int:
        return sum(a.amount_minor for a in self.adjustments)


@dataclass(slots=True)
class ClaimPayment:
    position: int
    patient_control_number: str  # CLP01 = our CLM01
    status_code: str  # CLP02
    charge_minor: int  # CLP03
    paid_minor: int  # CLP04
    patient_responsibility_minor: int  # CLP05 (informational: post from the PR adjustments)
    filing_indicator: str  # CLP06
    payer_claim_number: str  # CLP07: the payer's ICN (situational in 4010)
    facility_code: str  # CLP08
    frequency_code: str  # CLP09
    adjustments: list[Adjustment] = field(default_factory=list)
    service_lines: list[ServiceLine] = field(default_factory=list)
    statement_from: dt.date | None = None  # DTM*232
    statement_to: dt.date | None = None  # DTM*233
    received_date: dt.date | None = None  # DTM*050 (never a service date)
    original_reference: str | None = None  # REF*F8
    crossover_payer: str | None = None  # NM1*TT name
    crossover_payer_id: str | None = None  # NM1*TT09 (PI payer id / XV CMS plan id)
    remarks: list[str] = field(default_factory=list)  # MOA/MIA RARCs
    # The patient and insured as named by the payer (PHI: never logged, not in the JSON output).
    patient_member_id: str | None = None

    @property
    def status(self) -> str:
        return CLAIM_STATUSES.get(self.status_code, "unknown")

    def adjustment_total(self) -> int:
        return sum(a.amount_minor for a in self.adjustments) + sum(
            line.adjustment_total() for line in self.service_lines
        )

    def patient_responsibility_total(self) -> int:
        return sum(a.amount_minor for a in self.adjustments if a.group == "PR") + sum(
            a.amount_minor
            for line in self.service_lines
            for a in line.adjustments
            if a.group == "PR"
        )


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    position: int
    provider_id: str  # PLB01 (NPI or TIN)
    fiscal_period_date: dt.date | None  # PLB02
    reason: str  # PLB03-1: L6 interest, WO overpayment recovery, FB forwarding balance...
    reference: str  # PLB03-2 (an ICN for WO/FB)
    amount_minor: int  # positive reduces the payment


@dataclass(frozen=True, slots=True)
class BalanceError:
    level: str  # line | claim | transaction
    position: int
    expected_minor: int
    actual_minor: int
    message: str


@dataclass(slots=True)
class Remittance:
    """One 835 set: a payer's payment (or notice) to one payee, with its claims."""

    version: str  # GS08 (005010X221A1 / 004010X091A1...)
    interchange_control_number: str
    group_control_number: str
    control_number: str  # ST02
    position: int
    sha256: str  # of the set's segments (ST..SE), normalised: the identity check for re-imports
    handling_code: str  # BPR01: C payment+advice, I advice only, H notification, ...
    payment_minor: int  # BPR02
    credit_debit: str  # BPR03 C or D
    payment_method: str  # BPR04 ACH CHK BOP FWT NON
    payment_date: dt.date | None  # BPR16 (4010: may be masked or missing)
    trace_number: str  # TRN02: check or EFT trace
    trace_originator: str  # TRN03: "1" + payer EIN
    currency: str = "USD"  # CUR02 when sent
    production_date: dt.date | None = None  # DTM*405
    payer_name: str = ""
    payer_id: str = ""  # REF*2U, else N1*PR04, else TRN03
    payee_name: str = ""
    payee_id_qualifier: str = ""  # N1*PE03: XX NPI, FI TIN, XV
    payee_id: str = ""
    claims: list[ClaimPayment] = field(default_factory=list)
    provider_adjustments: list[ProviderAdjustment] = field(default_factory=list)
    balance_errors: list[BalanceError] = field(default_factory=list)
    envelope_errors: list[X12Error] = field(default_factory=list)
    # Errors in the data that did not stop reading (an invalid BPR16 date): never post such a set.
    data_errors: list[X12Error] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.balance_errors

    @property
    def payee_npi(self) -> str | None:
        return self.payee_id if self.payee_id_qualifier == "XX" else None


@dataclass(frozen=True, slots=True)
class RemittanceFailure:
    """A set that could not be read: nothing of it may be posted."""

    control_number: str
    position: int
    error: X12Error


# -- reading -------------------------------------------------------------------------------------
def iter_835(
    src: Source, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[Remittance | RemittanceFailure]:
    """Each 835 set of ``src`` in file order. Errors found after the last set (GE/IEA counts, a
    missing IEA) are raised at the end as the reader's errors: use :class:`Reader835`."""
    yield from Reader835(src, chunk_size=chunk_size)


class Reader835:
    """Iterate it for the sets; afterwards ``errors`` holds every envelope error of the file.

    The reading is done by the specialised streaming reader of ``remittance_fast`` (one pass over
    each chunk, no per-segment objects), which gives exactly what the general path gives
    (``X12Reader`` segments grouped into sets and read by :func:`parse_835_set`) and hands any
    set it finds unusual to that path, so errors and warnings are always the general parser's.
    """

    def __init__(self, src: Source, *, chunk_size: int = CHUNK_SIZE) -> None:
        from revcycle.x12.remittance_fast import FastReader835  # noqa: PLC0415 - it imports us

        self._reader = FastReader835(src, chunk_size=chunk_size)

    @property
    def errors(self) -> list[X12Error]:
        return list(self._reader.errors)

    def __iter__(self) -> Iterator[Remittance | RemittanceFailure]:
        sets = iter(self._reader)
        while True:
            # Reading one set allocates thousands of small objects and no reference cycles: the
            # cycle collector would only re-scan them; it is paused while a set is read, never
            # while the caller works with it.
            with gcpause.paused():
                result = next(sets, None)
            if result is None:
                return
            yield result


def parse_835_set(tx: Transaction) -> Remittance | RemittanceFailure:
    st = tx.segments[0]
    if tx.set_id != "835":
        return RemittanceFailure(
            tx.control_number,
            st.position,
            X12Error(
                "x12.unexpected_set",
                f"transaction set {tx.set_id!r} is not an 835",
                segment_id="ST",
                position=st.position,
            ),
        )
    try:
        return _Parser(tx).run()
    except X12Error as exc:
        return RemittanceFailure(tx.control_number, st.position, exc)


def _error(seg: Segment, code: str, message: str) -> X12Error:
    return X12Error(code, message, segment_id=seg.id, position=seg.position)


def amount_minor(value: str) -> int | None:
    """Exact integer cents of an X12 ``R`` amount (signs kept), or None when ``value`` is not an
    amount or has more than two decimals (never rounded).

    The common shapes (``150``, ``-45.5``, ``1234.00``, ``.5``: ASCII digits, an optional ``-``,
    up to two decimals, at most 13 whole digits) are read with string operations and ``int``;
    anything else goes through ``Decimal`` (``+5``, ``1.500``, ``1E2``, surrounding spaces).
    """
    if value[-3:-2] == ".":
        digits = value[:-3] + value[-2:]
    elif value[-2:-1] == ".":
        digits = value[:-2] + value[-1] + "0"
    elif value[-1:].isdigit():
        digits = value + "00"
    else:
        return _decimal_minor(value)
    if digits[0] == "-":
        body = digits[1:]
        # (the sign must be the value's own: ".-" moved it to the front)
        if value[0] == "-" and body.isascii() and body.isdigit() and len(body) <= 15:
            return -int(body)
    elif digits.isascii() and digits.isdigit() and len(digits) <= 15:
        return int(digits)
    return _decimal_minor(value)


_AMOUNT_LIMIT = Decimal(10) ** 15


def _decimal_minor(value: str) -> int | None:
    try:
        dec = Decimal(value)
    except InvalidOperation:
        return None
    if not dec.is_finite() or dec.copy_abs() >= _AMOUNT_LIMIT:
        return None
    scaled = dec.scaleb(2)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def cents(value: str, seg: Segment, index: int, *, required: bool = True) -> int:
    """An X12 ``R`` amount as exact integer cents (signs kept); more than 2 decimals is an error."""
    if not value:
        if required:
            raise _error(seg, "x12.missing_element", f"{seg.id}{index:02d} (amount) is required")
        return 0
    minor = amount_minor(value)
    if minor is not None:
        return minor
    try:
        dec = Decimal(value)
    except InvalidOperation:
        dec = None
    problem = (
        "has more than two decimals"
        if dec is not None and dec.is_finite() and dec.copy_abs() < _AMOUNT_LIMIT
        else "is not an amount"
    )
    raise _error(seg, "x12.bad_amount", f"{seg.id}{index:02d} {value!r} {problem}")


def _quantity(value: str, seg: Segment, index: int) -> Decimal | None:
    if not value:
        return None
    try:
        dec = Decimal(value)
    except InvalidOperation:
        dec = None
    if dec is None or not dec.is_finite():
        raise _error(seg, "x12.bad_number", f"{seg.id}{index:02d} {value!r} is not a number")
    return dec


def _date(value: str, seg: Segment) -> dt.date | None:
    return parse_date(value, seg) if value else None


class _Parser:
    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        group = tx.group
        self.version = group.version if group else ""
        # 5010 rules apply when the envelope says 5010; anything else (4010, or the masked
        # versions of de-identified samples) is read with the 4010 tolerances.
        self.is_4010 = not (self.version.startswith("00501") or tx.interchange.version == "00501")
        self.groups = GROUPS_4010 if self.is_4010 else GROUPS_5010
        self.claim: ClaimPayment | None = None
        self.line: ServiceLine | None = None
        self.party: str | None = None  # PR | PE while in loop 1000A / 1000B
        self.ref_2u: str | None = None
        self.n1_payer_id: str | None = None

    def run(self) -> Remittance:
        segs = self.tx.segments
        st = segs[0]
        body = segs[1:-1] if segs[-1].id == "SE" else segs[1:]
        if not body or body[0].id != "BPR":
            at = body[0] if body else st
            raise _error(at, "x12.missing_segment", "an 835 starts with BPR after ST")
        bpr = body[0]
        rem = Remittance(
            version=self.version,
            interchange_control_number=self.tx.interchange.control_number,
            group_control_number=self.tx.group.control_number if self.tx.group else "",
            control_number=self.tx.control_number,
            position=st.position,
            sha256=_digest(segs),
            handling_code=bpr[1],
            payment_minor=cents(bpr[2], bpr, 2),
            credit_debit=bpr[3],
            payment_method=bpr[4],
            payment_date=None,
            trace_number="",
            trace_originator="",
            envelope_errors=list(self.tx.errors),
        )
        rem.payment_date = self._payment_date(rem, bpr[16], bpr)
        for seg in body[1:]:
            self._segment(rem, seg)
        if not rem.trace_number:
            raise _error(bpr, "x12.missing_segment", "TRN (check or EFT trace number) is missing")
        rem.payer_id = self.ref_2u or self.n1_payer_id or rem.trace_originator
        _balance(rem)
        return rem

    def _payment_date(self, rem: Remittance, value: str, seg: Segment) -> dt.date | None:
        """BPR16 (and DTM*405) dates. A bad one does not stop reading: the set is listed with the
        date missing and the error in ``data_errors`` (so it is never posted), as 5010 requires
        BPR16; 4010 files and masked samples only get a warning."""
        try:
            return _date(value, seg)
        except X12Error as exc:
            if self.is_4010:
                rem.warnings.append(exc.message)
            else:
                rem.data_errors.append(exc)
            return None

    def _segment(self, rem: Remittance, seg: Segment) -> None:  # noqa: C901, PLR0912 - one dispatch
        sid = seg.id
        if sid == "SVC":
            self._service(seg)
        elif sid == "CLP":
            self._claim(rem, seg)
        elif sid == "CAS":
            self._cas(seg)
        elif sid == "PLB":
            self.claim = self.line = None
            rem.provider_adjustments.extend(_plb(seg))
        elif sid == "TRN" and self.claim is None and not rem.trace_number:
            rem.trace_number = seg[2]
            rem.trace_originator = seg[3]
        elif sid == "CUR" and self.claim is None:
            rem.currency = seg[2] or rem.currency
            if rem.currency != "USD":
                rem.warnings.append(f"CUR at position {seg.position}: currency {rem.currency}")
        elif sid == "N1" and self.claim is None:
            self.party = seg[1]
            if seg[1] == "PR":
                rem.payer_name = seg[2]
                self.n1_payer_id = seg[4] or None
            elif seg[1] == "PE":
                rem.payee_name = seg[2]
                rem.payee_id_qualifier = seg[3]
                rem.payee_id = seg[4]
        elif sid == "REF":
            self._ref(seg)
        elif sid == "DTM":
            self._dtm(rem, seg)
        elif sid == "AMT" and self.line is not None and seg[1] == "B6":
            self.line.allowed_minor = cents(seg[2], seg, 2)
        elif sid == "LQ" and self.line is not None and seg[1] == "HE":
            self.line.remarks.append(seg[2])
        elif sid in ("MOA", "MIA") and self.claim is not None:
            first = 3 if sid == "MOA" else 20
            last = 7 if sid == "MOA" else 24
            self.claim.remarks.extend(seg[i] for i in range(first, last + 1) if seg[i])
            if sid == "MIA" and seg[5]:
                self.claim.remarks.append(seg[5])
        elif sid == "NM1" and self.claim is not None and self.line is None:
            if seg[1] == "TT":
                self.claim.crossover_payer = seg[3] or seg[9] or "unknown"
                self.claim.crossover_payer_id = seg[9] or None
            elif seg[1] == "QC" and seg[9]:
                self.claim.patient_member_id = seg[9]
        elif sid == "LX":
            self.claim = self.line = None

    def _claim(self, rem: Remittance, seg: Segment) -> None:
        if not seg[1]:
            raise _error(seg, "x12.missing_element", "CLP01 (patient control number) is required")
        if not seg[2]:
            raise _error(seg, "x12.missing_element", "CLP02 (claim status) is required")
        if not self.is_4010 and not seg[7]:
            raise _error(
                seg, "x12.missing_element", "CLP07 (payer claim control number) is required"
            )
        self.claim = ClaimPayment(
            position=seg.position,
            patient_control_number=seg[1],
            status_code=seg[2],
            charge_minor=cents(seg[3], seg, 3),
            paid_minor=cents(seg[4], seg, 4),
            patient_responsibility_minor=cents(seg[5], seg, 5, required=False),
            filing_indicator=seg[6],
            payer_claim_number=seg[7],
            facility_code=seg[8],
            frequency_code=seg[9],
        )
        if seg[2] not in CLAIM_STATUSES:
            rem.warnings.append(f"CLP at position {seg.position}: unknown claim status {seg[2]!r}")
        self.line = None
        rem.claims.append(self.claim)

    def _service(self, seg: Segment) -> None:
        if self.claim is None:
            raise _error(seg, "x12.misplaced_segment", "SVC outside a claim (no CLP before it)")
        proc = seg.components(1)
        if len(proc) < 2 or not proc[0] or not proc[1]:
            raise _error(seg, "x12.bad_composite", "SVC01 must be qualifier:procedure[:modifiers]")
        submitted = seg.components(6)
        units = _quantity(seg[5], seg, 5)
        self.line = ServiceLine(
            position=seg.position,
            procedure_qualifier=proc[0],
            procedure=proc[1],
            modifiers=[m for m in proc[2:6] if m],
            charge_minor=cents(seg[2], seg, 2),
            paid_minor=cents(seg[3], seg, 3),
            revenue_code=seg[4] or None,
            units=units if units is not None else Decimal(1),
            submitted_procedure=submitted[1] if len(submitted) > 1 and submitted[1] else None,
            submitted_modifiers=[m for m in submitted[2:6] if m],
            submitted_units=_quantity(seg[7], seg, 7),
        )
        self.claim.service_lines.append(self.line)

    def _cas(self, seg: Segment) -> None:
        target = self.line if self.line is not None else self.claim
        if target is None:
            raise _error(seg, "x12.misplaced_segment", "CAS outside a claim (no CLP before it)")
        els = seg.elements
        group = els[1] if len(els) > 1 else ""
        if group not in self.groups:
            raise _error(seg, "x12.bad_code", f"CAS01 {group!r} is not an adjustment group code")
        found = False
        n = len(els)
        adjustments = target.adjustments
        for i in range(2, min(n, 20), 3):
            reason = els[i]
            amount = els[i + 1] if i + 1 < n else ""
            if not reason:
                if amount:
                    raise _error(seg, "x12.missing_element", f"CAS{i:02d} reason code is missing")
                continue
            quantity = els[i + 2] if i + 2 < n else ""
            adjustments.append(
                Adjustment(
                    group,
                    reason,
                    cents(amount, seg, i + 1),
                    _quantity(quantity, seg, i + 2) if quantity else None,
                )
            )
            found = True
        if not found:
            raise _error(seg, "x12.missing_element", "CAS has no reason/amount pair")

    def _ref(self, seg: Segment) -> None:
        qual, value = seg[1], seg[2]
        if self.line is not None:
            if qual == "6R":
                self.line.line_control_number = value
        elif self.claim is not None:
            if qual == "F8":
                self.claim.original_reference = value
        elif self.party == "PR" and qual == "2U":
            self.ref_2u = value

    def _dtm(self, rem: Remittance, seg: Segment) -> None:
        qual = seg[1]
        if self.line is not None:
            if qual in ("472", "150"):
                self.line.service_date = _date(seg[2], seg)
            elif qual == "151":
                self.line.service_date_to = _date(seg[2], seg)
        elif self.claim is not None:
            if qual == "232":
                self.claim.statement_from = _date(seg[2], seg)
            elif qual == "233":
                self.claim.statement_to = _date(seg[2], seg)
            elif qual == "050":
                self.claim.received_date = _date(seg[2], seg)
        elif qual == "405":
            rem.production_date = self._payment_date(rem, seg[2], seg)


def _plb(seg: Segment) -> list[ProviderAdjustment]:
    if not seg[1]:
        raise _error(seg, "x12.missing_element", "PLB01 (provider identifier) is required")
    try:
        period = _date(seg[2], seg)
    except X12Error:
        period = None  # informational (the provider's fiscal year end); masked in samples
    out: list[ProviderAdjustment] = []
    for i in range(3, 15, 2):
        if not seg[i]:
            if seg[i + 1]:
                raise _error(seg, "x12.missing_element", f"PLB{i:02d} adjustment reason is missing")
            continue
        parts = seg.components(i)
        out.append(
            ProviderAdjustment(
                position=seg.position,
                provider_id=seg[1],
                fiscal_period_date=period,
                reason=parts[0],
                reference=parts[1] if len(parts) > 1 else "",
                amount_minor=cents(seg[i + 1], seg, i + 1),
            )
        )
    if not out:
        raise _error(seg, "x12.missing_element", "PLB has no adjustment")
    return out


def _digest(segments: list[Segment]) -> str:
    """SHA-256 of the set in a canonical form (elements, components and repetitions joined by
    fixed control characters, one segment per line): the same set re-sent with other delimiters,
    line breaks or envelope gets the same digest."""
    if not segments:
        return hashlib.sha256(b"").hexdigest()
    d = segments[0].delimiters
    text = "\n".join(["\x1d".join(seg.elements) for seg in segments]) + "\n"
    table = {ord(d.component): "\x1f"} if d.component else {}
    if d.repetition:
        table[ord(d.repetition)] = "\x1e"
    if table:
        text = text.translate(table)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fmt(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}"


def _balance(rem: Remittance) -> None:
    errors = rem.balance_errors
    total_paid = 0
    for claim in rem.claims:
        total_paid += claim.paid_minor
        for line in claim.service_lines:
            expected = line.charge_minor - line.adjustment_total()
            if expected != line.paid_minor:
                errors.append(
                    BalanceError(
                        "line",
                        line.position,
                        expected,
                        line.paid_minor,
                        f"SVC at position {line.position}: charge {_fmt(line.charge_minor)} - "
                        f"adjustments {_fmt(line.adjustment_total())} = {_fmt(expected)}, "
                        f"but paid is {_fmt(line.paid_minor)}",
                    )
                )
        expected = claim.charge_minor - claim.adjustment_total()
        if expected != claim.paid_minor:
            errors.append(
                BalanceError(
                    "claim",
                    claim.position,
                    expected,
                    claim.paid_minor,
                    f"CLP at position {claim.position}: charge {_fmt(claim.charge_minor)} - "
                    f"adjustments {_fmt(claim.adjustment_total())} = {_fmt(expected)}, "
                    f"but paid is {_fmt(claim.paid_minor)}",
                )
            )
        if claim.patient_responsibility_total() != claim.patient_responsibility_minor:
            rem.warnings.append(
                f"CLP at position {claim.position}: CLP05 "
                f"{_fmt(claim.patient_responsibility_minor)} differs from the PR adjustments "
                f"{_fmt(claim.patient_responsibility_total())}"
            )
    plb = sum(p.amount_minor for p in rem.provider_adjustments)
    expected = total_paid - plb
    if expected != rem.payment_minor:
        errors.append(
            BalanceError(
                "transaction",
                rem.position,
                expected,
                rem.payment_minor,
                f"paid claims {_fmt(total_paid)} - provider adjustments {_fmt(plb)} = "
                f"{_fmt(expected)}, but BPR02 is {_fmt(rem.payment_minor)} "
                f"(difference {_fmt(rem.payment_minor - expected)})",
            )
        )


# -- the documented JSON summary (``revcycle era parse FILE --json``) ----------------------------
def adjustment_json(a: Adjustment) -> dict[str, str]:
    return {"group": a.group, "reason": a.reason, "amount": _fmt(a.amount_minor)}


def _units(value: Decimal) -> str:
    return format(value.normalize(), "f")


def remittance_json(rem: Remittance) -> dict[str, object]:
    """One set as the stable ``era parse --json`` shape (docs/remittance.md). No patient names
    or member ids: the summary is safe to hand to other tools and to log."""
    return {
        "payer": {"name": rem.payer_name, "id": rem.payer_id},
        "payee": {"name": rem.payee_name, "npi": rem.payee_npi},
        "trace_number": rem.trace_number,
        "payment_amount": _fmt(rem.payment_minor),
        "payment_method": rem.payment_method,
        "payment_date": rem.payment_date.isoformat() if rem.payment_date else None,
        "balanced": rem.balanced,
        "claims": [
            {
                "patient_control_number": c.patient_control_number,
                "status_code": c.status_code,
                "charge_amount": _fmt(c.charge_minor),
                "paid_amount": _fmt(c.paid_minor),
                "patient_responsibility": _fmt(c.patient_responsibility_minor),
                "payer_claim_number": c.payer_claim_number,
                "adjustments": [adjustment_json(a) for a in c.adjustments],
                "service_lines": [
                    {
                        "procedure": line.procedure,
                        "modifiers": line.modifiers,
                        "charge_amount": _fmt(line.charge_minor),
                        "paid_amount": _fmt(line.paid_minor),
                        "units": _units(line.units),
                        "adjustments": [adjustment_json(a) for a in line.adjustments],
                    }
                    for line in c.service_lines
                ],
            }
            for c in rem.claims
        ],
        "provider_adjustments": [
            {"reason": p.reason, "reference": p.reference, "amount": _fmt(p.amount_minor)}
            for p in rem.provider_adjustments
        ],
    }


def error_json(exc: X12Error, *, transaction: str | None = None) -> dict[str, object]:
    return {
        "code": exc.code,
        "message": exc.message,
        "segment": exc.segment_id,
        "position": exc.position,
        "transaction": transaction,
    }
