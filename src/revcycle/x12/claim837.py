"""837P professional claims (005010X222A1), pure: typed claims in, an interchange out.

``build_837p(batch, envelope)`` checks every claim first (the rules of shared/research/
x12-field-notes.md sections 2.2-2.6: CLM02 equals the sum of the lines to the cent, at most 12
diagnosis codes and 50 lines, pointers within the codes, NPI check digits, 9-digit billing ZIP,
frequency 7/8 carrying the payer's claim number, COB balancing per prior payer...) and raises a
:class:`ClaimBuildError` naming the claim and the field before anything is written. Then it
writes one ST per :class:`Transaction837` with the HL hierarchy billing provider (20) >
subscriber (22) > patient (23, only when the patient is not the subscriber and has no member id
of their own), counting HL numbers and segments as it goes, and returns the text with, per claim,
the first and last segment positions inside its set: a 999 ``IK302`` maps back to the claim.

Secondary and tertiary claims carry the prior payers' adjudication in 2320/2330 (claim level:
``SBR``, ``CAS``, ``AMT*D``, ``OI``, the other subscriber and payer with the payer's ICN in
``REF*F8``) and 2430 (per line: ``SVD``, ``CAS``, ``DTP*573``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from revcycle.kit import codes as idcodes
from revcycle.x12.core import X12Error
from revcycle.x12.writer import Composite, Envelope, InterchangeWriter, TransactionWriter

VERSION = "005010X222A1"
MAX_LINES = 50
MAX_DIAGNOSES = 12
FILING_CODES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "16",
        "17",
        "AM",
        "BL",
        "CH",
        "CI",
        "DS",
        "FI",
        "HM",
        "LM",
        "MA",
        "MB",
        "MC",
        "OF",
        "TV",
        "VA",
        "WC",
        "ZZ",
    ]
)
PATIENT_RELATIONSHIPS = frozenset({"01", "19", "20", "21", "39", "40", "53", "G8"})
RESPONSIBILITY = frozenset("PSTABCDEFGHU")
CAS_GROUPS = frozenset({"CO", "OA", "PI", "PR"})


class ClaimBuildError(X12Error):
    """A claim that cannot be written as a valid 837P; nothing was produced."""

    def __init__(self, claim_id: str | None, field_name: str, message: str) -> None:
        where = f"claim {claim_id}: " if claim_id else ""
        super().__init__("claim837.invalid", f"{where}{field_name}: {message}")
        self.claim_id = claim_id
        self.field_name = field_name


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str  # 5 or 9 digits (9 required for the billing provider and service location)
    line2: str | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """A person (``first_name`` set) or an organisation."""

    name: str  # last name or organisation name
    first_name: str | None = None
    middle_name: str | None = None

    @property
    def entity_type(self) -> str:
        return "1" if self.first_name else "2"


@dataclass(frozen=True, slots=True)
class BillingProvider:
    party: Party
    npi: str
    tax_id: str  # EIN, 9 digits (REF*EI)
    address: Address
    taxonomy: str | None = None


@dataclass(frozen=True, slots=True)
class Submitter:
    party: Party
    id: str  # NM109 with qualifier 46 (ETIN)
    contact_name: str
    phone: str  # digits


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    id: str


@dataclass(frozen=True, slots=True)
class Payer:
    name: str
    payer_id: str  # NM109 qualifier PI
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Person:
    last_name: str
    first_name: str
    birth_date: dt.date
    gender: str  # F M U
    address: Address | None = None
    middle_name: str | None = None


@dataclass(frozen=True, slots=True)
class Subscriber:
    person: Person
    member_id: str
    responsibility: str = "P"  # SBR01: P primary, S secondary, T tertiary...
    filing_code: str = "CI"  # SBR09
    group_number: str | None = None
    group_name: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """The patient when not the subscriber (and without a member id of their own)."""

    person: Person
    relationship: str  # PAT01: 01 spouse, 19 child, 20 employee, 21 unknown, 53 life partner, G8


@dataclass(frozen=True, slots=True)
class Provider:
    last_name: str
    first_name: str
    npi: str
    taxonomy: str | None = None


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: str  # CO OA PI PR
    reason: str  # CARC
    amount_minor: int  # > 0
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LineAdjudication:
    """What a prior payer did with one line (loop 2430)."""

    payer_id: str  # SVD01: must equal that payer's 2330B NM109
    paid_minor: int
    procedure: str
    modifiers: tuple[str, ...]
    units: Decimal
    adjudicated_on: dt.date
    adjustments: tuple[Adjustment, ...] = ()


@dataclass(frozen=True, slots=True)
class OtherPayer:
    """A prior (or other) payer of this claim (loops 2320/2330A/2330B)."""

    responsibility: str  # SBR01 of that payer: P S T...
    relationship: str  # SBR02: the patient's relationship to that subscriber (18 self)
    filing_code: str  # SBR09
    subscriber: Party
    member_id: str
    payer: Payer
    paid_minor: int | None  # AMT*D, required once that payer adjudicated
    adjudicated_on: dt.date | None = None
    claim_number: str | None = None  # REF*F8: that payer's ICN
    adjustments: tuple[Adjustment, ...] = ()  # claim-level CAS
    remaining_patient_liability_minor: int | None = None  # AMT*EAF
    group_number: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLine:
    procedure: str  # CPT/HCPCS
    charge_minor: int
    units: Decimal
    service_date: dt.date
    diagnosis_pointers: tuple[int, ...]  # 1-based positions in Claim.diagnoses, 1..4 of them
    line_control_number: str  # REF*6R: unique, echoed by 835 and 277CA
    modifiers: tuple[str, ...] = ()
    service_date_to: dt.date | None = None
    place_of_service: str | None = None  # only when different from the claim's
    unit_code: str = "UN"  # UN units, MJ anesthesia minutes
    description: str | None = None  # SV101-7, needed for NOC codes
    rendering: Provider | None = None  # 2420A, only when different from the claim's
    ndc: str | None = None  # 2410 LIN N4 (11 digits)
    ndc_quantity: Decimal | None = None
    ndc_unit: str = "UN"
    prior_payments: tuple[LineAdjudication, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str  # CLM01, <= 20 characters, stable across resubmissions
    charge_minor: int  # CLM02
    place_of_service: str  # CMS POS code, 2 digits
    diagnoses: tuple[str, ...]  # ICD-10-CM, principal first, with or without the dot
    lines: tuple[ServiceLine, ...]
    frequency: str = "1"  # 1 original, 7 replacement, 8 void
    original_claim_number: str | None = None  # REF*F8, required for 7 and 8
    provider_signature: bool = True  # CLM06
    assignment: str = "A"  # CLM07
    benefits_assigned: str = "Y"  # CLM08
    release_of_information: str = "Y"  # CLM09
    prior_authorization: str | None = None  # REF*G1
    referral_number: str | None = None  # REF*9F
    patient_paid_minor: int | None = None  # AMT*F5
    medical_record_number: str | None = None  # REF*EA
    onset_date: dt.date | None = None  # DTP*431
    referring: Provider | None = None  # 2310A
    rendering: Provider | None = None  # 2310B, only when different from the billing provider
    service_location: tuple[str, str, Address] | None = None  # 2310C (name, NPI, address)
    other_payers: tuple[OtherPayer, ...] = ()


@dataclass(frozen=True, slots=True)
class SubscriberGroup:
    """Claims of one subscriber with one payer (loop 2000B), for the patient (2000C when set)."""

    subscriber: Subscriber
    payer: Payer
    claims: tuple[Claim, ...]
    patient: Patient | None = None


@dataclass(frozen=True, slots=True)
class Transaction837:
    control_number: str  # ST02, unique within the group
    batch_reference: str  # BHT03: unique, echoed by the 277CA's TRN*2 at the receiver level
    groups: tuple[SubscriberGroup, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    submitter: Submitter
    receiver: Receiver
    billing_provider: BillingProvider
    transactions: tuple[Transaction837, ...]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ClaimLocation:
    claim_id: str
    set_control_number: str
    first_segment: int  # position inside the set, ST = 1 (as a 999 IK302 counts)
    last_segment: int


@dataclass(frozen=True, slots=True)
class Built837:
    text: str
    claims: tuple[ClaimLocation, ...]


# -- checks ----------------------------------------------------------------------------------
def _npi(claim_id: str | None, what: str, value: str) -> None:
    try:
        idcodes.npi(value)
    except ValueError as exc:
        raise ClaimBuildError(claim_id, what, str(exc)) from None


def _zip9(claim_id: str | None, what: str, address: Address) -> None:
    if not (len(address.postal_code) == 9 and address.postal_code.isdigit()):
        raise ClaimBuildError(claim_id, what, "the ZIP code must have 9 digits (ZIP+4)")
    if address.line1.replace(".", "").replace(" ", "").upper().startswith(("POBOX", "PMB")):
        raise ClaimBuildError(claim_id, what, "must be a street address, not a PO box")


def _adjustments(claim_id: str, what: str, adjustments: Sequence[Adjustment]) -> None:
    for adj in adjustments:
        if adj.group not in CAS_GROUPS:
            raise ClaimBuildError(
                claim_id, what, f"adjustment group {adj.group!r} is not CO/OA/PI/PR"
            )
        if adj.amount_minor == 0:
            raise ClaimBuildError(claim_id, what, "zero adjustment amounts are not sent")
    groups = {a.group for a in adjustments}
    if len(groups) > 5:
        raise ClaimBuildError(claim_id, what, "at most 5 adjustment groups")
    for g in groups:
        if sum(1 for a in adjustments if a.group == g) > 6:
            raise ClaimBuildError(claim_id, what, f"at most 6 {g} adjustments")


def check_claim(claim: Claim, billing_npi: str) -> None:  # noqa: C901, PLR0912 - one rule list
    cid = claim.claim_id
    if not cid or len(cid) > 20 or not all(c.isalnum() or c in "-." for c in cid):
        raise ClaimBuildError(
            cid or None, "claim_id", "1-20 letters, digits, '-' or '.' (receivers keep 20)"
        )
    if not 1 <= len(claim.lines) <= MAX_LINES:
        raise ClaimBuildError(cid, "lines", f"a claim has 1 to {MAX_LINES} service lines")
    total = sum(line.charge_minor for line in claim.lines)
    if total != claim.charge_minor:
        raise ClaimBuildError(
            cid, "charge", f"CLM02 {claim.charge_minor} must equal the sum of the lines {total}"
        )
    if not 1 <= len(claim.diagnoses) <= MAX_DIAGNOSES:
        raise ClaimBuildError(cid, "diagnoses", f"1 to {MAX_DIAGNOSES} ICD-10-CM codes")
    for code in claim.diagnoses:
        try:
            idcodes.icd10cm(code)
        except ValueError as exc:
            raise ClaimBuildError(cid, "diagnoses", f"{code!r}: {exc}") from None
    if len(claim.place_of_service) != 2 or not claim.place_of_service.isdigit():
        raise ClaimBuildError(cid, "place_of_service", "a 2-digit CMS place of service code")
    if claim.frequency not in ("1", "7", "8"):
        raise ClaimBuildError(cid, "frequency", "1 original, 7 replacement or 8 void")
    if claim.frequency in ("7", "8") and not claim.original_claim_number:
        raise ClaimBuildError(
            cid, "original_claim_number", "a replacement or void needs the payer's claim number"
        )
    if claim.rendering is not None:
        _npi(cid, "rendering.npi", claim.rendering.npi)
        if claim.rendering.npi == billing_npi:
            raise ClaimBuildError(cid, "rendering", "omit it when it is the billing provider")
    if claim.referring is not None:
        _npi(cid, "referring.npi", claim.referring.npi)
    if claim.service_location is not None:
        _npi(cid, "service_location.npi", claim.service_location[1])
        _zip9(cid, "service_location.address", claim.service_location[2])
    numbers = [line.line_control_number for line in claim.lines]
    if len(set(numbers)) != len(numbers) or not all(numbers):
        raise ClaimBuildError(cid, "lines", "every line needs its own line_control_number")
    for n, line in enumerate(claim.lines, 1):
        what = f"lines[{n}]"
        try:
            idcodes.procedure_code(line.procedure)
            for m in line.modifiers:
                idcodes.modifier(m)
        except ValueError as exc:
            raise ClaimBuildError(cid, what, str(exc)) from None
        if len(line.modifiers) > 4:
            raise ClaimBuildError(cid, what, "at most 4 modifiers")
        if line.charge_minor < 0 or line.units <= 0:
            raise ClaimBuildError(cid, what, "charge >= 0 and units > 0")
        if not 1 <= len(line.diagnosis_pointers) <= 4 or not all(
            1 <= p <= len(claim.diagnoses) for p in line.diagnosis_pointers
        ):
            raise ClaimBuildError(
                cid, what, f"1 to 4 diagnosis pointers, each 1..{len(claim.diagnoses)}"
            )
        if line.service_date_to is not None and line.service_date_to < line.service_date:
            raise ClaimBuildError(cid, what, "the service period ends before it starts")
        if line.rendering is not None:
            _npi(cid, f"{what}.rendering.npi", line.rendering.npi)
        if line.ndc is not None and not (len(line.ndc) == 11 and line.ndc.isdigit()):
            raise ClaimBuildError(cid, what, "an NDC has 11 digits (5-4-2, no hyphens)")
        for adj in line.prior_payments:
            _adjustments(cid, f"{what}.prior_payments", adj.adjustments)
    _check_cob(claim)


def _check_cob(claim: Claim) -> None:
    """COB balancing per prior payer (x12-field-notes.md 2.4)."""
    cid = claim.claim_id
    orders = [o.responsibility for o in claim.other_payers]
    if len(set(orders)) != len(orders):
        raise ClaimBuildError(cid, "other_payers", "each other payer needs its own SBR01 order")
    for o in claim.other_payers:
        what = f"other_payers[{o.payer.payer_id}]"
        if o.responsibility not in RESPONSIBILITY:
            raise ClaimBuildError(cid, what, f"SBR01 {o.responsibility!r} is not a payer order")
        if o.filing_code not in FILING_CODES:
            raise ClaimBuildError(cid, what, f"SBR09 {o.filing_code!r} is not a filing code")
        _adjustments(cid, what, o.adjustments)
        if o.paid_minor is None:
            continue
        claim_cas = sum(a.amount_minor for a in o.adjustments)
        line_parts = [
            (line, [p for p in line.prior_payments if p.payer_id == o.payer.payer_id])
            for line in claim.lines
        ]
        line_cas = sum(a.amount_minor for _, ps in line_parts for p in ps for a in p.adjustments)
        if claim.charge_minor != o.paid_minor + claim_cas + line_cas:
            raise ClaimBuildError(
                cid,
                what,
                f"CLM02 {claim.charge_minor} must equal paid {o.paid_minor} + claim adjustments "
                f"{claim_cas} + line adjustments {line_cas}",
            )
        if any(ps for _, ps in line_parts):
            svd = sum(p.paid_minor for _, ps in line_parts for p in ps)
            if o.paid_minor != svd - claim_cas:
                raise ClaimBuildError(
                    cid, what, f"AMT*D {o.paid_minor} must equal line payments {svd} - {claim_cas}"
                )
            for n, (line, ps) in enumerate(line_parts, 1):
                got = sum(p.paid_minor + sum(a.amount_minor for a in p.adjustments) for p in ps)
                if ps and got != line.charge_minor:
                    raise ClaimBuildError(
                        cid,
                        f"lines[{n}].prior_payments",
                        f"line charge {line.charge_minor} must equal paid + adjustments {got}",
                    )


def check_batch(batch: Batch) -> None:
    bp = batch.billing_provider
    _npi(None, "billing_provider.npi", bp.npi)
    _zip9(None, "billing_provider.address", bp.address)
    if not (len(bp.tax_id.replace("-", "")) == 9 and bp.tax_id.replace("-", "").isdigit()):
        raise ClaimBuildError(None, "billing_provider.tax_id", "an EIN has 9 digits")
    if bp.taxonomy is not None:
        try:
            idcodes.taxonomy(bp.taxonomy)
        except ValueError as exc:
            raise ClaimBuildError(None, "billing_provider.taxonomy", str(exc)) from None
    seen: set[str] = set()
    for tx in batch.transactions:
        if not tx.groups:
            raise ClaimBuildError(None, "transactions", f"set {tx.control_number} has no claims")
        for group in tx.groups:
            sub = group.subscriber
            if sub.filing_code not in FILING_CODES:
                raise ClaimBuildError(None, "subscriber.filing_code", f"{sub.filing_code!r}")
            if sub.responsibility not in RESPONSIBILITY:
                raise ClaimBuildError(None, "subscriber.responsibility", f"{sub.responsibility!r}")
            if (
                group.patient is not None
                and group.patient.relationship not in PATIENT_RELATIONSHIPS
            ):
                raise ClaimBuildError(
                    None,
                    "patient.relationship",
                    f"{group.patient.relationship!r} is not a PAT01 code",
                )
            for person in (sub.person, group.patient.person if group.patient else None):
                if person is not None and person.gender not in ("F", "M", "U"):
                    raise ClaimBuildError(None, "gender", "F, M or U")
            if not 1 <= len(group.claims) <= 100:
                raise ClaimBuildError(None, "claims", "1 to 100 claims per subscriber loop")
            for claim in group.claims:
                if claim.claim_id in seen:
                    raise ClaimBuildError(claim.claim_id, "claim_id", "appears twice in the batch")
                seen.add(claim.claim_id)
                check_claim(claim, bp.npi)


# -- writing ---------------------------------------------------------------------------------
def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _d8(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _undotted(code: str) -> str:
    return idcodes.icd10cm(code).replace(".", "")


def _address(tx: TransactionWriter, address: Address) -> None:
    tx.add("N3", address.line1, address.line2)
    tx.add("N4", address.city, address.state, address.postal_code)


def _cas(tx: TransactionWriter, adjustments: Sequence[Adjustment]) -> None:
    for group in ("CO", "OA", "PI", "PR"):
        items = [a for a in adjustments if a.group == group]
        if not items:
            continue
        elements: list[str | None] = [group]
        for a in items:
            elements += [a.reason, _money(a.amount_minor), _qty(a.quantity) if a.quantity else None]
        tx.add("CAS", *elements)


class _Hl:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def build_837p(batch: Batch, envelope: Envelope) -> Built837:
    check_batch(batch)
    writer = InterchangeWriter(envelope, functional_id="HC", version=VERSION)
    locations: list[ClaimLocation] = []
    for t in batch.transactions:
        tx = writer.transaction("837", t.control_number)
        tx.add(
            "BHT",
            "0019",
            "00",
            t.batch_reference,
            _d8(batch.created_at.date()),
            batch.created_at.strftime("%H%M"),
            "CH",
        )
        s = batch.submitter
        tx.add(
            "NM1",
            "41",
            s.party.entity_type,
            s.party.name,
            s.party.first_name,
            None,
            None,
            None,
            "46",
            s.id,
        )
        tx.add("PER", "IC", s.contact_name, "TE", s.phone)
        tx.add(
            "NM1", "40", "2", batch.receiver.name, None, None, None, None, "46", batch.receiver.id
        )
        bp = batch.billing_provider
        hl = _Hl()
        top = hl.next()
        tx.add("HL", str(top), None, "20", "1")
        if bp.taxonomy:
            tx.add("PRV", "BI", "PXC", bp.taxonomy)
        tx.add(
            "NM1",
            "85",
            bp.party.entity_type,
            bp.party.name,
            bp.party.first_name,
            bp.party.middle_name,
            None,
            None,
            "XX",
            bp.npi,
        )
        _address(tx, bp.address)
        tx.add("REF", "EI", bp.tax_id.replace("-", ""))
        for group in t.groups:
            _subscriber_loop(tx, hl, top, group, locations, t.control_number)
        writer.append(tx)
    return Built837(writer.render(), tuple(locations))


def _subscriber_loop(
    tx: TransactionWriter,
    hl: _Hl,
    parent: int,
    group: SubscriberGroup,
    locations: list[ClaimLocation],
    set_number: str,
) -> None:
    sub = group.subscriber
    me = hl.next()
    tx.add("HL", str(me), str(parent), "22", "1" if group.patient else "0")
    tx.add(
        "SBR",
        sub.responsibility,
        "18" if group.patient is None else None,
        sub.group_number,
        sub.group_name if not sub.group_number else None,
        None,
        None,
        None,
        None,
        sub.filing_code,
    )
    p = sub.person
    tx.add(
        "NM1", "IL", "1", p.last_name, p.first_name, p.middle_name, None, None, "MI", sub.member_id
    )
    if group.patient is None:  # address and demographics only when the subscriber is the patient
        if p.address:
            _address(tx, p.address)
        tx.add("DMG", "D8", _d8(p.birth_date), p.gender)
    tx.add("NM1", "PR", "2", group.payer.name, None, None, None, None, "PI", group.payer.payer_id)
    if group.payer.address:
        _address(tx, group.payer.address)
    if group.patient is not None:
        child = hl.next()
        tx.add("HL", str(child), str(me), "23", "0")
        tx.add("PAT", group.patient.relationship)
        q = group.patient.person
        tx.add("NM1", "QC", "1", q.last_name, q.first_name, q.middle_name)
        if q.address:
            _address(tx, q.address)
        tx.add("DMG", "D8", _d8(q.birth_date), q.gender)
    for claim in group.claims:
        first = tx.count + 1
        _claim(tx, claim)
        locations.append(ClaimLocation(claim.claim_id, set_number, first, tx.count))


def _claim(tx: TransactionWriter, c: Claim) -> None:  # noqa: C901, PLR0912 - the 2300 loop
    tx.add(
        "CLM",
        c.claim_id,
        _money(c.charge_minor),
        None,
        None,
        Composite(c.place_of_service, "B", c.frequency),
        "Y" if c.provider_signature else "N",
        c.assignment,
        c.benefits_assigned,
        c.release_of_information,
    )
    if c.onset_date:
        tx.add("DTP", "431", "D8", _d8(c.onset_date))
    if c.patient_paid_minor:
        tx.add("AMT", "F5", _money(c.patient_paid_minor))
    if c.referral_number:
        tx.add("REF", "9F", c.referral_number)
    if c.prior_authorization:
        tx.add("REF", "G1", c.prior_authorization)
    if c.frequency in ("7", "8"):
        tx.add("REF", "F8", c.original_claim_number)
    if c.medical_record_number:
        tx.add("REF", "EA", c.medical_record_number)
    codes = [_undotted(code) for code in c.diagnoses]
    tx.add("HI", Composite("ABK", codes[0]), *(Composite("ABF", code) for code in codes[1:]))
    if c.referring:
        r = c.referring
        tx.add("NM1", "DN", "1", r.last_name, r.first_name, None, None, None, "XX", r.npi)
    if c.rendering:
        r = c.rendering
        tx.add("NM1", "82", "1", r.last_name, r.first_name, None, None, None, "XX", r.npi)
        if r.taxonomy:
            tx.add("PRV", "PE", "PXC", r.taxonomy)
    if c.service_location:
        name, npi, address = c.service_location
        tx.add("NM1", "77", "2", name, None, None, None, None, "XX", npi)
        _address(tx, address)
    for o in c.other_payers:
        tx.add(
            "SBR",
            o.responsibility,
            o.relationship,
            o.group_number,
            None,
            None,
            None,
            None,
            None,
            o.filing_code,
        )
        _cas(tx, o.adjustments)
        if o.paid_minor is not None:
            tx.add("AMT", "D", _money(o.paid_minor))
        if o.remaining_patient_liability_minor is not None:
            tx.add("AMT", "EAF", _money(o.remaining_patient_liability_minor))
        tx.add("OI", None, None, "Y", None, None, "Y")
        s = o.subscriber
        tx.add(
            "NM1",
            "IL",
            s.entity_type,
            s.name,
            s.first_name,
            s.middle_name,
            None,
            None,
            "MI",
            o.member_id,
        )
        tx.add("NM1", "PR", "2", o.payer.name, None, None, None, None, "PI", o.payer.payer_id)
        if o.adjudicated_on and not any(p.prior_payments for p in c.lines):
            tx.add("DTP", "573", "D8", _d8(o.adjudicated_on))
        if o.claim_number:
            tx.add("REF", "F8", o.claim_number)
    for n, line in enumerate(c.lines, 1):
        _line(tx, n, c, line)


def _line(tx: TransactionWriter, n: int, c: Claim, line: ServiceLine) -> None:
    tx.add("LX", str(n))
    tx.add(
        "SV1",
        Composite(
            "HC",
            line.procedure,
            *line.modifiers,
            *([""] * (4 - len(line.modifiers))),
            line.description or "",
        ),
        _money(line.charge_minor),
        line.unit_code,
        _qty(line.units),
        line.place_of_service if line.place_of_service != c.place_of_service else None,
        None,
        Composite(*(str(p) for p in line.diagnosis_pointers)),
    )
    if line.service_date_to and line.service_date_to != line.service_date:
        tx.add("DTP", "472", "RD8", f"{_d8(line.service_date)}-{_d8(line.service_date_to)}")
    else:
        tx.add("DTP", "472", "D8", _d8(line.service_date))
    tx.add("REF", "6R", line.line_control_number)
    if line.ndc:
        tx.add("LIN", None, "N4", line.ndc)
        tx.add("CTP", None, None, None, _qty(line.ndc_quantity or Decimal(1)), line.ndc_unit)
    if line.rendering:
        r = line.rendering
        tx.add("NM1", "82", "1", r.last_name, r.first_name, None, None, None, "XX", r.npi)
    for p in line.prior_payments:
        tx.add(
            "SVD",
            p.payer_id,
            _money(p.paid_minor),
            Composite("HC", p.procedure, *p.modifiers),
            None,
            _qty(p.units),
        )
        _cas(tx, p.adjustments)
        tx.add("DTP", "573", "D8", _d8(p.adjudicated_on))
