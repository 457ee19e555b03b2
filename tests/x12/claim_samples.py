"""837P batches used by the reader, writer and payer simulator tests (built with build_837p)."""

from __future__ import annotations

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
    build_837p,
)
from revcycle.x12.writer import Envelope

WHEN = dt.datetime(2026, 11, 27, 9, 30)
DOS = dt.date(2026, 11, 20)
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
SAM = Person("DOE", "SAM", dt.date(2015, 6, 9), "M")


def envelope(isa13: int = 101, gs06: int = 7) -> Envelope:
    return Envelope("REVCYCLE", "CLEARHOUSE", isa13, gs06, WHEN, usage="T")


def line(
    n: int, code: str, charge: int, *mods: str, pointers: tuple[int, ...] = (1,), day: dt.date = DOS
) -> ServiceLine:
    return ServiceLine(code, charge, Decimal(1), day, pointers, f"L{n}", modifiers=mods)


OFFICE_VISIT = Claim(
    "INV-1001",
    20000,
    "11",
    ("E11.65", "I10"),
    (line(1, "99214", 15000, "25", pointers=(1, 2)), line(2, "83036", 5000, pointers=(1,))),
    prior_authorization="AUTH-77",
)

REPLACEMENT = Claim(
    "INV-1002",
    12550,
    "11",
    ("J02.9",),
    (
        ServiceLine("99213", 9000, Decimal(1), DOS, (1,), "L3"),
        ServiceLine(
            "J0696",
            3550,
            Decimal(2),
            DOS,
            (1,),
            "L4",
            service_date_to=dt.date(2026, 11, 21),
            ndc="00409734501",
            ndc_quantity=Decimal("2"),
        ),
    ),
    frequency="7",
    original_claim_number="ICN-0099",
    referring=Provider("SMITH", "ANNA", "1245319599"),
    rendering=Provider("JONES", "PAT", "1679576722", taxonomy="208000000X"),
)

PRIMARY = OtherPayer(
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
SECONDARY = Claim(
    "INV-1003",
    20000,
    "11",
    ("E11.65",),
    (
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
    ),
    other_payers=(PRIMARY,),
)


def batch(*transactions: tuple[str, str, tuple[SubscriberGroup, ...]]) -> Batch:
    return Batch(
        SUBMITTER,
        RECEIVER,
        CLINIC,
        tuple(Transaction837(st, bht, groups) for st, bht, groups in transactions),
        WHEN,
    )


def sample_837() -> str:
    """Two sets: the subscriber's office visit and a dependant's replacement claim; then a
    secondary claim with the primary's adjudication."""
    return build_837p(
        batch(
            (
                "0001",
                "BATCH0001",
                (
                    SubscriberGroup(
                        Subscriber(JANE, "W123456789", group_number="G-55"), ACME, (OFFICE_VISIT,)
                    ),
                    SubscriberGroup(
                        Subscriber(JANE, "W123456789"),
                        ACME,
                        (REPLACEMENT,),
                        patient=Patient(SAM, "19"),
                    ),
                ),
            ),
            (
                "0002",
                "BATCH0002",
                (
                    SubscriberGroup(
                        Subscriber(JANE, "S-445", responsibility="S"), SECOND, (SECONDARY,)
                    ),
                ),
            ),
        ),
        envelope(),
    ).text
