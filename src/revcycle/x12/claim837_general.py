"""The general 837P writer: every value through ``TransactionWriter.add`` (cleaned one element
at a time). ``build_837p`` writes a set this way only when the fast writer cannot (the data holds
one of its glue characters, or a delimiter is one); both write the same bytes, which
tests/claims837 checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from revcycle.kit import codes as idcodes
from revcycle.x12.claim837_model import (
    Address,
    Adjustment,
    Batch,
    Claim,
    ClaimLocation,
    ServiceLine,
    SubscriberGroup,
    Transaction837,
)
from revcycle.x12.writer import Composite, TransactionWriter


# -- writing ---------------------------------------------------------------------------------
def money(minor: int) -> str:
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
            elements += [a.reason, money(a.amount_minor), _qty(a.quantity) if a.quantity else None]
        tx.add("CAS", *elements)


class _Hl:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def write_set(
    tx: TransactionWriter, batch: Batch, t: Transaction837, locations: list[ClaimLocation]
) -> None:
    """The segments of set ``t`` after its ST (SE is added by ``tx.finish()``)."""
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
    tx.add("NM1", "40", "2", batch.receiver.name, None, None, None, None, "46", batch.receiver.id)
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
        money(c.charge_minor),
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
        tx.add("AMT", "F5", money(c.patient_paid_minor))
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
            tx.add("AMT", "D", money(o.paid_minor))
        if o.remaining_patient_liability_minor is not None:
            tx.add("AMT", "EAF", money(o.remaining_patient_liability_minor))
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
        money(line.charge_minor),
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
            money(p.paid_minor),
            Composite("HC", p.procedure, *p.modifiers),
            None,
            _qty(p.units),
        )
        _cas(tx, p.adjustments)
        tx.add("DTP", "573", "D8", _d8(p.adjudicated_on))
