# ruff: noqa: E501 - exact error messages are kept on one line
"""Invalid batches, each with the exact error the builder raised for it before its speed-up (the
first rule broken, in the order the rules are checked). Used by test_golden.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from revcycle.x12.claim837 import (
    Address,
    Adjustment,
    Batch,
    Claim,
    OtherPayer,
    Patient,
    Provider,
    Subscriber,
    SubscriberGroup,
    Transaction837,
)
from revcycle.x12.writer import Envelope
from tests.x12.claim_samples import (
    ACME,
    CLINIC,
    JANE,
    OFFICE_VISIT,
    PRIMARY,
    RECEIVER,
    SAM,
    SECONDARY,
    SUBMITTER,
    WHEN,
    envelope,
    line,
)

ENV = envelope()


def _b(*claims: Claim, patient: Patient | None = None, sub: Subscriber | None = None) -> Batch:
    group = SubscriberGroup(sub or Subscriber(JANE, "W1"), ACME, claims, patient=patient)
    return Batch(SUBMITTER, RECEIVER, CLINIC, (Transaction837("0001", "B1", (group,)),), WHEN)


def _c(**changes: object) -> Batch:
    return _b(dataclasses.replace(OFFICE_VISIT, **changes))  # type: ignore[arg-type]


def _l(n: int, **changes: object) -> Batch:
    lines = list(OFFICE_VISIT.lines)
    lines[n] = dataclasses.replace(lines[n], **changes)  # type: ignore[arg-type]
    return _c(lines=tuple(lines))


def _bp(**changes: object) -> Batch:
    return dataclasses.replace(
        _b(OFFICE_VISIT),
        billing_provider=dataclasses.replace(CLINIC, **changes),  # type: ignore[arg-type]
    )


def _sec(claim: Claim, *others: OtherPayer) -> Batch:
    c = dataclasses.replace(claim, other_payers=others) if others else claim
    return _b(c, sub=Subscriber(JANE, "S1", responsibility="S"))


def _adj(*adjs: Adjustment) -> Batch:
    first = dataclasses.replace(
        SECONDARY.lines[0],
        prior_payments=(
            dataclasses.replace(SECONDARY.lines[0].prior_payments[0], adjustments=adjs),
        ),
    )
    return _sec(dataclasses.replace(SECONDARY, lines=(first, SECONDARY.lines[1])))


def _lines(*changes: tuple[int, tuple[Adjustment, ...]]) -> Batch:
    """Secondary claim with line adjudications changed: (paid, adjustments) per line."""
    lines = []
    for ln, (paid, adjs) in zip(SECONDARY.lines, changes, strict=True):
        pp = dataclasses.replace(ln.prior_payments[0], paid_minor=paid, adjustments=adjs)
        lines.append(dataclasses.replace(ln, prior_payments=(pp,)))
    return _sec(dataclasses.replace(SECONDARY, lines=tuple(lines)))


def _txs(*txs: Transaction837) -> Batch:
    return dataclasses.replace(_b(OFFICE_VISIT), transactions=txs)


_G = SubscriberGroup(Subscriber(JANE, "W1"), ACME, (OFFICE_VISIT,))
_G2 = SubscriberGroup(
    Subscriber(JANE, "W1"), ACME, (dataclasses.replace(OFFICE_VISIT, claim_id="X2"),)
)
_LOC = ("ANNEX", "1588667638", Address("1 SIDE ST", "SPRINGFIELD", "IL", "627041000"))
_CO = Adjustment("CO", "45", 100)


def _A(group: str, amount: int) -> Adjustment:
    return Adjustment(group, "45" if group == "CO" else "1", amount)


# (name, batch factory, envelope); the expected errors are in EXPECTED
BAD: list[tuple[str, Callable[[], Batch], Envelope]] = [
    ("billing npi", lambda: _bp(npi="1234567890"), ENV),
    ("billing npi length", lambda: _bp(npi="123"), ENV),
    ("billing zip", lambda: _bp(address=Address("1 A ST", "X", "IL", "62701")), ENV),
    ("billing zip letters", lambda: _bp(address=Address("1 A ST", "X", "IL", "62701123A")), ENV),
    ("billing po box", lambda: _bp(address=Address("P.O. Box 9", "X", "IL", "627011234")), ENV),
    ("billing pmb", lambda: _bp(address=Address("pmb 12", "X", "IL", "627011234")), ENV),
    ("tax id", lambda: _bp(tax_id="12-34567"), ENV),
    ("taxonomy", lambda: _bp(taxonomy="207Q0000"), ENV),
    ("empty set", lambda: _txs(Transaction837("0001", "B1", ())), ENV),
    (
        "filing code",
        lambda: _b(OFFICE_VISIT, sub=Subscriber(JANE, "W1", filing_code="XX")),
        ENV,
    ),
    (
        "responsibility",
        lambda: _b(OFFICE_VISIT, sub=Subscriber(JANE, "W1", responsibility="Z")),
        ENV,
    ),
    ("relationship", lambda: _b(OFFICE_VISIT, patient=Patient(SAM, "18")), ENV),
    (
        "subscriber gender",
        lambda: _b(OFFICE_VISIT, sub=Subscriber(dataclasses.replace(JANE, gender="X"), "W1")),
        ENV,
    ),
    (
        "patient gender",
        lambda: _b(OFFICE_VISIT, patient=Patient(dataclasses.replace(SAM, gender="f"), "19")),
        ENV,
    ),
    ("no claims", lambda: _b(), ENV),
    (
        "101 claims",
        lambda: _b(*(dataclasses.replace(OFFICE_VISIT, claim_id=f"C{i}") for i in range(101))),
        ENV,
    ),
    ("duplicate claim", lambda: _txs(Transaction837("0001", "B", (_G, _G2, _G))), ENV),
    ("claim id empty", lambda: _c(claim_id=""), ENV),
    ("claim id char", lambda: _c(claim_id="A_1"), ENV),
    ("claim id long", lambda: _c(claim_id="X" * 21), ENV),
    ("no lines", lambda: _c(lines=(), charge_minor=0), ENV),
    (
        "51 lines",
        lambda: _c(lines=tuple(line(n, "99213", 100) for n in range(51)), charge_minor=5100),
        ENV,
    ),
    ("charge", lambda: _c(charge_minor=20001), ENV),
    ("no diagnoses", lambda: _c(diagnoses=()), ENV),
    ("13 diagnoses", lambda: _c(diagnoses=("I10",) * 13), ENV),
    ("bad icd", lambda: _c(diagnoses=("E11.65", "I1")), ENV),
    ("pos", lambda: _c(place_of_service="1A"), ENV),
    ("frequency", lambda: _c(frequency="2"), ENV),
    ("void without icn", lambda: _c(frequency="8"), ENV),
    ("rendering npi", lambda: _c(rendering=Provider("A", "B", "1679576723")), ENV),
    ("rendering billing", lambda: _c(rendering=Provider("A", "B", "1234567893")), ENV),
    ("referring npi", lambda: _c(referring=Provider("A", "B", "12345")), ENV),
    ("location npi", lambda: _c(service_location=("A", "1588667637", _LOC[2])), ENV),
    (
        "location zip",
        lambda: _c(service_location=(*_LOC[:2], Address("1 SIDE ST", "S", "IL", "62704"))),
        ENV,
    ),
    (
        "location po box",
        lambda: _c(service_location=(*_LOC[:2], Address("POBOX 1", "S", "IL", "627041000"))),
        ENV,
    ),
    ("duplicate line number", lambda: _l(1, line_control_number="L1"), ENV),
    ("empty line number", lambda: _l(1, line_control_number=""), ENV),
    ("procedure", lambda: _l(1, procedure="W1234"), ENV),
    ("modifier", lambda: _l(0, modifiers=("25", "G")), ENV),
    ("5 modifiers", lambda: _l(0, modifiers=("25", "59", "GT", "95", "76")), ENV),
    ("negative charge", lambda: _c(lines=(line(1, "99213", -1), line(2, "99213", 20001))), ENV),
    ("zero units", lambda: _l(1, units=Decimal(0)), ENV),
    ("no pointers", lambda: _l(1, diagnosis_pointers=()), ENV),
    ("5 pointers", lambda: _l(0, diagnosis_pointers=(1, 2, 1, 2, 1)), ENV),
    ("pointer range", lambda: _l(1, diagnosis_pointers=(3,)), ENV),
    ("period", lambda: _l(1, service_date_to=dt.date(2026, 11, 19)), ENV),
    ("line rendering npi", lambda: _l(1, rendering=Provider("A", "B", "0000000000")), ENV),
    ("ndc", lambda: _l(1, ndc="0040-9734-01"), ENV),
    ("line cas group", lambda: _adj(Adjustment("XX", "1", 100)), ENV),
    ("line cas zero", lambda: _adj(Adjustment("CO", "45", 0)), ENV),
    ("line cas 7", lambda: _adj(*[_CO] * 7), ENV),
    ("cob order", lambda: _sec(SECONDARY, PRIMARY, PRIMARY), ENV),
    (
        "cob responsibility",
        lambda: _sec(SECONDARY, dataclasses.replace(PRIMARY, responsibility="Z")),
        ENV,
    ),
    (
        "cob filing",
        lambda: _sec(SECONDARY, dataclasses.replace(PRIMARY, filing_code="ZZZ")),
        ENV,
    ),
    (
        "cob claim cas",
        lambda: _sec(
            SECONDARY, dataclasses.replace(PRIMARY, adjustments=(Adjustment("AB", "1", 1),))
        ),
        ENV,
    ),
    ("cob clm02", lambda: _sec(SECONDARY, dataclasses.replace(PRIMARY, paid_minor=9999)), ENV),
    (
        "cob amt d",
        lambda: _lines((8100, (_A("CO", 3000), _A("PR", 4000))), (2000, (_A("CO", 3000),))),
        ENV,
    ),
    (
        "cob line",
        lambda: _lines((8000, (_A("CO", 4000), _A("PR", 4000))), (2000, (_A("CO", 2000),))),
        ENV,
    ),
    (
        "two problems: the first rule wins",
        lambda: _c(claim_id="X" * 21, charge_minor=1),
        ENV,
    ),
    ("bad st02", lambda: _txs(Transaction837("01", "B", (_G,))), ENV),
    (
        "duplicate st02",
        lambda: _txs(Transaction837("0001", "B", (_G,)), Transaction837("0001", "B", (_G2,))),
        ENV,
    ),
    ("envelope", lambda: _b(OFFICE_VISIT), envelope(gs06=0)),
    (
        "empty segment",
        lambda: _b(
            OFFICE_VISIT,
            sub=Subscriber(
                dataclasses.replace(JANE, address=Address("*~", "X", "IL", "62702")), "W1"
            ),
        ),
        ENV,
    ),
    (
        "empty segment in the second set",
        lambda: _txs(
            Transaction837("0001", "B", (_G,)),
            Transaction837(
                "0002",
                "B",
                (
                    SubscriberGroup(
                        Subscriber(JANE, "W1"),
                        dataclasses.replace(ACME, address=Address("", "X", "IL", "1")),
                        (dataclasses.replace(OFFICE_VISIT, claim_id="X2"),),
                    ),
                ),
            ),
        ),
        ENV,
    ),
]


# name: (error code, claim id, field, message) as raised before the speed-up
EXPECTED: dict[str, tuple[str, str | None, str | None, str]] = {
    "billing npi": (
        "claim837.invalid",
        None,
        "billing_provider.npi",
        "billing_provider.npi: the NPI check digit does not match",
    ),
    "billing npi length": (
        "claim837.invalid",
        None,
        "billing_provider.npi",
        "billing_provider.npi: an NPI is exactly 10 digits",
    ),
    "billing zip": (
        "claim837.invalid",
        None,
        "billing_provider.address",
        "billing_provider.address: the ZIP code must have 9 digits (ZIP+4)",
    ),
    "billing zip letters": (
        "claim837.invalid",
        None,
        "billing_provider.address",
        "billing_provider.address: the ZIP code must have 9 digits (ZIP+4)",
    ),
    "billing po box": (
        "claim837.invalid",
        None,
        "billing_provider.address",
        "billing_provider.address: must be a street address, not a PO box",
    ),
    "billing pmb": (
        "claim837.invalid",
        None,
        "billing_provider.address",
        "billing_provider.address: must be a street address, not a PO box",
    ),
    "tax id": (
        "claim837.invalid",
        None,
        "billing_provider.tax_id",
        "billing_provider.tax_id: an EIN has 9 digits",
    ),
    "taxonomy": (
        "claim837.invalid",
        None,
        "billing_provider.taxonomy",
        "billing_provider.taxonomy: not a provider taxonomy code (e.g. 207Q00000X)",
    ),
    "empty set": ("claim837.invalid", None, "transactions", "transactions: set 0001 has no claims"),
    "filing code": (
        "claim837.invalid",
        None,
        "subscriber.filing_code",
        "subscriber.filing_code: 'XX'",
    ),
    "responsibility": (
        "claim837.invalid",
        None,
        "subscriber.responsibility",
        "subscriber.responsibility: 'Z'",
    ),
    "relationship": (
        "claim837.invalid",
        None,
        "patient.relationship",
        "patient.relationship: '18' is not a PAT01 code",
    ),
    "subscriber gender": ("claim837.invalid", None, "gender", "gender: F, M or U"),
    "patient gender": ("claim837.invalid", None, "gender", "gender: F, M or U"),
    "no claims": (
        "claim837.invalid",
        None,
        "claims",
        "claims: 1 to 100 claims per subscriber loop",
    ),
    "101 claims": (
        "claim837.invalid",
        None,
        "claims",
        "claims: 1 to 100 claims per subscriber loop",
    ),
    "duplicate claim": (
        "claim837.invalid",
        "INV-1001",
        "claim_id",
        "claim INV-1001: claim_id: appears twice in the batch",
    ),
    "claim id empty": (
        "claim837.invalid",
        None,
        "claim_id",
        "claim_id: 1-20 letters, digits, '-' or '.' (receivers keep 20)",
    ),
    "claim id char": (
        "claim837.invalid",
        "A_1",
        "claim_id",
        "claim A_1: claim_id: 1-20 letters, digits, '-' or '.' (receivers keep 20)",
    ),
    "claim id long": (
        "claim837.invalid",
        "XXXXXXXXXXXXXXXXXXXXX",
        "claim_id",
        "claim XXXXXXXXXXXXXXXXXXXXX: claim_id: 1-20 letters, digits, '-' or '.' (receivers keep 20)",
    ),
    "no lines": (
        "claim837.invalid",
        "INV-1001",
        "lines",
        "claim INV-1001: lines: a claim has 1 to 50 service lines",
    ),
    "51 lines": (
        "claim837.invalid",
        "INV-1001",
        "lines",
        "claim INV-1001: lines: a claim has 1 to 50 service lines",
    ),
    "charge": (
        "claim837.invalid",
        "INV-1001",
        "charge",
        "claim INV-1001: charge: CLM02 20001 must equal the sum of the lines 20000",
    ),
    "no diagnoses": (
        "claim837.invalid",
        "INV-1001",
        "diagnoses",
        "claim INV-1001: diagnoses: 1 to 12 ICD-10-CM codes",
    ),
    "13 diagnoses": (
        "claim837.invalid",
        "INV-1001",
        "diagnoses",
        "claim INV-1001: diagnoses: 1 to 12 ICD-10-CM codes",
    ),
    "bad icd": (
        "claim837.invalid",
        "INV-1001",
        "diagnoses",
        "claim INV-1001: diagnoses: 'I1': not an ICD-10-CM code (e.g. E11.9, S52.521A)",
    ),
    "pos": (
        "claim837.invalid",
        "INV-1001",
        "place_of_service",
        "claim INV-1001: place_of_service: a 2-digit CMS place of service code",
    ),
    "frequency": (
        "claim837.invalid",
        "INV-1001",
        "frequency",
        "claim INV-1001: frequency: 1 original, 7 replacement or 8 void",
    ),
    "void without icn": (
        "claim837.invalid",
        "INV-1001",
        "original_claim_number",
        "claim INV-1001: original_claim_number: a replacement or void needs the payer's claim number",
    ),
    "rendering npi": (
        "claim837.invalid",
        "INV-1001",
        "rendering.npi",
        "claim INV-1001: rendering.npi: the NPI check digit does not match",
    ),
    "rendering billing": (
        "claim837.invalid",
        "INV-1001",
        "rendering",
        "claim INV-1001: rendering: omit it when it is the billing provider",
    ),
    "referring npi": (
        "claim837.invalid",
        "INV-1001",
        "referring.npi",
        "claim INV-1001: referring.npi: an NPI is exactly 10 digits",
    ),
    "location npi": (
        "claim837.invalid",
        "INV-1001",
        "service_location.npi",
        "claim INV-1001: service_location.npi: the NPI check digit does not match",
    ),
    "location zip": (
        "claim837.invalid",
        "INV-1001",
        "service_location.address",
        "claim INV-1001: service_location.address: the ZIP code must have 9 digits (ZIP+4)",
    ),
    "location po box": (
        "claim837.invalid",
        "INV-1001",
        "service_location.address",
        "claim INV-1001: service_location.address: must be a street address, not a PO box",
    ),
    "duplicate line number": (
        "claim837.invalid",
        "INV-1001",
        "lines",
        "claim INV-1001: lines: every line needs its own line_control_number",
    ),
    "empty line number": (
        "claim837.invalid",
        "INV-1001",
        "lines",
        "claim INV-1001: lines: every line needs its own line_control_number",
    ),
    "procedure": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: not a CPT or HCPCS Level II code (e.g. 99213, J1100)",
    ),
    "modifier": (
        "claim837.invalid",
        "INV-1001",
        "lines[1]",
        "claim INV-1001: lines[1]: not a two-character procedure modifier (e.g. 25, LT)",
    ),
    "5 modifiers": (
        "claim837.invalid",
        "INV-1001",
        "lines[1]",
        "claim INV-1001: lines[1]: at most 4 modifiers",
    ),
    "negative charge": (
        "claim837.invalid",
        "INV-1001",
        "lines[1]",
        "claim INV-1001: lines[1]: charge >= 0 and units > 0",
    ),
    "zero units": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: charge >= 0 and units > 0",
    ),
    "no pointers": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: 1 to 4 diagnosis pointers, each 1..2",
    ),
    "5 pointers": (
        "claim837.invalid",
        "INV-1001",
        "lines[1]",
        "claim INV-1001: lines[1]: 1 to 4 diagnosis pointers, each 1..2",
    ),
    "pointer range": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: 1 to 4 diagnosis pointers, each 1..2",
    ),
    "period": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: the service period ends before it starts",
    ),
    "line rendering npi": (
        "claim837.invalid",
        "INV-1001",
        "lines[2].rendering.npi",
        "claim INV-1001: lines[2].rendering.npi: the NPI check digit does not match",
    ),
    "ndc": (
        "claim837.invalid",
        "INV-1001",
        "lines[2]",
        "claim INV-1001: lines[2]: an NDC has 11 digits (5-4-2, no hyphens)",
    ),
    "line cas group": (
        "claim837.invalid",
        "INV-1003",
        "lines[1].prior_payments",
        "claim INV-1003: lines[1].prior_payments: adjustment group 'XX' is not CO/OA/PI/PR",
    ),
    "line cas zero": (
        "claim837.invalid",
        "INV-1003",
        "lines[1].prior_payments",
        "claim INV-1003: lines[1].prior_payments: zero adjustment amounts are not sent",
    ),
    "line cas 7": (
        "claim837.invalid",
        "INV-1003",
        "lines[1].prior_payments",
        "claim INV-1003: lines[1].prior_payments: at most 6 CO adjustments",
    ),
    "cob order": (
        "claim837.invalid",
        "INV-1003",
        "other_payers",
        "claim INV-1003: other_payers: each other payer needs its own SBR01 order",
    ),
    "cob responsibility": (
        "claim837.invalid",
        "INV-1003",
        "other_payers[ACME01]",
        "claim INV-1003: other_payers[ACME01]: SBR01 'Z' is not a payer order",
    ),
    "cob filing": (
        "claim837.invalid",
        "INV-1003",
        "other_payers[ACME01]",
        "claim INV-1003: other_payers[ACME01]: SBR09 'ZZZ' is not a filing code",
    ),
    "cob claim cas": (
        "claim837.invalid",
        "INV-1003",
        "other_payers[ACME01]",
        "claim INV-1003: other_payers[ACME01]: adjustment group 'AB' is not CO/OA/PI/PR",
    ),
    "cob clm02": (
        "claim837.invalid",
        "INV-1003",
        "other_payers[ACME01]",
        "claim INV-1003: other_payers[ACME01]: CLM02 20000 must equal paid 9999 + claim adjustments 0 + line adjustments 10000",
    ),
    "cob amt d": (
        "claim837.invalid",
        "INV-1003",
        "other_payers[ACME01]",
        "claim INV-1003: other_payers[ACME01]: AMT*D 10000 must equal line payments 10100 - 0",
    ),
    "cob line": (
        "claim837.invalid",
        "INV-1003",
        "lines[1].prior_payments",
        "claim INV-1003: lines[1].prior_payments: line charge 15000 must equal paid + adjustments 16000",
    ),
    "two problems: the first rule wins": (
        "claim837.invalid",
        "XXXXXXXXXXXXXXXXXXXXX",
        "claim_id",
        "claim XXXXXXXXXXXXXXXXXXXXX: claim_id: 1-20 letters, digits, '-' or '.' (receivers keep 20)",
    ),
    "bad st02": (
        "x12.bad_control_number",
        None,
        None,
        "ST02 must be 4 to 9 digits (segment ST at position ?)",
    ),
    "duplicate st02": (
        "x12.duplicate_control_number",
        None,
        None,
        "ST02 0001 is already used in this group (segment ST at position ?)",
    ),
    "envelope": ("x12.bad_control_number", None, None, "GS06 must be 1..999999999"),
    "empty segment": (
        "x12.empty_segment",
        None,
        None,
        "segment N3 has no data (segment N3 at position ?)",
    ),
    "empty segment in the second set": (
        "x12.empty_segment",
        None,
        None,
        "segment N3 has no data (segment N3 at position ?)",
    ),
}
