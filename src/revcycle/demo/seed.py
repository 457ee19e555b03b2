"""Deterministic demo data: one realistic family practice, built through the service layer.

All content comes from ``random.Random(seed)``; the only input from the clock is "today", the end
of the 18-month window the data is placed in (callers may pin it). The same seed on the same day
gives the same practice, patients, invoice numbers, totals and statuses. Every change goes through
the services as ``Principal.system(username="demo")``, so ledger postings, audit rows and invoice
numbers are the real thing and ``revcycle check`` finds nothing to report.

How the data is made:

1. A practice, four providers with valid NPIs, a charge master of common primary-care CPT/HCPCS
   codes priced per calendar year (an annual price update on 1 January), three staff logins.
2. Patients: adults with age-dependent chronic conditions, and children whose parent is their
   guarantor (same surname, address and phone).
3. Encounters: each patient's visits on clinic days, coded as new-patient, follow-up, acute,
   preventive, procedure or flu-shot visits with matching ICD-10-CM codes; one invoice per
   encounter, issued one to a few days after the visit.
4. Fates by quota, so even a small seed shows every status: drafts among the newest invoices,
   write-offs among the oldest, open invoices both recent and overdue, partial payments, voids,
   and paid invoices with variants (split payments, credit notes, overpayments that leave patient
   credit, payments applied oldest-first by the service, one payment for several invoices).
5. A timeline: invoices are issued in date order (numbers follow issue dates) and every later step
   (payment, credit note, write-off, void) runs in date order. Amounts are decided when a step
   runs, from the balances the services report back.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import random
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.approvals.gate import Limits
from revcycle.auth import service as auth_service
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.auth.schemas import UserCreate
from revcycle.cash import demo as cash_demo
from revcycle.charges import demo as charges_demo
from revcycle.claims import demo as claims_demo
from revcycle.config import get_settings
from revcycle.eligibility import demo as eligibility_demo
from revcycle.fraud.demo import seed_fraud_reviews
from revcycle.insurance import demo as insurance_demo
from revcycle.invoices import calc
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import (
    CreditNoteCreate,
    CreditReason,
    InvoiceCreate,
    InvoiceLineIn,
    InvoiceVoid,
    WriteOffCreate,
    WriteOffReason,
)
from revcycle.kit import clock
from revcycle.kit.codes import npi_check_digit
from revcycle.money import Money
from revcycle.patients import service as patients_service
from revcycle.patients.models import Patient
from revcycle.patients.schemas import GuarantorRelationship, PatientCreate, Sex
from revcycle.payments import service as payments_service
from revcycle.payments.bank_demo import seed_bank_transfers
from revcycle.payments.schemas import AllocationIn, PaymentCreate, PaymentMethod
from revcycle.plans import demo as plans_demo
from revcycle.practices import service as practices_service
from revcycle.practices.models import Practice, Provider
from revcycle.practices.repository import PracticeRepository
from revcycle.practices.schemas import PracticeCreate, ProviderCreate, ServiceItemCreate
from revcycle.refunds.demo import seed_refunds

T = TypeVar("T")
ACTOR = Principal.system(username="demo")
CURRENCY = "USD"
WINDOW_MONTHS = 18
STATUSES = ("paid", "partially_paid", "open", "void", "written_off", "draft")

# Logins ------------------------------------------------------------------------------------------

STAFF_LOGINS = (
    ("admin", "demo-admin-password", Role.ADMIN, "administrator"),
    ("billing", "demo-billing-password", Role.BILLING_STAFF, "billing staff"),
    ("insurance", "demo-insurance-password", Role.INSURANCE_SPECIALIST, "insurance specialist"),
)
PATIENT_PASSWORD = "demo-patient-password"

# The practice ------------------------------------------------------------------------------------

PRACTICE_NAME = "Cedar Valley Family Medicine"
FM, IM, PEDS, NP = 0, 1, 2, 3  # provider indexes
PROVIDERS = (
    ("Rebecca", "Lindqvist", "MD", "207Q00000X"),  # family medicine
    ("Marcus", "Okafor", "MD", "207R00000X"),  # internal medicine
    ("Priya", "Raman", "MD", "208000000X"),  # pediatrics
    ("Daniel", "Whitfield", "FNP-C", "363LF0000X"),  # family nurse practitioner
)

# Charge master: code -> (description, price from 1 January of the current year). Earlier years
# are about 3.5% cheaper per year (the annual price update).
CHARGE_MASTER: dict[str, tuple[str, str]] = {
    "99202": ("Office visit, new patient, straightforward medical decision making", "110.00"),
    "99203": ("Office visit, new patient, low medical decision making", "165.00"),
    "99204": ("Office visit, new patient, moderate medical decision making", "250.00"),
    "99205": ("Office visit, new patient, high medical decision making", "330.00"),
    "99211": ("Office visit, established patient, minimal (nurse visit)", "40.00"),
    "99212": ("Office visit, established patient, straightforward decision making", "85.00"),
    "99213": ("Office visit, established patient, low medical decision making", "130.00"),
    "99214": ("Office visit, established patient, moderate medical decision making", "190.00"),
    "99215": ("Office visit, established patient, high medical decision making", "260.00"),
    "99392": ("Preventive visit, established patient, age 1-4", "195.00"),
    "99393": ("Preventive visit, established patient, age 5-11", "190.00"),
    "99394": ("Preventive visit, established patient, age 12-17", "205.00"),
    "99395": ("Preventive visit, established patient, age 18-39", "220.00"),
    "99396": ("Preventive visit, established patient, age 40-64", "240.00"),
    "G0439": ("Annual wellness visit, subsequent", "175.00"),
    "36415": ("Routine venipuncture", "15.00"),
    "80053": ("Comprehensive metabolic panel", "45.00"),
    "80061": ("Lipid panel", "52.00"),
    "83036": ("Hemoglobin A1c", "38.00"),
    "84443": ("Thyroid stimulating hormone (TSH)", "48.00"),
    "85025": ("Complete blood count (CBC) with automated differential", "30.00"),
    "81002": ("Urinalysis, dipstick, non-automated, without microscopy", "14.00"),
    "87880": ("Rapid strep test, Streptococcus group A antigen", "32.00"),
    "93000": ("Electrocardiogram, 12-lead, with interpretation and report", "70.00"),
    "71046": ("Chest X-ray, 2 views", "115.00"),
    "90471": ("Immunization administration, first vaccine", "30.00"),
    "90686": ("Influenza vaccine, quadrivalent, preservative free, 0.5 mL, IM", "42.00"),
    "96372": ("Therapeutic injection, subcutaneous or intramuscular", "38.00"),
    "J1100": ("Injection, dexamethasone sodium phosphate, 1 mg", "3.00"),
    "20610": ("Arthrocentesis, aspiration or injection, major joint", "155.00"),
    "11102": ("Tangential biopsy of skin (shave), single lesion", "145.00"),
    "17110": ("Destruction of benign lesions (e.g. warts), up to 14", "135.00"),
}
ANNUAL_INCREASE = Decimal("1.035")
BLOOD_LABS = ("80053", "80061", "83036", "84443", "85025")

# Clinical content: ICD-10-CM codes -----------------------------------------------------------

# Chronic conditions: (code, base prevalence, added per year of age over 18).
CHRONIC = (
    ("I10", 0.04, 0.0065),  # essential hypertension
    ("E78.5", 0.03, 0.005),  # hyperlipidaemia
    ("E11.9", 0.02, 0.003),  # type 2 diabetes without complications
    ("E03.9", 0.03, 0.0008),  # hypothyroidism
    ("E66.9", 0.09, 0.0),  # obesity
    ("F41.1", 0.08, 0.0),  # generalised anxiety disorder
    ("F32.A", 0.06, 0.0),  # depression, unspecified
    ("K21.9", 0.05, 0.0005),  # GERD without oesophagitis
    ("J45.909", 0.05, 0.0),  # asthma, uncomplicated
    ("G47.33", 0.02, 0.0008),  # obstructive sleep apnoea
    ("E55.9", 0.05, 0.0),  # vitamin D deficiency
)
# Acute complaints: (diagnosis codes, extra lines as (code, units)).
ACUTE_ADULT: tuple[tuple[tuple[str, ...], tuple[tuple[str, int], ...]], ...] = (
    (("J06.9",), ()),  # upper respiratory infection
    (("J02.9",), (("87880", 1),)),  # pharyngitis, strep test negative
    (("J02.0",), (("87880", 1),)),  # streptococcal pharyngitis
    (("R05.9", "J20.9"), (("71046", 1),)),  # cough, acute bronchitis, chest film
    (("J20.9",), ()),
    (("N39.0",), (("81002", 1),)),  # urinary tract infection, dipstick
    (("M54.50",), (("96372", 1), ("J1100", 8))),  # low back pain, steroid injection
    (("M54.50",), ()),
    (("J01.90",), ()),  # acute sinusitis
    (("R51.9",), ()),  # headache
    (("R10.9",), (("36415", 1), ("85025", 1))),  # abdominal pain, CBC
    (("L30.9",), ()),  # dermatitis
    (("R03.0",), (("93000", 1),)),  # elevated blood pressure reading, ECG
)
ACUTE_CHILD: tuple[tuple[tuple[str, ...], tuple[tuple[str, int], ...]], ...] = (
    (("J06.9",), ()),
    (("J02.9",), (("87880", 1),)),
    (("J02.0",), (("87880", 1),)),
    (("H66.90",), ()),  # otitis media
    (("R05.9",), ()),
    (("L30.9",), ()),
    (("J45.909",), ()),
)
CHRONIC_LABS = {
    "E11.9": ("83036", "80053"),
    "E78.5": ("80061",),
    "I10": ("80053",),
    "E03.9": ("84443",),
}

# People and places ---------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_NAMES = _words(
    "Emma Olivia Ava Sophia Isabella Mia Charlotte Amelia Harper Evelyn Abigail Emily Elizabeth "
    "Sofia Avery Ella Scarlett Grace Chloe Victoria Riley Aria Lily Aubrey Zoey Hannah Layla Nora "
    "Maria Ana Rosa Guadalupe Carmen Linda Patricia Barbara Susan Jessica Sarah Karen Nancy Lisa "
    "Margaret Betty Sandra Ashley Dorothy Kimberly Donna Michelle Carol Amanda Melissa Deborah "
    "Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Brenda Pamela Nicole Mei "
    "Priya Aisha Fatima Keisha Latoya Ingrid Greta"
)
MALE_NAMES = _words(
    "Liam Noah Oliver Elijah James William Benjamin Lucas Henry Alexander Mason Michael Ethan "
    "Daniel Jacob Logan Jackson Levi Sebastian Mateo Jack Owen Theodore Aiden Samuel Joseph John "
    "David Wyatt Matthew Luke Robert Richard Thomas Charles Christopher Mark Donald Steven Paul "
    "Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Gary "
    "Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Frank Gregory Raymond Jose Luis "
    "Carlos Juan Miguel Wei Raj Omar Darnell Malik Lars Sven"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Olson Larson "
    "Schmidt Schultz Mueller Hansen Johansen Peterson Nielsen Kowalski Novak Becker Wagner Weber "
    "Hoffman Krueger Meyer Fischer Schneider Patel Shah Kim Park Chen Wang Liu Yang Huang Vang "
    "Xiong Thao Lor Okafor Mensah Diallo Murphy O'Brien Sullivan Kelly McCarthy Ryan Walsh"
)
STREETS = (
    "Oak St",
    "Maple Ave",
    "University Ave",
    "Monroe St",
    "Atwood Ave",
    "Williamson St",
    "Regent St",
    "Mineral Point Rd",
    "Old Sauk Rd",
    "Park St",
    "Johnson St",
    "Jenifer St",
    "Midvale Blvd",
    "Whitney Way",
    "Gammon Rd",
    "Century Ave",
    "Pleasant View Rd",
    "Cottage Grove Rd",
    "Milwaukee St",
    "Sherman Ave",
    "Lakeland Ave",
    "Fish Hatchery Rd",
    "Raymond Rd",
    "McKee Rd",
    "Prairie Rd",
    "Elm Dr",
    "Birch Ln",
    "Willow Ct",
    "Hillcrest Dr",
    "Sunset Ct",
)
CITIES = (  # Dane County, WI: city and a ZIP code it uses
    ("Madison", "53703"),
    ("Madison", "53704"),
    ("Madison", "53705"),
    ("Madison", "53711"),
    ("Madison", "53714"),
    ("Madison", "53719"),
    ("Middleton", "53562"),
    ("Fitchburg", "53713"),
    ("Verona", "53593"),
    ("Sun Prairie", "53590"),
    ("Monona", "53716"),
    ("Waunakee", "53597"),
    ("McFarland", "53558"),
    ("Cross Plains", "53528"),
    ("Oregon", "53575"),
)
STATE = "WI"
EMAIL_DOMAINS = ("example.org", "example.com")
CARD_BRANDS = ("Visa", "Visa", "Mastercard", "Amex", "Discover")
VOID_REASONS = (
    "Duplicate charge: the visit was entered twice",
    "Billed to the wrong patient account",
    "Service not rendered: patient left before being seen",
    "Incorrect date of service; re-billed on a corrected invoice",
)
WRITE_OFF_REASONS: dict[WriteOffReason, int] = {  # reason -> weight (small balances: by amount)
    WriteOffReason.BAD_DEBT: 45,
    WriteOffReason.COLLECTION_AGENCY: 30,
    WriteOffReason.HARDSHIP: 15,
    WriteOffReason.BANKRUPTCY: 6,
    WriteOffReason.DECEASED: 4,
}
ADULT_AGES = {(18, 29): 16, (30, 44): 24, (45, 64): 34, (65, 79): 20, (80, 92): 6}  # -> weight
ISSUE_LAG_DAYS = {1: 40, 2: 25, 3: 15, 4: 8, 5: 6, 6: 3, 7: 3}  # visit to invoice -> weight
PAYMENT_DELAY_DAYS = {(0, 3): 25, (4, 14): 35, (15, 30): 25, (31, 75): 15}  # -> weight
EM_NEW = {"99202": 12, "99203": 45, "99204": 35, "99205": 8}  # code -> weight
EM_ADULT = {"99211": 3, "99212": 10, "99213": 45, "99214": 37, "99215": 5}
EM_CHILD = {"99212": 15, "99213": 55, "99214": 30}
METHODS: dict[PaymentMethod, int] = {  # method -> weight
    PaymentMethod.CARD: 45,
    PaymentMethod.CHECK: 20,
    PaymentMethod.CASH: 17,
    PaymentMethod.BANK_TRANSFER: 18,
}


CREDIT_MEMOS = {
    CreditReason.PROMPT_PAY.value: "10% prompt-pay discount for paying within 30 days",
    CreditReason.COURTESY.value: "Courtesy adjustment approved by the office manager",
    CreditReason.BILLING_ERROR.value: "Corrected charge: service billed at the wrong level",
    CreditReason.HARDSHIP.value: "Financial hardship adjustment (sliding-fee scale)",
    CreditReason.SMALL_BALANCE.value: "Small balance adjusted after payment",
}
WRITE_OFF_MEMOS = {
    WriteOffReason.BAD_DEBT.value: "Uncollectible after three statements and a final notice",
    WriteOffReason.COLLECTION_AGENCY.value: "Account placed with the collection agency",
    WriteOffReason.HARDSHIP.value: "Financial hardship approved",
    WriteOffReason.BANKRUPTCY.value: "Patient filed for bankruptcy",
    WriteOffReason.DECEASED.value: "Patient deceased; no estate",
    WriteOffReason.SMALL_BALANCE.value: "Balance below the collection threshold",
}


# Result ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str
    note: str


@dataclass(frozen=True)
class SeedResult:
    seed: int
    practice_id: uuid.UUID
    practice_name: str
    practice_npi: str
    window_start: dt.date
    window_end: dt.date
    providers: int
    service_items: int
    procedure_codes: int
    patients: int
    dependants: int
    invoices: int
    statuses: dict[str, int]
    overdue: int
    discounted_invoices: int
    payments: int
    payment_methods: dict[str, int]
    auto_applied_payments: int
    multi_invoice_payments: int
    overpayments: int
    credit_notes: int
    write_offs: int
    voids: int
    billed_minor: int
    collected_minor: int
    outstanding_minor: int
    credit_held_minor: int
    currency: str
    logins: tuple[Login, ...]
    # Insurance claims by status, in the claim state model's order, and what the payers' files
    # did (only a window ending today has them: docs/claims.md, "Demo").
    claims: dict[str, int] = dataclasses.field(default_factory=dict)
    claim_cycle: claims_demo.ClaimsDemo | None = None
    # The visit an EHR sent as FHIR ChargeItems (docs/charges.md): its invoice is not among
    # ``invoices`` (what the generator made), its amount not in billed/outstanding.
    charges_import: charges_demo.ChargesDemo | None = None

    def _money(self, minor: int) -> str:
        return f"${Money(minor, self.currency).to_decimal():,}"

    def _imported(self) -> str:
        n = self.charges_import.invoices if self.charges_import is not None else 0
        return f" and {n} imported from an EHR" if n else ""

    def summary(self) -> str:
        s = self.statuses
        methods = ", ".join(f"{m.replace('_', ' ')} {n}" for m, n in self.payment_methods.items())
        width = max(len(lg.username) for lg in self.logins) + 2
        pw_width = max(len(lg.password) for lg in self.logins) + 2
        lines = [
            f"Demo practice {self.practice_name} (NPI {self.practice_npi}, id {self.practice_id})",
            f"  seed {self.seed}; activity from {self.window_start} to {self.window_end}",
            f"  {self.providers} providers; {self.service_items} charge-master prices for "
            f"{self.procedure_codes} CPT/HCPCS codes",
            f"  {self.patients} patients ({self.dependants} dependants with a parent guarantor)",
            f"  {self.invoices} invoices{self._imported()}: {s['paid']} paid, "
            f"{s['partially_paid']} partially paid, "
            f"{s['open']} open, {s['void']} void, {s['written_off']} written off, "
            f"{s['draft']} draft",
            f"  {self.overdue} open or partially paid invoices past their due date; "
            f"{self.discounted_invoices} with line discounts",
            f"  {self.payments} payments ({methods}); {self.auto_applied_payments} applied "
            f"oldest-first, {self.multi_invoice_payments} covering several invoices, "
            f"{self.overpayments} overpayments leaving {self._money(self.credit_held_minor)} "
            "patient credit",
            f"  {self.credit_notes} credit notes, {self.write_offs} write-offs, {self.voids} voids",
            f"  billed {self._money(self.billed_minor)}, collected "
            f"{self._money(self.collected_minor)}, outstanding "
            f"{self._money(self.outstanding_minor)}",
        ]
        if self.claims:
            by_status = ", ".join(f"{n} {st}" for st, n in self.claims.items())
            lines.append(f"  {sum(self.claims.values())} insurance claims: {by_status}")
        if self.claim_cycle is not None and self.claim_cycle.remittance_sets:
            cc = self.claim_cycle
            plb = ", ".join(f"{r} {n}" for r, n in sorted(cc.provider_adjustments.items()))
            lines.append(
                f"  {_n(cc.remittance_sets, '835')} posted: {_n(cc.reversals, 'reversal')}, "
                f"provider adjustments (PLB) {plb or 'none'}; "
                f"{_n(cc.underpayments, 'underpayment')}, {_n(cc.appeals, 'appeal')}, "
                f"{_n(cc.secondary_claims, 'secondary claim')}, "
                f"{_n(cc.held_for_review, 'remittance claim')} held for review"
            )
        ci = self.charges_import
        if ci is not None and ci.charges:
            lines.append(
                f"  {_n(ci.invoices, 'visit')} imported from an EHR as FHIR ChargeItems "
                f"({ci.charges} charges, {self._money(ci.issued_minor)}): issued, "
                f"{_n(ci.claims, 'draft claim')}; the EHR's resend created {ci.resent_created}"
            )
        lines += [
            "",
            "Demo logins (username / password):",
        ]
        lines += [
            f"  {lg.username:<{width}}{lg.password:<{pw_width}}{lg.note}" for lg in self.logins
        ]
        return "\n".join(lines)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# Public interface --------------------------------------------------------------------------------


def has_data(session: Session) -> bool:
    """True when any practice exists (``revcycle demo seed --if-empty`` then does nothing)."""
    return bool(PracticeRepository(session).search(None, after=None, limit=1))


def seed(
    session: Session,
    hasher: PasswordHasher,
    *,
    patients: int,
    invoices: int,
    seed: int,
    today: dt.date | None = None,
) -> SeedResult:
    """Build the demo practice. Flushes, never commits: the caller owns the unit of work.

    ``today`` (default: the clock's) is the last day of the window; pinning it makes the data
    identical whatever day the seed runs on. It must not be in the future.
    """
    if patients < 1 or invoices < 1:
        raise ValueError("the demo needs at least one patient and one invoice")
    end = today or clock.today()
    if end > clock.today():
        raise ValueError("the demo window cannot end in the future")
    builder = _Builder(session, hasher, random.Random(seed), seed, end)
    result = builder.build(patients, invoices)
    seed_bank_transfers(session, ACTOR, result.practice_id, end)  # docs/bank-transfers.md
    seed_fraud_reviews(session, result.practice_id, end)  # docs/fraud.md
    # refunds (credit, partial) and a refund waiting for approval (docs/refunds-approvals.md)
    refunds = seed_refunds(session, result.practice_id, end, Limits.from_settings(get_settings()))
    result = dataclasses.replace(  # its prepayment is a payment kept whole as patient credit
        result,
        payments=result.payments + 1,
        payment_methods={
            **result.payment_methods,
            "check": result.payment_methods.get("check", 0) + 1,
        },
        overpayments=result.overpayments + 1,
        collected_minor=result.collected_minor + refunds.prepayment_minor,
        credit_held_minor=result.credit_held_minor + refunds.prepayment_minor,
    )
    if refunds.invoice_refund is not None:  # its invoice owes that much more again
        result = dataclasses.replace(
            result, outstanding_minor=result.outstanding_minor + refunds.invoice_refund_minor
        )
    desk = cash_demo.seed(session, result.practice_id)  # drawers, a deposit, receipts
    methods = dict(result.payment_methods)
    for method, n in desk.methods.items():
        methods[method] = methods.get(method, 0) + n
    result = dataclasses.replace(
        result,
        payments=result.payments + desk.payments,
        payment_methods=methods,
        overpayments=result.overpayments + desk.payments,  # all kept as patient credit
        collected_minor=result.collected_minor + desk.collected_minor,
        credit_held_minor=result.credit_held_minor + desk.collected_minor,
    )
    if end == clock.today():  # plans and claims use real dates (docs/payment-plans.md)
        plans_demo.seed_plans(session, result.practice_id)
        claims = claims_demo.seed_claims(session, ACTOR, result.practice_id)
        # an EHR sends yesterday's visit as FHIR ChargeItems: invoice, issued, draft claim
        imported = charges_demo.seed_charges(session, ACTOR, result.practice_id)
        # the payers' 835s paid some invoices in part or in full: count statuses again
        result = dataclasses.replace(
            result,
            claims=claims_demo.statuses_of(session, result.practice_id),
            claim_cycle=claims,
            charges_import=imported,
            statuses=_invoice_statuses(session, result.practice_id),
        )
    return result


def _invoice_statuses(session: Session, practice_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        select(Invoice.status, func.count())
        .where(Invoice.practice_id == practice_id)
        .group_by(Invoice.status)
    ).all()
    counts = dict.fromkeys(("paid", "partially_paid", "open", "void", "written_off"), 0)
    counts["draft"] = 0
    counts.update({status: int(n) for status, n in rows})
    return counts


# Plan --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Person:
    first: str
    last: str
    sex: Sex
    dob: dt.date
    address_line1: str
    address_line2: str | None
    city: str
    postal_code: str
    phone: str
    email: str | None
    chronic: list[str]
    pcp: int
    new_in_window: bool
    weight: int  # relative visit frequency (a sampling weight, not money)
    guarantor: _Person | None = None
    dependants: list[_Person] = field(default_factory=list)
    invoices: list[_Inv] = field(default_factory=list)
    record: Patient | None = None

    @property
    def is_child(self) -> bool:
        return self.guarantor is not None


@dataclass(frozen=True)
class _Line:
    code: str
    dx: tuple[str, ...]
    units: int = 1
    modifiers: tuple[str, ...] = ()


@dataclass(eq=False)
class _Step:
    on: dt.date
    action: str  # pay | credit | write_off | void
    mode: str = ""  # pay: full, fraction, all_but, overpay, auto; credit: percent, fixed, rest
    value: int = 0  # per-mille for fractions and percentages, minor units otherwise
    reason: str = ""
    done: bool = False


@dataclass(eq=False)
class _Inv:
    person: _Person
    dos: dt.date
    issue_on: dt.date
    provider: int
    lines: list[_Line]
    fate: str = "paid"
    variant: str = "full"
    discount: tuple[str, int] | None = None  # ("percent", 20) or ("amount", minor units)
    steps: list[_Step] = field(default_factory=list)
    record: Invoice | None = None
    balance: int = 0

    @property
    def collectible(self) -> bool:
        return (
            self.record is not None
            and self.record.status in {"open", "partially_paid"}
            and self.balance > 0
        )


def _share(n: int, per_mille: int) -> int:
    """``n * per_mille / 1000`` rounded half up, in integers."""
    return (n * per_mille + 500) // 1000


def _months_back(day: dt.date, months: int) -> dt.date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def _age(dob: dt.date, on: dt.date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def _year_price(current: Decimal, years_back: int) -> Decimal:
    price = current
    for _ in range(years_back):
        price = price / ANNUAL_INCREASE
    step = Decimal(1) if current >= 20 else Decimal("0.25")
    rounded = (price / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    return rounded.quantize(Decimal("0.01"))


def _minor(value: Decimal) -> int:
    return Money.parse(value, CURRENCY).amount_minor


def _amount(minor: int) -> Decimal:
    return Money(minor, CURRENCY).to_decimal()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


# Builder -----------------------------------------------------------------------------------------


class _Builder:
    def __init__(
        self, session: Session, hasher: PasswordHasher, rng: random.Random, seed: int, end: dt.date
    ) -> None:
        self.session = session
        self.hasher = hasher
        self.rng = rng
        self.seed = seed
        self.end = end
        self.start = _months_back(end, WINDOW_MONTHS)
        self.years = list(range(self.start.year, end.year + 1))
        self.practice: Practice | None = None
        self.providers: list[Provider] = []
        self.service_items = 0
        self.logins: list[Login] = []
        self.by_id: dict[uuid.UUID, _Inv] = {}
        self.methods: Counter[str] = Counter()
        self.payments = 0
        self.auto_applied = 0
        self.multi = 0
        self.overpayments = 0
        self.credit_held = 0
        self.collected = 0
        self.credit_notes = 0
        self.write_offs = 0
        self.voids = 0

    # helpers ---------------------------------------------------------------------------------

    def _npi(self, taken: list[str]) -> str:
        while True:
            body = f"1{self.rng.randrange(10**8):08d}"
            npi = body + npi_check_digit(body)
            if npi not in taken:
                taken.append(npi)
                return npi

    def _price(self, code: str, on: dt.date) -> Decimal:
        return _year_price(Decimal(CHARGE_MASTER[code][1]), self.end.year - on.year)

    def _clinic_day(self, lo: dt.date, hi: dt.date) -> dt.date:
        """A weekday in [lo, hi] (Saturdays now and then: the practice runs a Saturday clinic)."""
        span = (hi - lo).days
        day = lo
        for _ in range(20):
            day = lo + dt.timedelta(days=self.rng.randint(0, span))
            if day.weekday() == 6 or (day.weekday() == 5 and self.rng.random() < 0.75):
                continue
            return day
        return day

    def _after(self, day: dt.date, lo: int, hi: int) -> dt.date:
        return min(day + dt.timedelta(days=self.rng.randint(lo, hi)), self.end)

    def _payment_delay(self, day: dt.date) -> dt.date:
        lo, hi = self._weighted(PAYMENT_DELAY_DAYS)
        return self._after(day, lo, hi)

    # build -----------------------------------------------------------------------------------

    def build(self, n_patients: int, n_invoices: int) -> SeedResult:
        self._practice()
        self._staff_logins()
        people = self._people(n_patients)
        self._create_patients(people)
        invs = self._encounters(people, n_invoices)
        self._assign_fates(invs)
        for inv in invs:
            self._plan_steps(inv)
        self._run_timeline(invs)
        self._patient_logins(people)
        insurance_demo.seed(  # payers, plans, coverages, authorisations, estimates
            self.session,
            ACTOR,
            [p.record for p in people if p.record is not None],
            self.end,
            {code: self._price(code, self.end) for code in CHARGE_MASTER},
        )
        eligibility_demo.seed(  # 270/271 checks, tomorrow's appointments
            self.session, ACTOR, [p.record for p in people if p.record is not None], self.end
        )
        self.session.flush()
        return self._result(people, invs)

    def _practice(self) -> None:
        npis: list[str] = []
        self.practice = practices_service.create_practice(
            self.session,
            ACTOR,
            PracticeCreate(
                name=PRACTICE_NAME,
                npi=self._npi(npis),
                tin=f"39-{self.rng.randrange(10**7):07d}",
                taxonomy="261QP2300X",
                address_line1="2100 Deming Way",
                address_line2="Suite 150",
                city="Middleton",
                state=STATE,
                postal_code="53562-1821",  # ZIP+4: claims carry the billing provider's
                phone="608-555-0100",
                invoice_prefix="CVFM",
            ),
        )
        for first, last, credential, taxonomy in PROVIDERS:
            self.providers.append(
                practices_service.create_provider(
                    self.session,
                    ACTOR,
                    self.practice.id,
                    ProviderCreate(
                        npi=self._npi(npis),
                        first_name=first,
                        last_name=last,
                        credential=credential,
                        taxonomy=taxonomy,
                    ),
                )
            )
        for code, (description, _) in CHARGE_MASTER.items():
            for year in self.years:
                practices_service.create_service_item(
                    self.session,
                    ACTOR,
                    self.practice.id,
                    ServiceItemCreate(
                        code=code,
                        description=description,
                        price=self._price(code, dt.date(year, 1, 1)),
                        effective_from=dt.date(year, 1, 1),
                        effective_to=None if year == self.years[-1] else dt.date(year, 12, 31),
                    ),
                )
                self.service_items += 1

    def _staff_logins(self) -> None:
        assert self.practice is not None
        for username, password, role, note in STAFF_LOGINS:
            auth_service.create_user(
                self.session,
                ACTOR,
                UserCreate(
                    username=username,
                    password=password,
                    role=role,
                    practice_ids=[self.practice.id],
                ),
                self.hasher,
            )
            self.logins.append(Login(username, password, role.value, note))

    # people ----------------------------------------------------------------------------------

    def _address(self) -> tuple[str, str | None, str, str, str]:
        rng = self.rng
        line1 = f"{rng.randint(100, 9899)} {rng.choice(STREETS)}"
        line2 = None
        if rng.random() < 0.15:
            line2 = f"Apt {rng.randint(1, 4)}{rng.choice('ABCD')}"
        city, postal = rng.choice(CITIES)
        phone = f"608-555-{rng.randint(100, 199):04d}"  # 555-0100..0199: reserved for fiction
        return line1, line2, city, postal, phone

    def _adult(self) -> _Person:
        rng = self.rng
        lo, hi = self._weighted(ADULT_AGES)
        age = rng.randint(lo, hi)
        dob = self.end - dt.timedelta(days=age * 365 + age // 4 + rng.randint(1, 364))
        sex = Sex.FEMALE if rng.random() < 0.52 else Sex.MALE
        first = rng.choice(FEMALE_NAMES if sex is Sex.FEMALE else MALE_NAMES)
        last = rng.choice(LAST_NAMES)
        line1, line2, city, postal, phone = self._address()
        email = None
        if rng.random() < 0.82:
            local = f"{_slug(first)}.{_slug(last)}"
            if rng.random() < 0.35:
                local = f"{_slug(first)}{_slug(last)[:1]}{rng.randint(1, 99)}"
            email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        years_over = max(0, _age(dob, self.end) - 18)
        chronic = [
            c for c, base, per_year in CHRONIC if rng.random() < base + per_year * years_over
        ]
        older = _age(dob, self.end) >= 65
        pcp = IM if rng.random() < (0.6 if older else 0.45) else FM
        return _Person(
            first=first,
            last=last,
            sex=sex,
            dob=dob,
            address_line1=line1,
            address_line2=line2,
            city=city,
            postal_code=postal,
            phone=phone,
            email=email,
            chronic=chronic,
            pcp=pcp,
            new_in_window=rng.random() < 0.35,
            weight=10 + 9 * len(chronic) + (6 if older else 0),
        )

    def _child(self, parent: _Person) -> _Person:
        rng = self.rng
        parent_age = _age(parent.dob, self.end)
        for _ in range(10):  # siblings at least ~11 months apart
            age = rng.randint(1, max(1, min(17, parent_age - 19)))
            dob = self.end - dt.timedelta(days=age * 365 + age // 4 + rng.randint(1, 364))
            if all(abs((dob - sib.dob).days) >= 330 for sib in parent.dependants):
                break
        sex = Sex.FEMALE if rng.random() < 0.49 else Sex.MALE
        child = _Person(
            first=rng.choice(FEMALE_NAMES if sex is Sex.FEMALE else MALE_NAMES),
            last=parent.last,
            sex=sex,
            dob=dob,
            address_line1=parent.address_line1,
            address_line2=parent.address_line2,
            city=parent.city,
            postal_code=parent.postal_code,
            phone=parent.phone,
            email=None,
            chronic=["J45.909"] if rng.random() < 0.08 else [],
            pcp=PEDS if rng.random() < 0.85 else FM,
            new_in_window=rng.random() < 0.35,
            weight=12,
            guarantor=parent,
        )
        parent.dependants.append(child)
        return child

    def _people(self, n: int) -> list[_Person]:
        n_children = 0 if n < 2 else max(1, _share(n, 180))
        adults = [self._adult() for _ in range(n - n_children)]
        parents = [a for a in adults if 22 <= _age(a.dob, self.end) <= 58] or adults
        children: list[_Person] = []
        for _ in range(n_children):
            families = [a for a in adults if a.dependants]
            if families and self.rng.random() < 0.35:
                parent = self.rng.choice(families)
            else:
                parent = self.rng.choice(parents)
            children.append(self._child(parent))
        return adults + children

    def _create_patients(self, people: Sequence[_Person]) -> None:
        assert self.practice is not None
        for p in people:
            guarantor = p.guarantor.record if p.guarantor is not None else None
            p.record = patients_service.create_patient(
                self.session,
                ACTOR,
                self.practice.id,
                PatientCreate(
                    first_name=p.first,
                    last_name=p.last,
                    date_of_birth=p.dob,
                    sex=p.sex,
                    address_line1=p.address_line1,
                    address_line2=p.address_line2,
                    city=p.city,
                    state=STATE,
                    postal_code=p.postal_code,
                    phone=p.phone,
                    email=p.email,
                    guarantor_id=guarantor.id if guarantor is not None else None,
                    guarantor_relationship=(
                        GuarantorRelationship.PARENT
                        if guarantor is not None
                        else GuarantorRelationship.SELF
                    ),
                ),
            )

    # encounters ------------------------------------------------------------------------------

    def _encounters(self, people: list[_Person], n: int) -> list[_Inv]:
        rng = self.rng
        if n >= len(people):
            counts = [1] * len(people)
            for i in rng.choices(range(len(people)), [p.weight for p in people], k=n - len(people)):
                counts[i] += 1
        else:
            chosen = set(rng.sample(range(len(people)), n))
            counts = [1 if i in chosen else 0 for i in range(len(people))]
        planned: list[tuple[dt.date, dt.date, int, int, _Inv]] = []
        last_dos = self.end - dt.timedelta(days=1)
        for pi, (person, count) in enumerate(zip(people, counts, strict=True)):
            lo = max(self.start, person.dob + dt.timedelta(days=7))
            days = sorted(self._clinic_day(lo, last_dos) for _ in range(count))
            for k, dos in enumerate(days):
                provider, lines = self._visit(person, dos, first=k == 0 and person.new_in_window)
                lag = self._weighted(ISSUE_LAG_DAYS)
                inv = _Inv(
                    person, dos, min(dos + dt.timedelta(days=lag), self.end), provider, lines
                )
                person.invoices.append(inv)
                planned.append((inv.issue_on, dos, pi, k, inv))
        planned.sort(key=lambda t: t[:4])
        return [t[4] for t in planned]

    def _weighted(self, table: Mapping[T, int]) -> T:
        options = list(table)
        return self.rng.choices(options, [table[o] for o in options])[0]

    def _em(self, *, child: bool) -> str:
        return self._weighted(EM_CHILD if child else EM_ADULT)

    def _labs(self, codes: list[str], dx: Mapping[str, tuple[str, ...]]) -> list[_Line]:
        lines = [_Line(code, dx.get(code, ())) for code in codes]
        if any(code in BLOOD_LABS for code in codes):
            lines.insert(
                0, _Line("36415", tuple(dict.fromkeys(d for ln in lines for d in ln.dx))[:4])
            )
        return lines

    def _visit(self, person: _Person, dos: dt.date, *, first: bool) -> tuple[int, list[_Line]]:
        """The provider and the coded lines of one encounter."""
        rng = self.rng
        age = _age(person.dob, dos)
        child = age < 18
        flu_season = dos.month in (9, 10, 11, 12, 1, 2)
        if first:
            kind = "new"
        elif child:
            kind = self._weighted({"preventive": 30, "acute": 58, "flu": 12})
        elif person.chronic:
            kind = self._weighted(
                {"chronic": 45, "acute": 28, "preventive": 11, "procedure": 8, "flu": 8}
            )
        else:
            kind = self._weighted({"acute": 50, "preventive": 24, "procedure": 12, "flu": 14})
        if kind == "flu" and not flu_season:
            kind = "acute"
        provider = person.pcp
        flu = [_Line("90686", ("Z23",)), _Line("90471", ("Z23",))]
        dx: tuple[str, ...]
        lab_dx: dict[str, tuple[str, ...]] = {}
        if kind == "new":
            code = self._weighted(EM_NEW)
            if person.chronic:
                dx = tuple(person.chronic[:4])
                labs = [lab for c in dx for lab in CHRONIC_LABS.get(c, ())][:1]
                lab_dx.update({lab: (c,) for c in dx for lab in CHRONIC_LABS.get(c, ())})
            else:
                dx = ("Z00.00",) if not child else ("Z00.129",)
                labs = []
            lines = [_Line(code, dx), *self._labs(list(dict.fromkeys(labs)), lab_dx)]
        elif kind == "chronic":
            dx = tuple(rng.sample(person.chronic, min(len(person.chronic), rng.randint(1, 3))))
            for c in dx:
                for lab in CHRONIC_LABS.get(c, ()):
                    if rng.random() < 0.6:
                        lab_dx[lab] = (*lab_dx.get(lab, ()), c)
            lines = [_Line(self._em(child=False), dx), *self._labs(list(lab_dx), lab_dx)]
            if "I10" in dx and rng.random() < 0.1:
                lines.append(_Line("93000", ("I10",)))
        elif kind == "acute":
            dx, extra = rng.choice(ACUTE_CHILD if child else ACUTE_ADULT)
            if rng.random() < 0.35:
                provider = NP
            lines = [_Line(self._em(child=child), dx)]
            lines += [_Line(code, dx, units) for code, units in extra]
            if lines[-1].code == "J1100":
                lines[-1] = _Line("J1100", dx, rng.choice((4, 6, 8, 10)))
        elif kind == "preventive":
            if child:
                code = "99392" if age < 5 else "99393" if age < 12 else "99394"
                lines = [_Line(code, ("Z00.129",))]
            else:
                code = "G0439" if age >= 65 else "99396" if age >= 40 else "99395"
                abnormal = bool(person.chronic) and rng.random() < 0.4
                dx = ("Z00.01", *person.chronic[:3]) if abnormal else ("Z00.00",)
                lines = [_Line(code, dx)]
                if rng.random() < 0.6:
                    screening = ("Z13.220", *[c for c in person.chronic if c in CHRONIC_LABS])
                    lab_dx.update({"80053": dx[:4], "85025": dx[:4], "80061": screening[:4]})
                    if "E11.9" in person.chronic or rng.random() < 0.2:
                        lab_dx["83036"] = ("E11.9",) if "E11.9" in person.chronic else ("Z13.1",)
                    lines += self._labs(list(lab_dx), lab_dx)
        elif kind == "procedure":
            what = self._weighted({"knee": 45, "biopsy": 25, "lesion": 30})
            if what == "knee":
                side = rng.choice(("RT", "LT"))
                knee = ("M17.11", "M25.561") if side == "RT" else ("M17.12", "M25.562")
                dx = (rng.choice(knee),)
                lines = [
                    _Line("20610", dx, 1, (side,)),
                    _Line("J1100", dx, rng.choice((4, 8, 10))),
                ]
            elif what == "biopsy":
                dx = ("D48.5",)
                lines = [_Line("11102", dx)]
            else:
                dx = (rng.choice(("B07.9", "L82.1")),)
                lines = [_Line("17110", dx)]
            if rng.random() < 0.4:  # a separately identifiable visit the same day
                lines.insert(0, _Line(self._em(child=False), dx, 1, ("25",)))
        else:  # flu shot (nurse practitioner clinic)
            provider = NP if rng.random() < 0.6 else provider
            lines = list(flu)
        if kind in {"chronic", "preventive", "acute"} and flu_season and rng.random() < 0.15:
            lines += flu
        return provider, lines

    # fates -----------------------------------------------------------------------------------

    @staticmethod
    def _quotas(n: int) -> dict[str, int]:
        if n < 12:  # too few for percentages: one of each, most important first
            order = ("paid", "open", "partially_paid", "void", "written_off", "draft")
            q = dict.fromkeys(order, 0)
            for i in range(n):
                q[order[i % len(order)]] += 1
            return q
        q = {
            "draft": max(1, _share(n, 15)),
            "written_off": max(1, _share(n, 30)),
            "open": max(2, _share(n, 90)),
            "partially_paid": max(1, _share(n, 60)),
            "void": max(1, _share(n, 25)),
        }
        q["paid"] = n - sum(q.values())
        return q

    def _assign_fates(self, invs: list[_Inv]) -> None:
        rng = self.rng
        n = len(invs)
        quotas = self._quotas(n)
        fate: list[str | None] = [None] * n
        newest = list(range(n - 1, -1, -1))
        oldest = list(range(n))

        def age(i: int) -> int:
            return (self.end - invs[i].issue_on).days

        def pick(name: str, k: int, preferred: list[int], fallback: list[int]) -> list[int]:
            pool = [i for i in preferred if fate[i] is None]
            got = rng.sample(pool, min(k, len(pool)))
            for i in fallback:
                if len(got) >= k:
                    break
                if fate[i] is None and i not in got:
                    got.append(i)
            for i in got:
                fate[i] = name
            return got

        pick("draft", quotas["draft"], newest[: 3 * quotas["draft"]], newest)
        pick("written_off", quotas["written_off"], [i for i in oldest if age(i) >= 180], oldest)
        recent = [i for i in newest if age(i) <= 30 and fate[i] is None]
        k_recent = min((quotas["open"] * 2 + 4) // 5, len(recent) * 2 // 3)
        pick("open", k_recent, recent, [])
        pick("open", quotas["open"] - k_recent, [i for i in oldest if age(i) >= 45], oldest)
        pick(
            "partially_paid", quotas["partially_paid"], [i for i in oldest if age(i) >= 10], oldest
        )
        pick("void", quotas["void"], oldest, oldest)
        for i in oldest:
            invs[i].fate = fate[i] or "paid"

        # Variants: who gets credit notes, overpayments, split or auto-applied payments.
        by_fate = {name: [inv for inv in invs if inv.fate == name] for name in STATUSES}
        paid = list(by_fate["paid"])
        rng.shuffle(paid)
        credit_notes = max(2, _share(n, 50)) if n >= 12 else 1
        for inv in rng.sample(
            by_fate["open"], min(max(1, credit_notes // 6), len(by_fate["open"]))
        ):
            inv.variant = "credit"
            credit_notes -= 1
        if credit_notes >= 3 and by_fate["void"]:
            rng.choice(by_fate["void"]).variant = "credit"
            credit_notes -= 1
        sizes = [
            ("credit_then_pay", (credit_notes * 2 + 2) // 3),
            ("pay_then_small_balance", credit_notes - (credit_notes * 2 + 2) // 3),
            ("overpay", max(1, _share(n, 15))),
            ("split", _share(len(paid), 120)),
            ("auto", _share(len(paid), 150)),
        ]
        at = 0
        for variant, size in sizes:
            for inv in paid[at : at + size]:
                inv.variant = variant
            at += size
        for inv in rng.sample(invs, max(1, _share(n, 60))):
            if rng.random() < 0.6:
                inv.discount = ("percent", rng.choice((10, 15, 20, 25)))
            else:
                inv.discount = ("amount", rng.choice((500, 1000, 1500, 2000)))

    def _plan_steps(self, inv: _Inv) -> None:
        rng = self.rng
        steps: list[_Step] = []
        start = inv.issue_on

        def add(step: _Step) -> None:
            if steps and step.on < steps[-1].on:
                step.on = steps[-1].on
            steps.append(step)

        if inv.fate == "paid":
            v = inv.variant
            if v == "split":
                first = self._payment_delay(start)
                add(_Step(first, "pay", "fraction", rng.randint(300, 700)))
                add(_Step(self._after(first, 14, 45), "pay", "full"))
            elif v == "credit_then_pay":
                on = self._after(start, 0, 10)
                reason, mode, value = rng.choices(
                    (
                        (CreditReason.PROMPT_PAY, "percent", 100),
                        (CreditReason.COURTESY, "fixed", rng.choice((1000, 1500, 2000, 2500))),
                        (CreditReason.BILLING_ERROR, "percent", rng.randint(100, 300)),
                        (CreditReason.HARDSHIP, "percent", rng.choice((250, 400, 500))),
                    ),
                    (35, 30, 20, 15),
                )[0]
                add(_Step(on, "credit", mode, value, reason.value))
                add(_Step(self._after(on, 3, 30), "pay", "full"))
            elif v == "pay_then_small_balance":
                first = self._payment_delay(start)
                add(_Step(first, "pay", "all_but", rng.randint(50, 499)))
                add(
                    _Step(
                        self._after(first, 7, 30),
                        "credit",
                        "rest",
                        reason=CreditReason.SMALL_BALANCE.value,
                    )
                )
            elif v == "overpay":
                add(_Step(self._payment_delay(start), "pay", "overpay", int(rng.random() < 0.5)))
            else:
                add(_Step(self._payment_delay(start), "pay", "auto" if v == "auto" else "full"))
        elif inv.fate == "partially_paid":
            first = self._after(start, 7, 40)
            add(_Step(first, "pay", "fraction", rng.randint(200, 600)))
            if rng.random() < 0.35:
                add(_Step(self._after(first, 28, 35), "pay", "fraction", rng.randint(200, 500)))
        elif inv.fate == "open" and inv.variant == "credit":
            reason, mode, value = rng.choice(
                (
                    (CreditReason.COURTESY, "fixed", rng.choice((1000, 1500, 2500))),
                    (CreditReason.BILLING_ERROR, "percent", rng.randint(100, 300)),
                )
            )
            add(_Step(self._after(start, 3, 20), "credit", mode, value, reason.value))
        elif inv.fate == "written_off":
            if rng.random() < 0.4:
                add(_Step(self._after(start, 20, 60), "pay", "fraction", rng.randint(100, 500)))
            why = self._weighted(WRITE_OFF_REASONS)
            add(_Step(self._after(start, 150, 240), "write_off", reason=why.value))
        elif inv.fate == "void":
            if inv.variant == "credit":
                add(
                    _Step(
                        self._after(start, 1, 5),
                        "credit",
                        "percent",
                        rng.randint(100, 300),
                        CreditReason.BILLING_ERROR.value,
                    )
                )
            add(_Step(self._after(start, 1, 14), "void", reason=rng.choice(VOID_REASONS)))
        inv.steps = steps

    # timeline --------------------------------------------------------------------------------

    def _run_timeline(self, invs: list[_Inv]) -> None:
        events: list[tuple[dt.date, int, int, int]] = []
        for i, inv in enumerate(invs):
            events.append((inv.issue_on, 0, i, -1))
            events += [(step.on, 1, i, k) for k, step in enumerate(inv.steps)]
        events.sort()
        for _, _, i, k in events:
            inv = invs[i]
            if k < 0:
                self._create_invoice(inv)
                continue
            step = inv.steps[k]
            if step.done:
                continue
            step.done = True
            if step.action == "pay":
                self._pay(inv, step)
            elif step.action == "credit":
                self._credit(inv, step)
            elif step.action == "write_off":
                self._write_off(inv, step)
            else:
                self._void(inv, step)

    def _create_invoice(self, inv: _Inv) -> None:
        provider = self.providers[inv.provider]
        lines: list[InvoiceLineIn] = []
        for n, ln in enumerate(inv.lines):
            price = self._price(ln.code, inv.dos)
            discount_percent = discount_amount = None
            if inv.discount is not None and inv.discount[0] == "percent":
                discount_percent = Decimal(inv.discount[1])
            elif inv.discount is not None and n == 0:
                gross = _minor(price) * ln.units
                discount_amount = _amount(min(inv.discount[1], gross // 2))
            lines.append(
                InvoiceLineIn(
                    service_code=ln.code,
                    modifiers=list(ln.modifiers),
                    # Modifier lines have no charge-master row of their own: price them explicitly.
                    description=CHARGE_MASTER[ln.code][0] if ln.modifiers else None,
                    unit_price=price if ln.modifiers else None,
                    units=ln.units,
                    discount_amount=discount_amount,
                    discount_percent=discount_percent,
                    diagnosis_codes=list(ln.dx[:4]),
                    date_of_service=inv.dos,
                    provider_id=provider.id,
                )
            )
        memo = None
        if inv.discount is not None:
            memo = (
                f"Self-pay discount {inv.discount[1]}%"
                if inv.discount[0] == "percent"
                else "Courtesy discount on the first service line"
            )
        if inv.fate == "draft":
            memo = "Awaiting coding review before release"
        assert inv.person.record is not None
        issue = inv.fate != "draft"
        inv.record = invoices_service.create_invoice(
            self.session,
            ACTOR,
            InvoiceCreate(
                patient_id=inv.person.record.id,
                memo=memo,
                lines=lines,
                issue=issue,
                issue_date=inv.issue_on if issue else None,
            ),
        )
        inv.balance = inv.record.total_minor if issue else 0
        self.by_id[inv.record.id] = inv

    def _method(self, amount: int) -> tuple[PaymentMethod, str | None]:
        rng = self.rng
        weights = dict(METHODS)
        if amount > 15000:  # few people bring more than $150 in cash
            weights[PaymentMethod.CASH] = 4
        method = self._weighted(weights)
        if method is PaymentMethod.CARD:
            return method, f"{rng.choice(CARD_BRANDS)} ending {rng.randint(0, 9999):04d}"
        if method is PaymentMethod.CHECK:
            return method, f"Check #{rng.randint(1001, 9899)}"
        if method is PaymentMethod.BANK_TRANSFER:
            # A trace number starts with the originating bank's routing number, whose first
            # digits are a Federal Reserve district (never a card network's prefix, which the
            # payments API would refuse as a card number).
            return method, f"ACH trace 0{rng.randrange(10**15) % 10**14:014d}"
        return method, f"Receipt R-{rng.randint(1, 999999):06d}" if rng.random() < 0.7 else None

    def _pay(self, inv: _Inv, step: _Step) -> None:
        combine = self.rng.random() < 0.35
        if not inv.collectible:
            return
        person = inv.person
        balance = inv.balance
        targets = [inv]
        if step.mode == "full":
            amount = balance
            if combine and inv.variant == "full":
                # Settle other invoices of this patient that are waiting for the same payment.
                for other in person.invoices:
                    if (
                        other is not inv
                        and other.variant == "full"
                        and other.fate == "paid"
                        and other.collectible
                        and not other.steps[0].done
                        and len(targets) < 3
                    ):
                        other.steps[0].done = True
                        targets.append(other)
                amount = sum(t.balance for t in targets)
        elif step.mode == "fraction":
            amount = balance * step.value // 1000 // 500 * 500  # whole five dollars
            if amount <= 0 or amount >= balance:
                amount = balance // 2
        elif step.mode == "all_but":
            amount = balance - step.value
        elif step.mode == "overpay":
            amount = balance + 2000 - balance % 2000  # rounded up to the next $20 note
        else:  # auto
            amount = balance
        if amount <= 0:
            return
        method, reference = self._method(amount)
        # The service applies a payment without allocations oldest-due first; use that when this
        # invoice is the patient's only open one, so where the money lands is known.
        others_open = any(o is not inv and o.collectible for o in person.invoices)
        auto = step.mode == "auto" or (step.mode == "overpay" and step.value == 1)
        auto = auto and not others_open
        allocations = None
        if not auto:
            # An overpayment allocates the balance; the rest of the money becomes patient credit.
            shares = [(inv, min(amount, balance))] + [(t, t.balance) for t in targets[1:]]
            allocations = [
                AllocationIn(invoice_id=t.record.id, amount=_amount(share))
                for t, share in shares
                if t.record is not None
            ]
        else:
            # record_payment picks candidates by their *stored* status: flush the invoice
            # issued earlier in this unit of work first (see the report on autoflush).
            self.session.flush()
        assert person.record is not None
        view = payments_service.record_payment(
            self.session,
            ACTOR,
            PaymentCreate(
                patient_id=person.record.id,
                amount=_amount(amount),
                method=method,
                received_on=step.on,
                reference=reference,
                allocations=allocations,
            ),
        )
        for a in view.allocations:
            self.by_id[a.invoice_id].balance -= a.amount_minor
        self.payments += 1
        self.methods[method.value] += 1
        self.collected += amount
        self.auto_applied += int(auto)
        self.multi += int(len(view.allocations) > 1)
        if view.payment.unapplied_minor > 0:
            self.overpayments += 1
            self.credit_held += view.payment.unapplied_minor

    def _credit(self, inv: _Inv, step: _Step) -> None:
        if not inv.collectible:
            return
        balance = inv.balance
        if step.mode == "percent":
            amount = max(100, balance * step.value // 1000)
        elif step.mode == "fixed":
            amount = step.value
        else:
            amount = balance
        if step.mode != "rest" and amount >= balance:
            amount = balance // 2
        if amount <= 0:
            return
        assert inv.record is not None
        invoices_service.add_credit_note(
            self.session,
            ACTOR,
            inv.record.id,
            CreditNoteCreate(
                amount=_amount(amount),
                reason_code=CreditReason(step.reason),
                memo=CREDIT_MEMOS[step.reason],
            ),
        )
        inv.balance -= amount
        self.credit_notes += 1

    def _write_off(self, inv: _Inv, step: _Step) -> None:
        if not inv.collectible:
            return
        reason = WriteOffReason(step.reason)
        if inv.balance < 1000:
            reason = WriteOffReason.SMALL_BALANCE
        assert inv.record is not None
        invoices_service.write_off_invoice(
            self.session,
            ACTOR,
            inv.record.id,
            WriteOffCreate(reason_code=reason, memo=WRITE_OFF_MEMOS[reason.value]),
        )
        inv.balance = 0
        self.write_offs += 1

    def _void(self, inv: _Inv, step: _Step) -> None:
        if inv.record is None or inv.record.status not in {"open", "partially_paid"}:
            return
        invoices_service.void_invoice(
            self.session, ACTOR, inv.record.id, InvoiceVoid(reason=step.reason)
        )
        inv.balance = 0
        self.voids += 1

    # patient logins and the result -----------------------------------------------------------

    def _patient_logins(self, people: list[_Person]) -> None:
        adults = [p for p in people if not p.is_child]
        guarantor = next((p for p in adults if p.dependants), None)
        owing = [
            p
            for p in adults
            if not p.dependants and any(i.fate in {"open", "partially_paid"} for i in p.invoices)
        ]
        others = owing or [p for p in adults if p is not guarantor]
        second = max(others, key=lambda p: len(p.invoices), default=None)
        taken = {lg.username for lg in self.logins}
        for person in (guarantor, second):
            if person is None or person.record is None:
                continue
            base = f"{_slug(person.first)}.{_slug(person.last)}"
            username, n = base, 1
            while username in taken:
                n += 1
                username = f"{base}{n}"
            taken.add(username)
            auth_service.create_user(
                self.session,
                ACTOR,
                UserCreate(
                    username=username,
                    password=PATIENT_PASSWORD,
                    role=Role.PATIENT,
                    patient_id=person.record.id,
                ),
                self.hasher,
            )
            if person.dependants:
                names = ", ".join(f"{d.first} {d.last}" for d in person.dependants)
                note = f"patient {person.first} {person.last}, guarantor for {names}"
            else:
                note = f"patient {person.first} {person.last}, with a balance due"
            self.logins.append(Login(username, PATIENT_PASSWORD, Role.PATIENT.value, note))

    def _result(self, people: list[_Person], invs: list[_Inv]) -> SeedResult:
        assert self.practice is not None
        statuses = dict.fromkeys(STATUSES, 0)
        billed = outstanding = overdue = 0
        for inv in invs:
            assert inv.record is not None
            status = inv.record.status
            statuses[status] += 1
            if status not in {"draft", "void"}:
                billed += inv.record.total_minor
            if status in {"open", "partially_paid"}:
                outstanding += inv.balance
            overdue += int(calc.is_overdue(status, inv.record.due_date, self.end))
        return SeedResult(
            seed=self.seed,
            practice_id=self.practice.id,
            practice_name=self.practice.name,
            practice_npi=self.practice.npi,
            window_start=self.start,
            window_end=self.end,
            providers=len(self.providers),
            service_items=self.service_items,
            procedure_codes=len(CHARGE_MASTER),
            patients=len(people),
            dependants=sum(1 for p in people if p.is_child),
            invoices=len(invs),
            statuses=statuses,
            overdue=overdue,
            discounted_invoices=sum(1 for inv in invs if inv.discount is not None),
            payments=self.payments,
            payment_methods={m.value: self.methods[m.value] for m in METHODS},
            auto_applied_payments=self.auto_applied,
            multi_invoice_payments=self.multi,
            overpayments=self.overpayments,
            credit_notes=self.credit_notes,
            write_offs=self.write_offs,
            voids=self.voids,
            billed_minor=billed,
            collected_minor=self.collected,
            outstanding_minor=outstanding,
            credit_held_minor=self.credit_held,
            currency=CURRENCY,
            logins=tuple(self.logins),
        )
