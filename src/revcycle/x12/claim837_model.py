"""837P (005010X222A1) claim types and the rule constants: what ``build_837p`` takes.

Re-exported by :mod:`revcycle.x12.claim837`; import them from there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from revcycle.x12.core import X12Error

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
