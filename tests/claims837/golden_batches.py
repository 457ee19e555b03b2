"""Batches whose 837P text is stored in tests/claims837/golden/ (written by the builder as it was
before its speed-up, byte for byte). Together they use every segment ``build_837p`` writes and
the cleaning rules of the writer (upper case, delimiters and line breaks removed, trailing empty
elements and components dropped).

- ``dependants``: the subscriber as patient and a dependant (2000C) with an address, several
  claims per subscriber, several lines with up to four modifiers and a description, a line with
  its own place of service, rendering provider, drug (LIN/CTP), a period (RD8), anesthesia
  minutes; prior authorization, referral, medical record number, onset date, patient paid,
  referring and rendering providers, a service location; a replacement (7) and a void (8).
- ``cob``: a secondary claim with the primary's line adjudication (2320/2330/2430) and a
  tertiary claim with two prior payers (one with claim-level CAS only, one that has not paid),
  adjustment quantities, several reasons per group, negative adjustments; two sets.
- ``dirty``: other delimiters (``|`` ``>`` ``+``, newline terminator), lower case and
  accented data, delimiters and line breaks inside data, values (trailing ones too) that are
  empty once cleaned, a person as submitter, no taxonomy, a dashed EIN; a second set whose data
  holds the control characters the fast writer uses as glue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from revcycle.x12.claim837 import (
    Address,
    Adjustment,
    Batch,
    BillingProvider,
    Claim,
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
from revcycle.x12.core import Delimiters
from revcycle.x12.writer import Envelope
from tests.x12.claim_samples import (
    ACME,
    CLINIC,
    DOS,
    JANE,
    OFFICE_VISIT,
    RECEIVER,
    REPLACEMENT,
    SECOND,
    SECONDARY,
    SUBMITTER,
    WHEN,
    envelope,
    line,
)

SAM = Person(
    "DOE", "SAM", dt.date(2015, 6, 9), "M", Address("5 OAK AVE", "SPRINGFIELD", "IL", "62702"), "Q"
)
SMITH = Provider("SMITH", "ANNA", "1245319599")
JONES = Provider("JONES", "PAT", "1679576722", taxonomy="208000000X")
PAYER_WITH_ADDRESS = Payer(
    "THIRD LIFE", "TL003", Address("PO BOX 55", "PEORIA", "IL", "61601", line2="CLAIMS DEPT")
)


def _busy_claim() -> Claim:
    return Claim(
        "INV-2001",
        104_567,
        "11",
        ("E11.65", "I10", "Z79.4", "M54.50", "R51.9"),
        (
            ServiceLine(
                "99215",
                25000,
                Decimal(1),
                DOS,
                (1, 2, 3, 4),
                "L1",
                modifiers=("25", "GT", "95", "59"),
            ),
            ServiceLine(
                "99499",
                12345,
                Decimal("1.50"),
                DOS,
                (5,),
                "L2",
                description="Unlisted evaluation",
                place_of_service="02",
            ),
            ServiceLine(
                "00840",
                30000,
                Decimal("45"),
                DOS,
                (1,),
                "L3",
                unit_code="MJ",
                service_date_to=DOS,
                rendering=JONES,
            ),
            ServiceLine(
                "J1100",
                37222,
                Decimal("2.000"),
                DOS,
                (2, 1),
                "L4",
                modifiers=("JW",),
                service_date_to=dt.date(2026, 11, 22),
                ndc="00641036025",
            ),
        ),
        prior_authorization="AUTH-9",
        referral_number="REF-3",
        patient_paid_minor=2501,
        medical_record_number="MRN-77",
        onset_date=dt.date(2026, 10, 1),
        referring=SMITH,
        rendering=JONES,
        service_location=(
            "RIVERSIDE ANNEX",
            "1588667638",
            Address("200 SIDE ST", "SPRINGFIELD", "IL", "627041000", line2="SUITE 4"),
        ),
        provider_signature=False,
        assignment="C",
        benefits_assigned="N",
        release_of_information="I",
    )


def dependants() -> tuple[Batch, Envelope]:
    void = dataclasses.replace(
        OFFICE_VISIT,
        claim_id="INV-1001V",
        frequency="8",
        original_claim_number="ICN-4242",
        prior_authorization=None,
    )
    groups = (
        SubscriberGroup(
            Subscriber(JANE, "W123456789", group_number="G-55", group_name="IGNORED"),
            ACME,
            (OFFICE_VISIT, _busy_claim(), void),
        ),
        SubscriberGroup(
            Subscriber(JANE, "W123456789", group_name="ACME EMPLOYEES", filing_code="BL"),
            PAYER_WITH_ADDRESS,
            (REPLACEMENT,),
            patient=Patient(SAM, "19"),
        ),
        SubscriberGroup(
            Subscriber(dataclasses.replace(JANE, address=None, middle_name="R"), "W9"),
            ACME,
            (dataclasses.replace(OFFICE_VISIT, claim_id="INV-3001"),),
        ),
    )
    batch = Batch(SUBMITTER, RECEIVER, CLINIC, (Transaction837("0001", "BATCH0001", groups),), WHEN)
    return batch, envelope()


def cob() -> tuple[Batch, Envelope]:
    # Tertiary: the primary paid 100.00 of 200.00 at claim level (CO-45 60.00 with a quantity,
    # PR-1 30.00, PR-2 15.00, PR-3 -5.00 back), the secondary has not paid yet.
    primary = OtherPayer(
        responsibility="P",
        relationship="18",
        filing_code="MB",
        subscriber=Party("DOE", "JANE", "R"),
        member_id="1EG4TE5MK73",
        payer=Payer("MEDICARE PART B", "00952"),
        paid_minor=10000,
        adjudicated_on=dt.date(2026, 11, 24),
        claim_number="ICN-M-1",
        adjustments=(
            Adjustment("CO", "45", 6000, Decimal("1.0")),
            Adjustment("PR", "1", 3000),
            Adjustment("PR", "2", 1500),
            Adjustment("PR", "3", -500),
        ),
        remaining_patient_liability_minor=4000,
        group_number="GRP-1",
    )
    secondary = OtherPayer(
        responsibility="S",
        relationship="01",
        filing_code="CI",
        subscriber=Party("DOE HOLDINGS"),
        member_id="S-1",
        payer=SECOND,
        paid_minor=None,
    )
    tertiary = Claim(
        "INV-5001",
        20000,
        "11",
        ("E11.65", "I10"),
        (line(1, "99214", 15000, "25", pointers=(1, 2)), line(2, "83036", 5000)),
        other_payers=(primary, secondary),
    )
    svd_mods = dataclasses.replace(
        SECONDARY,
        claim_id="INV-5002",
        lines=(
            dataclasses.replace(
                SECONDARY.lines[0],
                prior_payments=(
                    LineAdjudication(
                        "ACME01",
                        8000,
                        "99214",
                        ("25", "GT"),
                        Decimal("1.0"),
                        dt.date(2026, 11, 25),
                        (
                            Adjustment("OA", "23", 1000),
                            Adjustment("CO", "45", 2000, Decimal(2)),
                            Adjustment("PR", "1", 4000),
                        ),
                    ),
                ),
            ),
            SECONDARY.lines[1],
        ),
    )
    batch = Batch(
        SUBMITTER,
        RECEIVER,
        CLINIC,
        (
            Transaction837(
                "0001",
                "BATCH0001",
                (
                    SubscriberGroup(
                        Subscriber(JANE, "S-445", responsibility="S"), SECOND, (SECONDARY, svd_mods)
                    ),
                ),
            ),
            Transaction837(
                "123456789",
                "BATCH0002",
                (
                    SubscriberGroup(
                        Subscriber(JANE, "T-9", responsibility="T", filing_code="CI"),
                        PAYER_WITH_ADDRESS,
                        (tertiary,),
                    ),
                ),
            ),
        ),
        WHEN,
    )
    return batch, envelope(999_999_999, 12)


def dirty() -> tuple[Batch, Envelope]:
    """Set 0042: dirty data the fast writer cleans; set 0043: data holding its glue characters
    (written by the general writer)."""
    delims = Delimiters(element="|", component=">", repetition="+", segment="\n")
    person = Person(
        "o'brien|jr",
        "zoë",
        dt.date(1999, 12, 31),
        "U",
        Address("1 a>b st\r\n", "straße", "il", "62702", line2="+|>\n"),
        middle_name="|",
    )
    child = Person("o'brien", "x>y", dt.date(2020, 2, 29), "F", middle_name="~*:^")
    claim = Claim(
        "inv-7.a",
        10001,
        "11",
        ("e11.9", "i10"),
        (
            ServiceLine(
                "j0696",
                5000,
                Decimal("0.5"),
                DOS,
                (1,),
                "l|1",
                modifiers=("lt", "rt"),
                description="drug>|+\n",
            ),
            ServiceLine(
                "99213",
                5001,
                Decimal("10"),
                DOS,
                (2,),
                "l 2",
                description="|||",
                rendering=Provider("de la cruz", "ana\n", "1245319599"),
            ),
        ),
        prior_authorization="a|b",
        medical_record_number="mrn>1",
        referral_number="\r\n",
        assignment="|",
        release_of_information="+",
    )
    subscriber = Subscriber(person, "w-1|2", group_number="g>1", group_name=None)
    glued = Person("o'brien", "x\x1cy\x1dz\x1e", dt.date(2020, 2, 29), "F", middle_name="~*:^")
    batch = Batch(
        Submitter(Party("smith", "john", "q"), "sub>1", "contact|name", "217|555"),
        Receiver("clear house+", "ch|1"),
        BillingProvider(
            Party("clinic ñ", "", "m"),
            npi="1234567893",
            tax_id="37-1234567",
            address=Address("9 elm st", "springfield", "il", "627019999"),
        ),
        (
            Transaction837(
                "0042",
                "b|ref",
                (
                    SubscriberGroup(subscriber, Payer("payer|x", "p>1"), (claim,)),
                    SubscriberGroup(
                        subscriber,
                        Payer("payer y", "p2", Address("x", "y", "z", "|")),
                        (dataclasses.replace(claim, claim_id="inv-7.b"),),
                        patient=Patient(child, "G8"),
                    ),
                ),
            ),
            Transaction837(
                "0043",
                "b2",
                (
                    SubscriberGroup(
                        subscriber,
                        Payer("payer\x1dy", "p2"),
                        (
                            dataclasses.replace(
                                claim, claim_id="inv-7.c", medical_record_number="mrn\x1c1"
                            ),
                        ),
                        patient=Patient(glued, "G8"),
                    ),
                ),
            ),
        ),
        dt.datetime(2026, 2, 28, 23, 59),
    )
    env = Envelope(
        "revcycle", "clearhouse", 0, 1, dt.datetime(2026, 2, 28, 23, 59), delimiters=delims
    )
    return batch, env


GOLDEN = {"dependants": dependants, "cob": cob, "dirty": dirty}


def bench_shaped(n: int) -> tuple[Batch, Envelope]:
    """The shape bench/era_bench.py builds (kept here so its digest cannot drift with the bench):
    one claim per subscriber, 2 lines, a rendering provider, 5,000 claims per set."""
    addr = Address("12 MAIN ST", "SPRINGFIELD", "IL", "627010001")
    clinic = BillingProvider(Party("RIVERSIDE CLINIC"), "1234567893", "371234567", addr)
    payer = Payer("ACME HEALTH PLAN", "ACME01")
    provider = Provider("LOPEZ", "ANA", "1245319599")
    groups = []
    for i in range(n):
        person = Person("DOE", f"JANE{i % 100}", dt.date(1980, 2, 3), "F", addr)
        claim = Claim(
            claim_id=f"RC{i:08d}",
            charge_minor=21000,
            place_of_service="11",
            diagnoses=("E119", "I10"),
            lines=(
                ServiceLine(
                    "99213", 15000, Decimal(1), dt.date(2026, 1, 5), (1, 2), f"C{i}L1", ("25",)
                ),
                ServiceLine("80053", 6000, Decimal(1), dt.date(2026, 1, 5), (1,), f"C{i}L2"),
            ),
            rendering=provider,
        )
        groups.append(SubscriberGroup(Subscriber(person, f"M{i:08d}"), payer, (claim,)))
    per_set = 5_000
    txs = tuple(
        Transaction837(f"{k + 1:04d}", f"B{k + 1:06d}", tuple(groups[s : s + per_set]))
        for k, s in enumerate(range(0, n, per_set))
    )
    when = dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC)
    batch = Batch(
        Submitter(Party("RIVERSIDE CLINIC"), "RC0001", "BILLING", "2175551234"),
        Receiver("ACME CLEARINGHOUSE", "ACMECH"),
        clinic,
        txs,
        when,
    )
    return batch, Envelope("RC0001", "ACMECH", 1, 1, when)
