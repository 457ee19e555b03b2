"""What a payer or clearinghouse sends back for an 837 batch, pure writers: 999
(005010X231A1), 277CA (005010X214) and 835 (005010X221A1).

Same rules as :mod:`revcycle.x12.writer` (the caller passes the envelope with its control numbers
and the creation time; nothing reads a clock; data upper-cased, delimiters removed, segments
counted). The output reads back with revcycle's own parsers (``x12.acks.iter_999``,
``iter_277ca``, ``x12.remittance.Reader835``) to exactly the values given, and validates with
pyx12's maps (tests).

The 835 writer checks the balancing equations of docs/remittance.md before writing (line, claim
and transaction) and raises :class:`PayerFileError` naming the claim when one fails: a payer
simulator that writes an unbalanced remittance is a bug, not a scenario.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from revcycle.x12.core import X12Error
from revcycle.x12.writer import Composite, Envelope, InterchangeWriter, TransactionWriter

VERSION_999 = "005010X231A1"
VERSION_277CA = "005010X214"
VERSION_835 = "005010X221A1"


class PayerFileError(X12Error):
    def __init__(self, message: str) -> None:
        super().__init__("x12.bad_payer_file", message)


def money(minor: int) -> str:
    """X12 ``R`` amount: no trailing zeros, sign kept (``-12.5``, ``100``)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _period(start: dt.date, end: dt.date | None) -> tuple[str, str]:
    if end is not None and end != start:
        return "RD8", f"{_d8(start)}-{_d8(end)}"
    return "D8", _d8(start)


# -- 999 -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ElementNote:
    position: str  # IK401: element[:component[:repeat]]
    reference: str  # IK402: data element number
    code: str  # IK403
    bad_value: str | None = None  # IK404


@dataclass(frozen=True, slots=True)
class SegmentNote:
    segment_id: str  # IK301
    position: int  # IK302: position in the set, ST = 1
    code: str  # IK304
    loop_id: str | None = None  # IK303
    claim_id: str | None = None  # CTX*CLM01:<id>
    elements: tuple[ElementNote, ...] = ()


@dataclass(frozen=True, slots=True)
class SetVerdict:
    control_number: str  # AK202: the 837's ST02
    status: str  # IK501: A accepted, E accepted with errors, R rejected
    implementation: str = "005010X222A1"  # AK203
    codes: tuple[str, ...] = ()  # IK502.. (5 segment errors, 4 count, 3 control...)
    segment_errors: tuple[SegmentNote, ...] = ()
    set_id: str = "837"


@dataclass(frozen=True, slots=True)
class GroupVerdict:
    control_number: str  # AK102: the 837's GS06
    sets: tuple[SetVerdict, ...]
    received: int | None = None  # AK903 (default: the sets listed)
    functional_id: str = "HC"
    version: str = "005010X222A1"
    codes: tuple[str, ...] = ()  # AK905.. group-level error codes

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.sets if s.status in ("A", "E"))

    @property
    def status(self) -> str:
        """A all accepted (E when errors were noted), R none, P some (AK901)."""
        received = self.received if self.received is not None else len(self.sets)
        if self.codes or self.accepted == 0:
            return "R"
        if self.accepted < received:
            return "P"
        return "E" if any(s.status == "E" for s in self.sets) else "A"


def build_999(
    groups: Sequence[GroupVerdict], envelope: Envelope, *, control_number: str = "0001"
) -> str:
    """One 999 set answering each functional group of an 837 interchange."""
    writer = InterchangeWriter(envelope, functional_id="FA", version=VERSION_999)
    tx = writer.transaction("999", control_number)
    for g in groups:
        tx.add("AK1", g.functional_id, g.control_number, g.version)
        for s in g.sets:
            tx.add("AK2", s.set_id, s.control_number, s.implementation)
            for e in s.segment_errors:
                tx.add("IK3", e.segment_id, str(e.position), e.loop_id, e.code)
                if e.claim_id:
                    tx.add("CTX", Composite("CLM01", e.claim_id))
                for el in e.elements:
                    tx.add(
                        "IK4",
                        Composite(*el.position.split(":")),
                        el.reference,
                        el.code,
                        el.bad_value,
                    )
            tx.add("IK5", s.status, *s.codes[:5])
        received = g.received if g.received is not None else len(g.sets)
        tx.add("AK9", g.status, str(len(g.sets)), str(received), str(g.accepted), *g.codes[:5])
    writer.append(tx)
    return writer.render()


# -- 277CA ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatusCode:
    category: str  # STC01-1: A1 A2 A3 A6 A7 A8...
    code: str  # STC01-2: claim status code
    entity: str | None = None  # STC01-3
    message: str | None = None  # STC12 free text (claim level only), e.g. where the error is

    @property
    def accepted(self) -> bool:
        return self.category in ("A1", "A2", "A5")


@dataclass(frozen=True, slots=True)
class LineStatus:
    procedure: str
    charge_minor: int
    line_control_number: str  # REF*FJ = the 837's REF*6R
    service_date: dt.date
    service_date_to: dt.date | None
    statuses: tuple[StatusCode, ...]
    modifiers: tuple[str, ...] = ()
    units: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    patient_control_number: str  # TRN*2: the 837's CLM01
    charge_minor: int  # STC04
    statuses: tuple[StatusCode, ...]
    service_date: dt.date
    service_date_to: dt.date | None
    patient_last_name: str
    patient_first_name: str
    member_id: str
    payer_claim_number: str | None = None  # REF*1K, for accepted claims
    clearinghouse_trace: str | None = None  # REF*D9
    lines: tuple[LineStatus, ...] = ()  # only to explain a rejection

    @property
    def accepted(self) -> bool:
        return all(s.accepted for s in self.statuses)


@dataclass(frozen=True, slots=True)
class ProviderClaims:
    name: str
    npi: str
    claims: tuple[ClaimStatus, ...]


@dataclass(frozen=True, slots=True)
class Ack277Input:
    reference: str  # BHT03 of the 277CA
    source_name: str  # payer or clearinghouse (2100A NM1*PR)
    source_id: str
    receipt_id: str  # 2200A TRN*1
    receiver_name: str  # the submitter (2100B NM1*41)
    receiver_id: str
    batch_trace: str  # 2200B TRN*2: the 837's BHT03
    received_on: dt.date  # DTP*050
    processed_on: dt.date  # DTP*009 and STC02
    providers: tuple[ProviderClaims, ...]


def _stc(
    tx: TransactionWriter,
    statuses: Sequence[StatusCode],
    day: dt.date | None,
    charge: int | None,
) -> None:
    """One STC per status (the category of each decides; STC03 WQ accept / U reject)."""
    if not statuses:
        raise PayerFileError("a 277CA status needs at least one STC code")
    for s in statuses:
        tx.add(
            "STC",
            Composite(s.category, s.code, s.entity or ""),
            None if day is None else _d8(day),
            "WQ" if s.accepted else "U",
            None if charge is None else money(charge),
            *((None,) * 7 + (s.message,) if s.message else ()),
        )


def build_277ca(ack: Ack277Input, envelope: Envelope, *, control_number: str = "0001") -> str:
    writer = InterchangeWriter(envelope, functional_id="HN", version=VERSION_277CA)
    tx = writer.transaction("277", control_number)
    when = envelope.created_at
    tx.add("BHT", "0085", "08", ack.reference, _d8(when.date()), when.strftime("%H%M"), "TH")
    tx.add("HL", "1", None, "20", "1")
    tx.add("NM1", "PR", "2", ack.source_name, None, None, None, None, "PI", ack.source_id)
    tx.add("TRN", "1", ack.receipt_id)
    tx.add("DTP", "050", "D8", _d8(ack.received_on))
    tx.add("DTP", "009", "D8", _d8(ack.processed_on))
    tx.add("HL", "2", "1", "21", "1")
    tx.add("NM1", "41", "2", ack.receiver_name, None, None, None, None, "46", ack.receiver_id)
    tx.add("TRN", "2", ack.batch_trace)
    claims = [c for p in ack.providers for c in p.claims]
    _totals(tx, claims, ack.processed_on, ("90", "AA"))
    hl = 2
    for p in ack.providers:
        hl += 1
        provider_hl = hl
        tx.add("HL", str(hl), "2", "19", "1")
        tx.add("NM1", "85", "2", p.name, None, None, None, None, "XX", p.npi)
        tx.add("TRN", "1", f"{ack.receipt_id}-{provider_hl - 2}")
        _totals(tx, list(p.claims), None, ("QA", "QC"))
        for c in p.claims:
            hl += 1
            tx.add("HL", str(hl), str(provider_hl), "PT")
            tx.add(
                "NM1",
                "QC",
                "1",
                c.patient_last_name,
                c.patient_first_name,
                None,
                None,
                None,
                "MI",
                c.member_id,
            )
            tx.add("TRN", "2", c.patient_control_number)
            _stc(tx, c.statuses, ack.processed_on, c.charge_minor)
            if c.payer_claim_number:
                tx.add("REF", "1K", c.payer_claim_number)
            if c.clearinghouse_trace:
                tx.add("REF", "D9", c.clearinghouse_trace)
            qual, value = _period(c.service_date, c.service_date_to or c.service_date)
            tx.add("DTP", "472", "RD8", value if qual == "RD8" else f"{value}-{value}")
            for ln in c.lines:
                tx.add(
                    "SVC",
                    Composite("HC", ln.procedure, *ln.modifiers),
                    money(ln.charge_minor),
                    None,
                    None,
                    None,
                    None,
                    _qty(ln.units),
                )
                _stc(tx, ln.statuses, ack.processed_on, None)
                tx.add("REF", "FJ", ln.line_control_number)
                lq, lv = _period(ln.service_date, ln.service_date_to)
                tx.add("DTP", "472", lq, lv)
    writer.append(tx)
    return writer.render()


def _totals(
    tx: TransactionWriter,
    claims: Sequence[ClaimStatus],
    day: dt.date | None,
    quantities: tuple[str, str],
) -> None:
    """Receiver (2200B: QTY 90/AA, STC02 dated) or provider (2200C: QTY QA/QC) totals."""
    accepted = [c for c in claims if c.accepted]
    rejected = [c for c in claims if not c.accepted]
    _stc(tx, (StatusCode("A1", "19", "PR"),), day, sum(c.charge_minor for c in claims))
    if accepted:
        tx.add("QTY", quantities[0], str(len(accepted)))
    if rejected:
        tx.add("QTY", quantities[1], str(len(rejected)))
    if accepted:
        tx.add("AMT", "YU", money(sum(c.charge_minor for c in accepted)))
    if rejected:
        tx.add("AMT", "YY", money(sum(c.charge_minor for c in rejected)))


# -- 835 -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cas:
    group: str  # CO OA PI PR
    reason: str  # CARC
    amount_minor: int  # positive reduces the payment (negated on a reversal)
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ServicePayment:
    procedure: str
    modifiers: tuple[str, ...]
    charge_minor: int
    paid_minor: int
    units: Decimal
    service_date: dt.date
    line_control_number: str | None  # REF*6R, echoed from the 837
    adjustments: tuple[Cas, ...] = ()
    allowed_minor: int | None = None  # AMT*B6
    remarks: tuple[str, ...] = ()  # LQ*HE RARCs
    service_date_to: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ClaimPaymentOut:
    patient_control_number: str  # CLP01: the 837's CLM01
    status_code: str  # CLP02: 1 primary, 2 secondary, 4 denied, 22 reversal
    charge_minor: int
    paid_minor: int
    patient_responsibility_minor: int
    payer_claim_number: str  # CLP07
    patient_last_name: str
    patient_first_name: str
    member_id: str
    filing_indicator: str = "12"  # CLP06: 12 PPO
    facility_code: str = "11"  # CLP08: place of service
    frequency_code: str = "1"  # CLP09
    received_on: dt.date | None = None  # DTM*050
    adjustments: tuple[Cas, ...] = ()  # claim-level CAS
    lines: tuple[ServicePayment, ...] = ()
    original_reference: str | None = None  # REF*F8 (corrected claims)
    crossover_payer: tuple[str, str] | None = None  # NM1*TT: (name, payer id) it forwarded to
    remarks: tuple[str, ...] = ()  # MOA claim-level RARCs (MA18: forwarded)


@dataclass(frozen=True, slots=True)
class ProviderAdjustmentOut:
    reason: str  # L6 interest (negative), WO recoupment (positive), FB forward balance
    reference: str
    amount_minor: int  # positive reduces the payment


@dataclass(frozen=True, slots=True)
class Remittance835:
    payer_name: str
    payer_id: str  # REF*2U
    payer_tax_id: str  # 9-digit EIN: TRN03 and BPR10 are "1" + EIN
    payee_name: str
    payee_npi: str
    trace_number: str  # TRN02
    payment_date: dt.date  # BPR16
    claims: tuple[ClaimPaymentOut, ...]
    provider_adjustments: tuple[ProviderAdjustmentOut, ...] = ()
    payment_method: str = "ACH"  # NON when nothing is paid
    fiscal_period_end: dt.date | None = None  # PLB02 (default: 31 December of the payment year)
    payer_contact_phone: str = "8005550100"
    payer_address: tuple[str, str, str, str] = ("1 PAYER PLAZA", "HARTFORD", "CT", "06101")

    @property
    def payment_minor(self) -> int:
        return sum(c.paid_minor for c in self.claims) - sum(
            p.amount_minor for p in self.provider_adjustments
        )


def check_835(rem: Remittance835) -> None:
    """The balancing equations of docs/remittance.md; raises naming what does not balance."""
    for c in rem.claims:
        line_cas = 0
        for ln in c.lines:
            cas = sum(a.amount_minor for a in ln.adjustments)
            line_cas += cas
            if ln.charge_minor - cas != ln.paid_minor:
                raise PayerFileError(
                    f"claim {c.patient_control_number} line {ln.procedure}: charge "
                    f"{ln.charge_minor} - adjustments {cas} != paid {ln.paid_minor}"
                )
        claim_cas = sum(a.amount_minor for a in c.adjustments)
        if c.charge_minor - claim_cas - line_cas != c.paid_minor:
            raise PayerFileError(
                f"claim {c.patient_control_number}: charge {c.charge_minor} - adjustments "
                f"{claim_cas + line_cas} != paid {c.paid_minor}"
            )
        pr = sum(a.amount_minor for a in c.adjustments if a.group == "PR") + sum(
            a.amount_minor for ln in c.lines for a in ln.adjustments if a.group == "PR"
        )
        if pr != c.patient_responsibility_minor:
            raise PayerFileError(
                f"claim {c.patient_control_number}: CLP05 {c.patient_responsibility_minor} != "
                f"PR adjustments {pr}"
            )
    if rem.payment_minor < 0:
        raise PayerFileError(
            f"the payment would be negative ({rem.payment_minor}): carry it forward (PLB FB)"
        )


def _cas_segments(tx: TransactionWriter, adjustments: Sequence[Cas]) -> None:
    for group in ("CO", "OA", "PI", "PR"):
        items = [a for a in adjustments if a.group == group]
        for start in range(0, len(items), 6):
            elements: list[str | None] = [group]
            for a in items[start : start + 6]:
                elements += [
                    a.reason,
                    money(a.amount_minor),
                    _qty(a.quantity) if a.quantity is not None else None,
                ]
            tx.add("CAS", *elements)


def build_835(
    remittances: Sequence[Remittance835], envelope: Envelope, *, first_set_number: int = 1
) -> str:
    """One 835 set per remittance (one payer paying one payee), balanced (checked first)."""
    for rem in remittances:
        check_835(rem)
    writer = InterchangeWriter(envelope, functional_id="HP", version=VERSION_835)
    for n, rem in enumerate(remittances, first_set_number):
        tx = writer.transaction("835", f"{n:04d}")
        _remittance(tx, rem)
        writer.append(tx)
    return writer.render()


def _remittance(tx: TransactionWriter, rem: Remittance835) -> None:
    paid = rem.payment_minor
    day = _d8(rem.payment_date)
    if paid > 0 and rem.payment_method != "NON":
        tx.add(
            "BPR",
            "I",
            money(paid),
            "C",
            rem.payment_method,
            "CCP",
            "01",
            "999999992",
            "DA",
            "123456",
            "1" + rem.payer_tax_id,
            None,
            "01",
            "999988880",
            "DA",
            "98765",
            day,
        )
    else:
        tx.add("BPR", "H", money(paid), "C", "NON", *([None] * 11), day)
    tx.add("TRN", "1", rem.trace_number, "1" + rem.payer_tax_id)
    tx.add("DTM", "405", day)
    tx.add("N1", "PR", rem.payer_name)
    tx.add("N3", rem.payer_address[0])
    tx.add("N4", rem.payer_address[1], rem.payer_address[2], rem.payer_address[3])
    tx.add("REF", "2U", rem.payer_id)
    tx.add("PER", "BL", None, "TE", rem.payer_contact_phone)
    tx.add("N1", "PE", rem.payee_name, "XX", rem.payee_npi)
    if rem.claims:
        tx.add("LX", "1")
    for c in rem.claims:
        tx.add(
            "CLP",
            c.patient_control_number,
            c.status_code,
            money(c.charge_minor),
            money(c.paid_minor),
            money(c.patient_responsibility_minor),
            c.filing_indicator,
            c.payer_claim_number,
            c.facility_code,
            c.frequency_code,
        )
        _cas_segments(tx, c.adjustments)
        tx.add(
            "NM1",
            "QC",
            "1",
            c.patient_last_name,
            c.patient_first_name,
            None,
            None,
            None,
            "MI",
            c.member_id,
        )
        if c.crossover_payer:
            name, payer_id = c.crossover_payer
            tx.add("NM1", "TT", "2", name, None, None, None, None, "PI", payer_id)
        if c.remarks:
            tx.add("MOA", None, None, *c.remarks[:5])
        if c.original_reference:
            tx.add("REF", "F8", c.original_reference)
        if c.received_on:
            tx.add("DTM", "050", _d8(c.received_on))
        for ln in c.lines:
            tx.add(
                "SVC",
                Composite("HC", ln.procedure, *ln.modifiers),
                money(ln.charge_minor),
                money(ln.paid_minor),
                None,
                _qty(ln.units),
            )
            if ln.service_date_to and ln.service_date_to != ln.service_date:
                tx.add("DTM", "150", _d8(ln.service_date))
                tx.add("DTM", "151", _d8(ln.service_date_to))
            else:
                tx.add("DTM", "472", _d8(ln.service_date))
            _cas_segments(tx, ln.adjustments)
            if ln.line_control_number:
                tx.add("REF", "6R", ln.line_control_number)
            if ln.allowed_minor is not None:
                tx.add("AMT", "B6", money(ln.allowed_minor))
            for remark in ln.remarks:
                tx.add("LQ", "HE", remark)
    fiscal = rem.fiscal_period_end or dt.date(rem.payment_date.year, 12, 31)
    adjustments = list(rem.provider_adjustments)
    for start in range(0, len(adjustments), 6):
        elements: list[str | Composite | None] = [rem.payee_npi, _d8(fiscal)]
        for p in adjustments[start : start + 6]:
            elements += [Composite(p.reason, p.reference), money(p.amount_minor)]
        tx.add("PLB", *elements)
