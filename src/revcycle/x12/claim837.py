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

How a set is written (the output is the one of the general writer, byte for byte; the types and
rules are in ``claim837_model`` and ``claim837_check``): segments are formatted with three glue
characters (``\\x1c`` between elements, ``\\x1d`` between components, ``\\x1e`` between
segments) while counting how many of each were put in. The whole set is then cleaned at once:
delimiter characters and line breaks (data only, since the structure is glue) are removed, it is
upper-cased, trailing empty components and elements are dropped, a segment left with no data
raises ``x12.empty_segment``, and the glue becomes the delimiters. If the set holds more glue
characters than were put in (the data carries one), or a delimiter is a glue character, that set
is written by ``claim837_general`` instead, one element at a time. Blocks repeated across claims
(a payer with its address, a provider, an HI for the same codes) are formatted once per batch,
and dates, amounts and quantities are formatted once per distinct value.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from decimal import Decimal

from revcycle.x12 import claim837_general as general
from revcycle.x12.claim837_check import Checker, check_batch, check_claim
from revcycle.x12.claim837_model import (
    CAS_GROUPS,
    FILING_CODES,
    MAX_DIAGNOSES,
    MAX_LINES,
    PATIENT_RELATIONSHIPS,
    RESPONSIBILITY,
    VERSION,
    Address,
    Adjustment,
    Batch,
    BillingProvider,
    Built837,
    Claim,
    ClaimBuildError,
    ClaimLocation,
    LineAdjudication,
    OtherPayer,
    Party,
    Patient,
    Payer,
    Person,
    Provider,
    Receiver,
    ServiceLine,
    Submitter,
    Subscriber,
    SubscriberGroup,
    Transaction837,
)
from revcycle.x12.core import Delimiters, X12Error
from revcycle.x12.writer import Envelope, InterchangeWriter, TransactionWriter

__all__ = [
    "CAS_GROUPS",
    "FILING_CODES",
    "MAX_DIAGNOSES",
    "MAX_LINES",
    "PATIENT_RELATIONSHIPS",
    "RESPONSIBILITY",
    "VERSION",
    "Address",
    "Adjustment",
    "Batch",
    "BillingProvider",
    "Built837",
    "Claim",
    "ClaimBuildError",
    "ClaimLocation",
    "LineAdjudication",
    "OtherPayer",
    "Party",
    "Patient",
    "Payer",
    "Person",
    "Provider",
    "Receiver",
    "ServiceLine",
    "Submitter",
    "Subscriber",
    "SubscriberGroup",
    "Transaction837",
    "build_837p",
    "check_batch",
    "check_claim",
]

_GLUE = "\x1c\x1d\x1e"  # element, component, segment
# A literal first (not "\x1d+") lets the regex engine skip ahead: ten times faster here.
_COMPONENT_BEFORE_END = re.compile("\x1d[\x1c\x1e]")
_TRAILING_COMPONENTS = re.compile("\x1d\x1d*(?=[\x1c\x1e])")
_EMPTY_SEGMENT = re.compile("\x1e([^\x1c\x1e]*)\x1e")
_ONE = Decimal(1)


def build_837p(batch: Batch, envelope: Envelope) -> Built837:
    # The cycle collector is paused while the batch is written: it would re-scan the batch's
    # objects again and again for strings that hold no cycles (it never stays paused after).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(batch, envelope)
    finally:
        if was_enabled:
            gc.enable()


def _build(batch: Batch, envelope: Envelope) -> Built837:
    checker = check_batch(batch)
    writer = InterchangeWriter(envelope, functional_id="HC", version=VERSION)
    d = envelope.delimiters
    fast = _Sets(batch, checker, d) if not set(_GLUE) & _delimiter_chars(d) else None
    locations: list[ClaimLocation] = []
    for t in batch.transactions:
        writer.reserve(t.control_number)
        text = fast.write(t, locations) if fast is not None else None
        if text is None:
            tx = TransactionWriter("837", t.control_number, VERSION, d)
            general.write_set(tx, batch, t, locations)
            text = d.segment.join(tx.finish())
        writer.append_text(text)
    return Built837(writer.render(), tuple(locations))


def _delimiter_chars(d: Delimiters) -> set[str]:
    return {d.element, d.component, d.segment, d.repetition or d.element, "\r", "\n"}


def _n3n4(a: Address) -> tuple[str, str]:
    n3 = f"N3\x1c{a.line1}\x1c{a.line2}" if a.line2 else f"N3\x1c{a.line1}"
    return n3, f"N4\x1c{a.city}\x1c{a.state}\x1c{a.postal_code}"


def _address_glue(a: Address) -> int:
    return 5 if a.line2 else 4  # element glue in N3 + N4


class _Sets:
    """Writes the sets of one batch; the caches live as long as the ``build_837p`` call."""

    def __init__(self, batch: Batch, checker: Checker, d: Delimiters) -> None:
        self.batch = batch
        self.icd = checker.icd
        bad = "".join(sorted(_delimiter_chars(d)))
        self._bad = bad
        self._clean = str.maketrans(dict.fromkeys(bad, None))
        self._glue = str.maketrans({"\x1c": d.element, "\x1d": d.component, "\x1e": d.segment})
        self._el = d.element
        self._d8: dict[dt.date, str] = {}
        self._money: dict[int, str] = {}
        self._qty: dict[Decimal, str] = {}
        self._blocks: dict[tuple[str, int], tuple[list[str], int]] = {}
        self._hi: dict[tuple[str, ...], tuple[str, int]] = {}
        self._mods: dict[tuple[tuple[str, ...], bool], tuple[str, int]] = {}
        self._pointers: dict[tuple[int, ...], tuple[str, int]] = {}
        self.out: list[str] = []
        self.ne = self.nc = 0
        self._header = self._head()

    # -- values ------------------------------------------------------------------------------
    def d8(self, day: dt.date) -> str:
        s = self._d8.get(day)
        if s is None:
            s = self._d8[day] = day.strftime("%Y%m%d")
        return s

    def money(self, minor: int) -> str:
        if type(minor) is not int:
            return general.money(minor)
        s = self._money.get(minor)
        if s is None:
            s = self._money[minor] = general.money(minor)
        return s

    def qty(self, value: Decimal) -> str:
        if type(value) is not Decimal or not value or value.is_nan():
            return format(value.normalize(), "f")  # -0 keeps its sign: never shared
        s = self._qty.get(value)
        if s is None:
            s = self._qty[value] = format(value.normalize(), "f")
        return s

    # -- blocks formatted once per batch -------------------------------------------------------
    def _head(self) -> tuple[list[str], int]:
        b = self.batch
        s, r, bp = b.submitter, b.receiver, b.billing_provider
        segs = [
            f"NM1\x1c41\x1c{s.party.entity_type}\x1c{s.party.name}\x1c{s.party.first_name or ''}"
            f"\x1c\x1c\x1c\x1c46\x1c{s.id}",
            f"PER\x1cIC\x1c{s.contact_name}\x1cTE\x1c{s.phone}",
            f"NM1\x1c40\x1c2\x1c{r.name}\x1c\x1c\x1c\x1c\x1c46\x1c{r.id}",
            "HL\x1c1\x1c\x1c20\x1c1",
        ]
        ne = 9 + 4 + 9 + 4
        if bp.taxonomy:
            segs.append(f"PRV\x1cBI\x1cPXC\x1c{bp.taxonomy}")
            ne += 3
        p = bp.party
        segs += [
            f"NM1\x1c85\x1c{p.entity_type}\x1c{p.name}\x1c{p.first_name or ''}"
            f"\x1c{p.middle_name or ''}\x1c\x1c\x1cXX\x1c{bp.npi}",
            *_n3n4(bp.address),
            f"REF\x1cEI\x1c{bp.tax_id.replace('-', '')}",
        ]
        return segs, ne + 9 + _address_glue(bp.address) + 2

    def payer(self, payer: Payer) -> tuple[list[str], int]:
        """NM1*PR with the payer's address (2010BB)."""
        key = ("PR", id(payer))
        block = self._blocks.get(key)
        if block is None:
            segs = [f"NM1\x1cPR\x1c2\x1c{payer.name}\x1c\x1c\x1c\x1c\x1cPI\x1c{payer.payer_id}"]
            ne = 9
            if payer.address:
                segs += _n3n4(payer.address)
                ne += _address_glue(payer.address)
            block = self._blocks[key] = (segs, ne)
        return block

    def address(self, a: Address) -> tuple[list[str], int]:
        key = ("N3", id(a))
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = (list(_n3n4(a)), _address_glue(a))
        return block

    def provider(self, qualifier: str, r: Provider, with_taxonomy: bool) -> tuple[list[str], int]:
        """NM1*82 / NM1*DN (and PRV*PE for the claim's rendering provider with a taxonomy)."""
        key = (qualifier + ("T" if with_taxonomy else ""), id(r))
        block = self._blocks.get(key)
        if block is None:
            segs = [
                f"NM1\x1c{qualifier}\x1c1\x1c{r.last_name}\x1c{r.first_name}\x1c\x1c\x1c\x1cXX"
                f"\x1c{r.npi}"
            ]
            ne = 9
            if with_taxonomy and r.taxonomy:
                segs.append(f"PRV\x1cPE\x1cPXC\x1c{r.taxonomy}")
                ne += 3
            block = self._blocks[key] = (segs, ne)
        return block

    def hi(self, codes: tuple[str, ...]) -> tuple[str, int]:
        """HI and its element (= component) glue count."""
        seg = self._hi.get(codes)
        if seg is None:
            icd = self.icd
            parts = [f"ABK\x1d{icd[codes[0]]}", *(f"ABF\x1d{icd[c]}" for c in codes[1:])]
            seg = self._hi[codes] = ("HI\x1c" + "\x1c".join(parts), len(codes))
        return seg

    def modifiers(self, mods: tuple[str, ...], padded: bool) -> tuple[str, int]:
        """``:M1:M2`` (padded to four when a description follows) and its component glue."""
        key = (mods, padded)
        got = self._mods.get(key)
        if got is None:
            parts = list(mods) + ([""] * (4 - len(mods)) if padded else [])
            got = self._mods[key] = ("".join("\x1d" + m for m in parts), len(parts))
        return got

    def pointers(self, pointers: tuple[int, ...]) -> tuple[str, int]:
        got = self._pointers.get(pointers)
        if got is None:
            got = self._pointers[pointers] = (
                "\x1d".join(str(p) for p in pointers),
                len(pointers) - 1,
            )
        return got

    # -- a set -------------------------------------------------------------------------------
    def write(self, t: Transaction837, locations: list[ClaimLocation]) -> str | None:
        """The set's text (ST..SE), or None when it must be written by the general writer."""
        b = self.batch
        self.out = out = [
            f"ST\x1c837\x1c{t.control_number}\x1c{VERSION}",
            f"BHT\x1c0019\x1c00\x1c{t.batch_reference}\x1c{self.d8(b.created_at.date())}"
            f"\x1c{b.created_at.strftime('%H%M')}\x1cCH",
        ]
        head, head_ne = self._header
        out += head
        self.ne, self.nc = 3 + 6 + head_ne, 0
        found: list[ClaimLocation] = []
        hl = 1
        for group in t.groups:
            hl = self.group(group, hl, t.control_number, found)
        raw = "\x1e".join(out) + "\x1e"
        if (
            raw.count("\x1c") != self.ne
            or raw.count("\x1d") != self.nc
            or raw.count("\x1e") != len(out)
        ):
            return None  # a glue character in the data
        if any(c in raw for c in self._bad):
            raw = raw.translate(self._clean)  # delimiters and line breaks inside data
        raw = raw.upper()
        if _COMPONENT_BEFORE_END.search(raw) is not None:
            raw = _TRAILING_COMPONENTS.sub("", raw)
        if "\x1c\x1e" in raw:
            while "\x1c\x1e" in raw:  # one pass per empty element in the longest run
                raw = raw.replace("\x1c\x1e", "\x1e")
            # Every segment is written with at least one element: only this can empty one.
            empty = _EMPTY_SEGMENT.search(raw)
            if empty is not None:
                sid = empty.group(1)
                raise X12Error("x12.empty_segment", f"segment {sid} has no data", segment_id=sid)
        locations += found
        el = self._el
        return raw.translate(self._glue) + f"SE{el}{len(out) + 1}{el}{t.control_number}"

    def group(
        self, group: SubscriberGroup, hl: int, set_number: str, found: list[ClaimLocation]
    ) -> int:
        out = self.out
        sub, patient, p = group.subscriber, group.patient, group.subscriber.person
        me = hl + 1
        gn = sub.group_number
        out.append(f"HL\x1c{me}\x1c1\x1c22\x1c{'0' if patient is None else '1'}")
        out.append(
            f"SBR\x1c{sub.responsibility}\x1c{'18' if patient is None else ''}\x1c{gn or ''}"
            f"\x1c{'' if gn else sub.group_name or ''}\x1c\x1c\x1c\x1c\x1c{sub.filing_code}"
        )
        out.append(
            f"NM1\x1cIL\x1c1\x1c{p.last_name}\x1c{p.first_name}\x1c{p.middle_name or ''}"
            f"\x1c\x1c\x1cMI\x1c{sub.member_id}"
        )
        ne = 4 + 9 + 9
        if patient is None:
            if p.address:
                segs, n = self.address(p.address)
                out += segs
                ne += n
            out.append(f"DMG\x1cD8\x1c{self.d8(p.birth_date)}\x1c{p.gender}")
            ne += 3
        segs, n = self.payer(group.payer)
        out += segs
        ne += n
        if patient is not None:
            q = patient.person
            hl = me + 1
            out.append(f"HL\x1c{hl}\x1c{me}\x1c23\x1c0")
            out.append(f"PAT\x1c{patient.relationship}")
            if q.middle_name:
                out.append(f"NM1\x1cQC\x1c1\x1c{q.last_name}\x1c{q.first_name}\x1c{q.middle_name}")
                ne += 4 + 1 + 5
            else:
                out.append(f"NM1\x1cQC\x1c1\x1c{q.last_name}\x1c{q.first_name}")
                ne += 4 + 1 + 4
            if q.address:
                segs, n = self.address(q.address)
                out += segs
                ne += n
            out.append(f"DMG\x1cD8\x1c{self.d8(q.birth_date)}\x1c{q.gender}")
            ne += 3
        else:
            hl = me
        self.ne += ne
        for claim in group.claims:
            first = len(out) + 1
            self.claim(claim)
            found.append(ClaimLocation(claim.claim_id, set_number, first, len(out)))
        return hl

    def claim(self, c: Claim) -> None:  # noqa: C901, PLR0912 - the 2300 loop
        out = self.out
        out.append(
            f"CLM\x1c{c.claim_id}\x1c{self.money(c.charge_minor)}\x1c\x1c\x1c{c.place_of_service}"
            f"\x1dB\x1d{c.frequency}\x1c{'Y' if c.provider_signature else 'N'}\x1c{c.assignment}"
            f"\x1c{c.benefits_assigned}\x1c{c.release_of_information}"
        )
        ne, nc = 9, 2
        if c.onset_date:
            out.append(f"DTP\x1c431\x1cD8\x1c{self.d8(c.onset_date)}")
            ne += 3
        if c.patient_paid_minor:
            out.append(f"AMT\x1cF5\x1c{self.money(c.patient_paid_minor)}")
            ne += 2
        for qualifier, value in (
            ("9F", c.referral_number),
            ("G1", c.prior_authorization),
            ("F8", c.original_claim_number if c.frequency in ("7", "8") else None),
            ("EA", c.medical_record_number),
        ):
            if value:
                out.append(f"REF\x1c{qualifier}\x1c{value}")
                ne += 2
        hi, n = self.hi(c.diagnoses)
        out.append(hi)
        ne += n
        nc += n
        if c.referring:
            segs, n = self.provider("DN", c.referring, False)
            out += segs
            ne += n
        if c.rendering:
            segs, n = self.provider("82", c.rendering, True)
            out += segs
            ne += n
        if c.service_location:
            name, npi, address = c.service_location
            out.append(f"NM1\x1c77\x1c2\x1c{name}\x1c\x1c\x1c\x1c\x1cXX\x1c{npi}")
            segs, n = self.address(address)
            out += segs
            ne += 9 + n
        self.ne += ne
        self.nc += nc
        if c.other_payers:
            line_payments = any(line.prior_payments for line in c.lines)
            for o in c.other_payers:
                self.other_payer(o, line_payments)
        for n, line in enumerate(c.lines, 1):
            self.line(n, c, line)

    def other_payer(self, o: OtherPayer, line_payments: bool) -> None:
        out = self.out
        out.append(
            f"SBR\x1c{o.responsibility}\x1c{o.relationship}\x1c{o.group_number or ''}"
            f"\x1c\x1c\x1c\x1c\x1c\x1c{o.filing_code}"
        )
        self.ne += 9
        self.cas(o.adjustments)
        ne = 0
        if o.paid_minor is not None:
            out.append(f"AMT\x1cD\x1c{self.money(o.paid_minor)}")
            ne += 2
        if o.remaining_patient_liability_minor is not None:
            out.append(f"AMT\x1cEAF\x1c{self.money(o.remaining_patient_liability_minor)}")
            ne += 2
        s = o.subscriber
        out.append("OI\x1c\x1c\x1cY\x1c\x1c\x1cY")
        out.append(
            f"NM1\x1cIL\x1c{s.entity_type}\x1c{s.name}\x1c{s.first_name or ''}"
            f"\x1c{s.middle_name or ''}\x1c\x1c\x1cMI\x1c{o.member_id}"
        )
        out.append(f"NM1\x1cPR\x1c2\x1c{o.payer.name}\x1c\x1c\x1c\x1c\x1cPI\x1c{o.payer.payer_id}")
        ne += 6 + 9 + 9
        if o.adjudicated_on and not line_payments:
            out.append(f"DTP\x1c573\x1cD8\x1c{self.d8(o.adjudicated_on)}")
            ne += 3
        if o.claim_number:
            out.append(f"REF\x1cF8\x1c{o.claim_number}")
            ne += 2
        self.ne += ne

    def cas(self, adjustments: tuple[Adjustment, ...]) -> None:
        if not adjustments:
            return
        for group in ("CO", "OA", "PI", "PR"):
            items = [a for a in adjustments if a.group == group]
            if not items:
                continue
            parts = [group]
            for a in items:
                quantity = self.qty(a.quantity) if a.quantity else ""
                parts += [a.reason, self.money(a.amount_minor), quantity]
            if not parts[-1]:
                parts.pop()  # no quantity on the last one (an amount is never empty)
            self.out.append("CAS\x1c" + "\x1c".join(parts))
            self.ne += len(parts)

    def line(self, n: int, c: Claim, line: ServiceLine) -> None:
        out = self.out
        desc = line.description
        mods, nc = self.modifiers(line.modifiers, bool(desc))
        pointers, pnc = self.pointers(line.diagnosis_pointers)
        pos = line.place_of_service
        tail = "\x1d" + desc if desc else ""
        out.append(f"LX\x1c{n}")
        out.append(
            f"SV1\x1cHC\x1d{line.procedure}{mods}{tail}"
            f"\x1c{self.money(line.charge_minor)}\x1c{line.unit_code}\x1c{self.qty(line.units)}"
            f"\x1c{pos if pos != c.place_of_service and pos else ''}\x1c\x1c{pointers}"
        )
        day = self.d8(line.service_date)
        to = line.service_date_to
        if to and to != line.service_date:
            out.append(f"DTP\x1c472\x1cRD8\x1c{day}-{self.d8(to)}")
        else:
            out.append(f"DTP\x1c472\x1cD8\x1c{day}")
        out.append(f"REF\x1c6R\x1c{line.line_control_number}")
        ne = 1 + 7 + 3 + 2
        nc += 1 + pnc + (1 if desc else 0)
        if line.ndc:
            out.append(f"LIN\x1c\x1cN4\x1c{line.ndc}")
            out.append(
                f"CTP\x1c\x1c\x1c\x1c{self.qty(line.ndc_quantity or _ONE)}\x1c{line.ndc_unit}"
            )
            ne += 3 + 5
        if line.rendering:
            segs, k = self.provider("82", line.rendering, False)
            out += segs
            ne += k
        self.ne += ne
        self.nc += nc
        for p in line.prior_payments:
            self.svd(p)

    def svd(self, p: LineAdjudication) -> None:
        mods = "".join("\x1d" + m for m in p.modifiers)
        self.out.append(
            f"SVD\x1c{p.payer_id}\x1c{self.money(p.paid_minor)}\x1cHC\x1d{p.procedure}{mods}"
            f"\x1c\x1c{self.qty(p.units)}"
        )
        self.ne += 5
        self.nc += 1 + len(p.modifiers)
        self.cas(p.adjustments)
        self.out.append(f"DTP\x1c573\x1cD8\x1c{self.d8(p.adjudicated_on)}")
        self.ne += 3
