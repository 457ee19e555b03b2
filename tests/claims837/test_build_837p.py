"""837P generation: exact segments, the rules checked before writing, and every generated file
validated by pyx12's 005010X222A1 map (its Python API; its x12valid command crashes on valid
files). Shapes covered: subscriber is the patient, a dependant (2000C), several lines with
modifiers, a replacement claim (frequency 7 with REF*F8), a secondary claim with the primary's
adjudication (2320/2330/2430), a drug line (LIN/CTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
from decimal import Decimal
from typing import Any

import pytest

from revcycle.x12.claim837 import (
    Address,
    Adjustment,
    Batch,
    BillingProvider,
    Claim,
    ClaimBuildError,
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
    build_837p,
)
from revcycle.x12.core import read_transactions
from revcycle.x12.writer import Envelope

pytest.importorskip("pyx12", reason="pyx12 (dev extra) is not installed")
import pyx12.params  # noqa: E402
import pyx12.x12n_document  # noqa: E402

WHEN = dt.datetime(2026, 11, 27, 9, 30)
ENVELOPE = Envelope("REVCYCLE", "CLEARHOUSE", 101, 7, WHEN, usage="T")
CLINIC = BillingProvider(
    Party("RIVERSIDE FAMILY CLINIC"),
    npi="1234567893",
    tax_id="12-3456789",
    address=Address("100 MAIN ST", "SPRINGFIELD", "IL", "627011234"),
    taxonomy="207Q00000X",
)
SUBMITTER = Submitter(Party("RIVERSIDE FAMILY CLINIC"), "REVCYCLE", "BILLING OFFICE", "2175551234")
RECEIVER = Receiver("CLEARHOUSE", "CLEARHOUSE")
ACME = Payer("ACME HEALTH", "ACME01")
SECOND = Payer("SECOND MUTUAL", "SEC02")
JANE = Person(
    "DOE", "JANE", dt.date(1980, 4, 2), "F", Address("5 OAK AVE", "SPRINGFIELD", "IL", "62702")
)
SAM = Person(
    "DOE", "SAM", dt.date(2015, 6, 9), "M", Address("5 OAK AVE", "SPRINGFIELD", "IL", "62702")
)
DOS = dt.date(2026, 11, 20)


def line(
    n: int, code: str, charge: int, *mods: str, pointers: tuple[int, ...] = (1,)
) -> ServiceLine:
    return ServiceLine(code, charge, Decimal(1), DOS, pointers, f"L{n}", modifiers=mods)


OFFICE_VISIT = Claim(
    "INV-1001",
    20000,
    "11",
    ("E11.65", "I10"),
    (line(1, "99214", 15000, "25", pointers=(1, 2)), line(2, "83036", 5000, pointers=(1,))),
    prior_authorization="AUTH-77",
)


def batch(*groups: SubscriberGroup) -> Batch:
    return Batch(SUBMITTER, RECEIVER, CLINIC, (Transaction837("0001", "BATCH0001", groups),), WHEN)


def pyx12_errors(text: str) -> list[tuple[str, str, str]]:
    out = io.StringIO()
    log = logging.getLogger("pyx12")
    was, log.disabled = log.disabled, True  # pyx12 logs segment text (PHI): keep it out of logs
    try:
        pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(text), None, None, fd_json=out
        )
    finally:
        log.disabled = was
    import json

    found: list[tuple[str, str, str]] = []

    def walk(node: Any, seg_id: str | None) -> None:
        if isinstance(node, dict):
            seg_id = node.get("seg_id", seg_id)
            for err in node.get("errors") or []:
                if isinstance(err, dict) and "err_str" in err:
                    found.append((seg_id or "", str(err.get("err_cde")), str(err["err_str"])))
            for value in node.values():
                walk(value, seg_id)
        elif isinstance(node, list):
            for value in node:
                walk(value, seg_id)

    raw = out.getvalue()
    walk(json.loads(raw) if raw.strip() else [], None)
    return found


def segments(text: str) -> list[str]:
    return [s for s in text.split("~") if s]


def test_subscriber_is_the_patient_exact_segments() -> None:
    built = build_837p(
        batch(
            SubscriberGroup(
                Subscriber(JANE, "W123456789", group_number="G-55"), ACME, (OFFICE_VISIT,)
            )
        ),
        ENVELOPE,
    )
    segs = segments(built.text)
    assert segs[0] == (
        "ISA*00*          *00*          *ZZ*REVCYCLE       *ZZ*CLEARHOUSE     *261127*0930*^*00501*"
        "000000101*0*T*:"
    )
    assert segs[1:] == [
        "GS*HC*REVCYCLE*CLEARHOUSE*20261127*0930*7*X*005010X222A1",
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*BATCH0001*20261127*0930*CH",
        "NM1*41*2*RIVERSIDE FAMILY CLINIC*****46*REVCYCLE",
        "PER*IC*BILLING OFFICE*TE*2175551234",
        "NM1*40*2*CLEARHOUSE*****46*CLEARHOUSE",
        "HL*1**20*1",
        "PRV*BI*PXC*207Q00000X",
        "NM1*85*2*RIVERSIDE FAMILY CLINIC*****XX*1234567893",
        "N3*100 MAIN ST",
        "N4*SPRINGFIELD*IL*627011234",
        "REF*EI*123456789",
        "HL*2*1*22*0",
        "SBR*P*18*G-55******CI",
        "NM1*IL*1*DOE*JANE****MI*W123456789",
        "N3*5 OAK AVE",
        "N4*SPRINGFIELD*IL*62702",
        "DMG*D8*19800402*F",
        "NM1*PR*2*ACME HEALTH*****PI*ACME01",
        "CLM*INV-1001*200***11:B:1*Y*A*Y*Y",
        "REF*G1*AUTH-77",
        "HI*ABK:E1165*ABF:I10",
        "LX*1",
        "SV1*HC:99214:25*150*UN*1***1:2",
        "DTP*472*D8*20261120",
        "REF*6R*L1",
        "LX*2",
        "SV1*HC:83036*50*UN*1***1",
        "DTP*472*D8*20261120",
        "REF*6R*L2",
        "SE*30*0001",
        "GE*1*7",
        "IEA*1*000000101",
    ]
    assert [
        (c.claim_id, c.set_control_number, c.first_segment, c.last_segment) for c in built.claims
    ] == [("INV-1001", "0001", 19, 29)]
    assert pyx12_errors(built.text) == []
    result = read_transactions(built.text)
    assert result.errors == []


def test_dependant_replacement_drug_and_several_subscribers_validate() -> None:
    dependant_claim = Claim(
        "INV-1002",
        12550,
        "11",
        ("J02.9",),
        (
            ServiceLine("99213", 9000, Decimal(1), DOS, (1,), "L3", rendering=None),
            ServiceLine(
                "J0696",
                3550,
                Decimal(2),
                DOS,
                (1,),
                "L4",
                ndc="00409734501",
                ndc_quantity=Decimal("2"),
                ndc_unit="UN",
            ),
        ),
        frequency="7",
        original_claim_number="ICN-0099",
        referring=Provider("SMITH", "ANNA", "1245319599"),
        rendering=Provider("JONES", "PAT", "1679576722", taxonomy="208000000X"),
    )
    built = build_837p(
        batch(
            SubscriberGroup(Subscriber(JANE, "W123456789"), ACME, (OFFICE_VISIT,)),
            SubscriberGroup(
                Subscriber(JANE, "W123456789"), ACME, (dependant_claim,), patient=Patient(SAM, "19")
            ),
        ),
        ENVELOPE,
    )
    segs = segments(built.text)
    assert "HL*4*3*23*0" in segs
    assert "PAT*19" in segs
    assert "NM1*QC*1*DOE*SAM" in segs
    assert "CLM*INV-1002*125.5***11:B:7*Y*A*Y*Y" in segs
    assert "REF*F8*ICN-0099" in segs
    assert "LIN**N4*00409734501" in segs
    assert "CTP****2*UN" in segs
    assert "NM1*82*1*JONES*PAT****XX*1679576722" in segs
    assert pyx12_errors(built.text) == []


def test_secondary_claim_with_the_primary_adjudication_validates() -> None:
    # The primary paid L1 80 (CO-45 30, PR-1 40) and L2 20 (CO-45 20, PR-2 10).
    primary = OtherPayer(
        responsibility="P",
        relationship="18",
        filing_code="CI",
        subscriber=Party("DOE", "JANE"),
        member_id="W123456789",
        payer=ACME,
        paid_minor=10000,
        adjudicated_on=dt.date(2026, 11, 25),
        claim_number="ICN-0001",
        remaining_patient_liability_minor=5000,
    )
    lines = (
        ServiceLine(
            "99214",
            15000,
            Decimal(1),
            DOS,
            (1,),
            "L1",
            modifiers=("25",),
            prior_payments=(
                LineAdjudication(
                    "ACME01",
                    8000,
                    "99214",
                    ("25",),
                    Decimal(1),
                    dt.date(2026, 11, 25),
                    (Adjustment("CO", "45", 3000), Adjustment("PR", "1", 4000)),
                ),
            ),
        ),
        ServiceLine(
            "83036",
            5000,
            Decimal(1),
            DOS,
            (1,),
            "L2",
            prior_payments=(
                LineAdjudication(
                    "ACME01",
                    2000,
                    "83036",
                    (),
                    Decimal(1),
                    dt.date(2026, 11, 25),
                    (Adjustment("CO", "45", 2000), Adjustment("PR", "2", 1000)),
                ),
            ),
        ),
    )
    claim = Claim("INV-1001", 20000, "11", ("E11.65",), lines, other_payers=(primary,))
    built = build_837p(
        batch(
            SubscriberGroup(
                Subscriber(JANE, "S-445", responsibility="S", filing_code="CI"), SECOND, (claim,)
            )
        ),
        ENVELOPE,
    )
    segs = segments(built.text)
    start = segs.index("SBR*P*18*******CI")
    assert segs[start : start + 6] == [
        "SBR*P*18*******CI",
        "AMT*D*100",
        "AMT*EAF*50",
        "OI***Y***Y",
        "NM1*IL*1*DOE*JANE****MI*W123456789",
        "NM1*PR*2*ACME HEALTH*****PI*ACME01",
    ]
    assert "SVD*ACME01*80*HC:99214:25**1" in segs
    assert "CAS*CO*45*30" in segs
    assert "CAS*PR*1*40" in segs
    assert "DTP*573*D8*20261125" in segs
    assert pyx12_errors(built.text) == []


def _claim(**changes: object) -> Claim:
    return dataclasses.replace(OFFICE_VISIT, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        (
            _claim(charge_minor=20001),
            "claim INV-1001: charge: CLM02 20001 must equal the sum of the lines 20000",
        ),
        (_claim(claim_id="X" * 21), "claim_id: 1-20 letters"),
        (_claim(diagnoses=tuple(["I10"] * 13)), "diagnoses: 1 to 12 ICD-10-CM codes"),
        (_claim(diagnoses=("I10",)), "lines[1]: 1 to 4 diagnosis pointers, each 1..1"),
        (_claim(frequency="7"), "original_claim_number: a replacement or void needs"),
        (_claim(place_of_service="1"), "place_of_service"),
        (
            _claim(rendering=Provider("RIVER", "SIDE", "1234567893")),
            "omit it when it is the billing provider",
        ),
        (
            _claim(referring=Provider("BAD", "NPI", "1234567890")),
            "referring.npi: the NPI check digit does not match",
        ),
        (_claim(lines=(line(1, "9921", 20000),)), "lines[1]: not a CPT or HCPCS"),
        (
            _claim(lines=tuple(line(n, "99213", 100) for n in range(51)), charge_minor=5100),
            "1 to 50 service lines",
        ),
        (
            _claim(lines=(line(1, "99214", 15000), line(1, "83036", 5000))),
            "its own line_control_number",
        ),
    ],
)
def test_rules_are_checked_before_anything_is_written(claim: Claim, message: str) -> None:
    with pytest.raises(ClaimBuildError) as exc:
        build_837p(batch(SubscriberGroup(Subscriber(JANE, "W1"), ACME, (claim,))), ENVELOPE)
    assert message in exc.value.message


def test_cob_must_balance_per_line() -> None:
    primary = OtherPayer("P", "18", "CI", Party("DOE", "JANE"), "W1", ACME, paid_minor=10000)
    bad_line = ServiceLine(
        "99214",
        20000,
        Decimal(1),
        DOS,
        (1,),
        "L1",
        prior_payments=(
            LineAdjudication(
                "ACME01", 10000, "99214", (), Decimal(1), DOS, (Adjustment("CO", "45", 9000),)
            ),
        ),
    )
    claim = Claim("INV-9", 20000, "11", ("I10",), (bad_line,), other_payers=(primary,))
    with pytest.raises(ClaimBuildError, match="CLM02 20000 must equal paid 10000"):
        build_837p(
            batch(SubscriberGroup(Subscriber(JANE, "S1", responsibility="S"), SECOND, (claim,))),
            ENVELOPE,
        )


def test_billing_provider_rules() -> None:
    for bp, message in [
        (dataclasses.replace(CLINIC, npi="1234567890"), "billing_provider.npi"),
        (
            dataclasses.replace(CLINIC, address=Address("PO BOX 9", "X", "IL", "627011234")),
            "PO box",
        ),
        (dataclasses.replace(CLINIC, address=Address("1 A ST", "X", "IL", "62701")), "9 digits"),
    ]:
        b = dataclasses.replace(
            batch(SubscriberGroup(Subscriber(JANE, "W1"), ACME, (OFFICE_VISIT,))),
            billing_provider=bp,
        )
        with pytest.raises(ClaimBuildError, match=message):
            build_837p(b, ENVELOPE)
