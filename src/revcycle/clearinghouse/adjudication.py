"""The payer simulator's adjudication of one claim, pure (no database, no clock).

Input: the claim as read from the 837 (``x12.claim837_reader.ClaimRead``), the plan's terms,
the member's accumulators as the payer tracks them, each line's contracted allowed amount
(looked up by the caller with ``insurance.service.allowed_on``; ``None`` = no rate) and the
scenario chosen by the member id suffix. Output: per line the payment and the CAS adjustments,
balanced by construction (``charge = paid + sum(CAS)``), ready for the 835 writer.

Order of decisions (docs/payer-simulator.md):

1. Whole-claim denials (CLP02 ``4``, every line adjusted in full): a duplicate of a claim the
   payer already adjudicated (``CO-18`` + ``N522``), past the payer's timely-filing days
   (``CO-29``), coverage not in force on the date of service (``CO-26`` before it starts,
   ``CO-27`` after it ends, + ``N30``), the ``XDN`` scenario (``CO-50``, not medically
   necessary).
2. Line denials: a code the plan pays only with a prior authorisation when the claim has no
   ``REF*G1`` (``CO-197`` + ``M62``), a code without a contracted rate (``CO-96`` + ``N130``), and
   in the ``XPP`` scenario every line after the first (``CO-97`` + ``M15``, bundled).
3. The other lines: allowed = min(charge, rate x units); ``CO-45`` = charge - allowed; the patient's
   share by ``estimates.calc.estimate`` (copay ``PR-3``, deductible ``PR-1``, coinsurance
   ``PR-2``, in line order, the out-of-pocket maximum capping each step) against the member's
   running accumulators; the payer pays the rest.
4. A secondary claim (2000B ``SBR01`` ``S``/``T``) with the prior payer's line payments (2430):
   ``CO-45`` = charge - allowed, ``OA-23`` = what the prior payer paid (up to the allowed amount),
   the patient's share on what remains, CLP02 ``2``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from revcycle.estimates.calc import Benefits, CostShareOrder, LineInput, category_of, estimate
from revcycle.money import Money
from revcycle.x12.claim837_reader import ClaimRead, LineRead
from revcycle.x12.payer_files import Cas, ClaimPaymentOut, ServicePayment

# Member id suffixes choosing a scenario (checked case-insensitively).
DENY_ALL = "XDN"  # every claim denied (CO-50)
PARTIAL = "XPP"  # only the first line paid; the others bundled (CO-97 + M15)
REVERSE = "XRV"  # paid, then reversed (CLP02 22) and re-adjudicated at 90% of the rate
INTEREST = "XIT"  # paid late: interest (PLB L6) of 1% of the payment, at least 0.01
RECOUP = "XWO"  # the payer recovers an earlier overpayment (PLB WO) of 25.00 at most
REJECT = "XRJ"  # the payer's front end rejects the claim (277CA A7:158:IL, subscriber birth date)
CROSSOVER = "XCO"  # forwarded to the secondary payer (CLP02 19), which pays the patient's share
DUPLICATE = "XDP"  # paid, then paid again by mistake in the later run (no reversal)
SCENARIOS = (DENY_ALL, PARTIAL, REVERSE, INTEREST, RECOUP, REJECT, CROSSOVER, DUPLICATE)
REPRICE_RATE = Decimal("0.9")
# 835 CLP06 claim filing indicators (the 837's SBR09 is kept when it is one of them; CI and BL
# are not, so the plan's product type decides: PPO 12, POS 13, EPO 14, HMO HM, indemnity 15).
CLP06 = frozenset(
    ("12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM")
    + ("LM", "MA", "MB", "MC", "OF", "TV", "VA", "WC", "ZZ")
)
PRODUCT_FILING = {
    "ppo": "12",
    "pos": "13",
    "epo": "14",
    "hmo": "HM",
    "indemnity": "15",
}  # the XRV correction's share of the original allowed amount


def scenario_of(member_id: str) -> str | None:
    upper = member_id.upper()
    return next((s for s in SCENARIOS if upper.endswith(s)), None)


@dataclass(frozen=True, slots=True)
class PlanTerms:
    currency: str
    deductible_minor: int
    coinsurance_bp: int
    copays: Mapping[str, int]
    cost_share_order: str
    auth_required_codes: frozenset[str]
    timely_filing_days: int
    coverage_from: dt.date
    coverage_to: dt.date | None
    oop_max_minor: int | None = None
    family_deductible_minor: int | None = None
    family_oop_max_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Accumulators:
    deductible_met_minor: int = 0
    oop_met_minor: int = 0
    family_deductible_met_minor: int = 0
    family_oop_met_minor: int = 0


@dataclass(frozen=True, slots=True)
class LineOutcome:
    line: LineRead
    paid_minor: int
    adjustments: tuple[Cas, ...]
    allowed_minor: int | None = None
    remarks: tuple[str, ...] = ()
    deductible_minor: int = 0
    patient_minor: int = 0


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    status_code: str  # 1 primary, 2 secondary, 4 denied
    lines: tuple[LineOutcome, ...]
    reason: str | None = None  # a whole-claim denial: its CARC
    remarks: tuple[str, ...] = field(default=())

    @property
    def paid_minor(self) -> int:
        return sum(x.paid_minor for x in self.lines)

    @property
    def patient_minor(self) -> int:
        return sum(x.patient_minor for x in self.lines)

    @property
    def deductible_minor(self) -> int:
        return sum(x.deductible_minor for x in self.lines)


def line_allowed(unit_allowed_minor: int, units: Decimal, currency: str) -> int:
    """The contracted amount for the line: the per-unit rate times the units (rounded once)."""
    return Money(unit_allowed_minor, currency).times_rate(units).amount_minor


def _deny_line(line: LineRead, reason: str, remarks: tuple[str, ...]) -> LineOutcome:
    adjustments = (Cas("CO", reason, line.charge_minor),) if line.charge_minor else ()
    return LineOutcome(line, 0, adjustments, remarks=remarks)


def _whole_claim_denial(
    claim: ClaimRead, terms: PlanTerms, received_on: dt.date, duplicate: bool, scenario: str | None
) -> tuple[str, tuple[str, ...]] | None:
    first = claim.service_date or received_on
    last = claim.service_date_to or first
    if duplicate:
        return "18", ("N522",)
    if (received_on - first).days > terms.timely_filing_days:
        return "29", ()
    if first < terms.coverage_from:
        return "26", ("N30",)
    if terms.coverage_to is not None and last > terms.coverage_to:
        return "27", ("N30",)
    if scenario == DENY_ALL:
        return "50", ()
    return None


def adjudicate(
    claim: ClaimRead,
    terms: PlanTerms,
    accumulated: Accumulators,
    allowed: Sequence[int | None],
    *,
    received_on: dt.date,
    duplicate: bool = False,
    scenario: str | None = None,
) -> ClaimOutcome:
    """``allowed`` holds each line's contracted allowed amount (rate x units), ``None`` when the
    plan has no rate for the code on that date."""
    if len(allowed) != len(claim.lines):
        raise ValueError("one allowed amount (or None) per line")
    denial = _whole_claim_denial(claim, terms, received_on, duplicate, scenario)
    if denial is not None:
        reason, remarks = denial
        return ClaimOutcome(
            "4", tuple(_deny_line(ln, reason, remarks) for ln in claim.lines), reason, remarks
        )
    cur = terms.currency
    secondary = claim.responsibility in ("S", "T") and any(ln.prior_payments for ln in claim.lines)
    payable: list[tuple[int, LineRead, int, int]] = []  # (index, line, allowed, prior paid)
    outcomes: dict[int, LineOutcome] = {}
    for i, (ln, rate) in enumerate(zip(claim.lines, allowed, strict=True)):
        if ln.procedure in terms.auth_required_codes and not claim.prior_authorization:
            outcomes[i] = _deny_line(ln, "197", ("M62",))
        elif rate is None:
            outcomes[i] = _deny_line(ln, "96", ("N130",))
        elif scenario == PARTIAL and i > 0:
            outcomes[i] = _deny_line(ln, "97", ("M15",))
        else:
            line_allowed_minor = min(rate, ln.charge_minor)
            prior = sum(p.paid_minor for p in ln.prior_payments) if secondary else 0
            payable.append((i, ln, line_allowed_minor, min(prior, line_allowed_minor)))
    benefits = Benefits(
        currency=cur,
        deductible=Money(terms.deductible_minor, cur),
        deductible_met=Money(accumulated.deductible_met_minor, cur),
        coinsurance=Decimal(terms.coinsurance_bp) / Decimal(10000),
        copays={k: Money(v, cur) for k, v in terms.copays.items()},
        oop_max=None if terms.oop_max_minor is None else Money(terms.oop_max_minor, cur),
        oop_met=Money(accumulated.oop_met_minor, cur),
        family_deductible=(
            None
            if terms.family_deductible_minor is None
            else Money(terms.family_deductible_minor, cur)
        ),
        family_deductible_met=Money(accumulated.family_deductible_met_minor, cur),
        family_oop_max=(
            None if terms.family_oop_max_minor is None else Money(terms.family_oop_max_minor, cur)
        ),
        family_oop_met=Money(accumulated.family_oop_met_minor, cur),
        order=CostShareOrder(terms.cost_share_order),
    )
    shares = estimate(
        benefits,
        [
            LineInput(ln.procedure, Money(a - prior, cur), category_of(ln.procedure))
            for _, ln, a, prior in payable
        ],
    ).lines
    for (i, ln, a, prior), share in zip(payable, shares, strict=True):
        cas: list[Cas] = []
        if ln.charge_minor - a:
            cas.append(Cas("CO", "45", ln.charge_minor - a))
        if prior:
            cas.append(Cas("OA", "23", prior))
        for reason, part in (("1", share.deductible), ("2", share.coinsurance), ("3", share.copay)):
            if part.amount_minor:
                cas.append(Cas("PR", reason, part.amount_minor))
        outcomes[i] = LineOutcome(
            ln,
            share.insurance.amount_minor,
            tuple(cas),
            allowed_minor=a,
            deductible_minor=share.deductible.amount_minor,
            patient_minor=share.patient.amount_minor,
        )
    lines = tuple(outcomes[i] for i in range(len(claim.lines)))
    if not payable:
        return ClaimOutcome("4", lines)
    return ClaimOutcome("2" if secondary else "1", lines)


def payment_out(
    claim: ClaimRead,
    outcome: ClaimOutcome,
    payer_claim_number: str,
    *,
    received_on: dt.date,
    status_code: str | None = None,
    sign: int = 1,
    original_reference: str | None = None,
    filing_indicator: str = "12",
) -> ClaimPaymentOut:
    """The 835 CLP loop for an outcome: CLP01 echoes CLM01, CLP07 is the payer's claim number,
    each SVC echoes the line's procedure, modifiers and REF*6R. ``sign=-1`` writes the reversal
    (CLP02 22, every amount negated)."""
    patient = claim.patient or claim.subscriber
    lines = tuple(
        ServicePayment(
            procedure=o.line.procedure,
            modifiers=tuple(o.line.modifiers),
            charge_minor=sign * o.line.charge_minor,
            paid_minor=sign * o.paid_minor,
            units=o.line.units,
            service_date=o.line.service_date or received_on,
            line_control_number=o.line.line_control_number,
            adjustments=tuple(
                Cas(a.group, a.reason, sign * a.amount_minor, a.quantity) for a in o.adjustments
            ),
            allowed_minor=None if o.allowed_minor is None or sign < 0 else o.allowed_minor,
            remarks=o.remarks if sign > 0 else (),
            service_date_to=o.line.service_date_to,
        )
        for o in outcome.lines
    )
    return ClaimPaymentOut(
        patient_control_number=claim.claim_id,
        status_code=status_code or ("22" if sign < 0 else outcome.status_code),
        charge_minor=sign * claim.charge_minor,
        paid_minor=sign * outcome.paid_minor,
        patient_responsibility_minor=sign * outcome.patient_minor,
        payer_claim_number=payer_claim_number,
        patient_last_name=patient.last_name,
        patient_first_name=patient.first_name,
        member_id=claim.member_id,
        filing_indicator=claim.filing_code if claim.filing_code in CLP06 else filing_indicator,
        facility_code=claim.place_of_service,
        frequency_code=claim.frequency,
        received_on=received_on,
        lines=lines,
        original_reference=original_reference,
    )
