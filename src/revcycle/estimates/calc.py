"""Patient-responsibility estimates: pure, exact money maths (no database, no clock).

The inputs are plain values so that any source can feed them: the plan's stored benefit
parameters today, a 271 eligibility response later (:class:`Benefits`), and per-line allowed
amounts already looked up (fee schedule, or the charge master out of network).

Algorithm (docs/insurance.md, "Estimates"), line by line **in the order given** (the order the
lines will be billed; payers adjudicate claim lines in that order), against running accumulators:

* ``remaining deductible = min(individual deductible - met, family deductible - family met)``
  (an embedded family deductible: the individual stops paying deductible when either is met);
  the out-of-pocket room is computed the same way from the OOP maximums.
* Each cost-sharing step takes ``min(step amount, what is left of the line, OOP room)``, so the
  out-of-pocket maximum caps every step as it is applied; what the patient does not pay the plan
  pays: ``insurance = allowed - patient``.
* Orders (:class:`CostShareOrder`):
  ``copay_then_deductible`` (the default): the copay of the line's category, then the deductible
  on the rest, then coinsurance on what is left;
  ``deductible_then_copay``: deductible first, then the copay, then coinsurance;
  ``copay_only``: a line with a copay costs the patient the copay alone (deductible and
  coinsurance waived, the usual office-visit design); lines without a copay go deductible ->
  coinsurance.
* Coinsurance is ``round_to_minor(rest * rate)`` (money.py, half up), once per line.
* Copays count toward the out-of-pocket maximum (ACA rule); they do not count toward the deductible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from revcycle.money import Money


class CostShareOrder(StrEnum):
    COPAY_THEN_DEDUCTIBLE = "copay_then_deductible"
    DEDUCTIBLE_THEN_COPAY = "deductible_then_copay"
    COPAY_ONLY = "copay_only"


@dataclass(frozen=True)
class Benefits:
    """What the patient's plan shares, and how much of this benefit year is already met.

    Amounts are for the benefit year of the service date. ``None`` maximums mean "none" (no
    family deductible, no OOP maximum)."""

    currency: str
    deductible: Money
    deductible_met: Money
    coinsurance: Decimal  # the patient's share of the allowed amount after the deductible, 0..1
    copays: Mapping[str, Money] = field(default_factory=dict)  # by service category
    oop_max: Money | None = None
    oop_met: Money | None = None
    family_deductible: Money | None = None
    family_deductible_met: Money | None = None
    family_oop_max: Money | None = None
    family_oop_met: Money | None = None
    order: CostShareOrder = CostShareOrder.COPAY_THEN_DEDUCTIBLE

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.coinsurance <= Decimal(1):
            raise ValueError("coinsurance is a rate between 0 and 1")


@dataclass(frozen=True)
class LineInput:
    code: str
    allowed: Money  # for the whole line (unit allowed x units)
    category: str = "other"
    modifier: str | None = None
    units: int = 1
    basis: str = "fee schedule"  # where the allowed amount came from, for the reasoning


@dataclass(frozen=True)
class LineResult:
    code: str
    modifier: str | None
    units: int
    allowed: Money
    copay: Money
    deductible: Money
    coinsurance: Money
    patient: Money
    insurance: Money
    reasoning: tuple[str, ...]


@dataclass(frozen=True)
class EstimateResult:
    lines: tuple[LineResult, ...]
    allowed: Money
    patient: Money
    insurance: Money
    deductible_remaining_after: Money | None  # None: no deductible applies
    oop_remaining_after: Money | None  # None: no OOP maximum


def _room(limit: Money | None, met: Money | None) -> Money | None:
    if limit is None:
        return None
    used = met if met is not None else Money.zero(limit.currency)
    left = limit - used
    return left if left.is_positive() else Money.zero(limit.currency)


def _least(*values: Money | None) -> Money | None:
    present = [v for v in values if v is not None]
    return min(present, key=lambda m: m.amount_minor) if present else None


def _fmt_rate(rate: Decimal) -> str:
    pct = (rate * 100).normalize()
    return f"{pct:f}%"


@dataclass
class _State:
    deductible: Money  # remaining
    oop: Money | None  # remaining; None = no maximum

    def take(self, wanted: Money, left: Money) -> Money:
        """The part of ``wanted`` the patient pays: within the line and the OOP room."""
        amount = min(wanted, left, key=lambda m: m.amount_minor)
        if self.oop is not None:
            amount = min(amount, self.oop, key=lambda m: m.amount_minor)
            self.oop = self.oop - amount
        return amount


def estimate(benefits: Benefits, lines: Sequence[LineInput]) -> EstimateResult:
    cur = benefits.currency
    zero = Money.zero(cur)
    for ln in lines:
        if ln.allowed.currency != cur or ln.allowed.is_negative():
            raise ValueError("line allowed amounts are non-negative and in the benefits currency")
    deductible_room = _least(
        _room(benefits.deductible, benefits.deductible_met),
        _room(benefits.family_deductible, benefits.family_deductible_met),
    )
    oop_room = _least(
        _room(benefits.oop_max, benefits.oop_met),
        _room(benefits.family_oop_max, benefits.family_oop_met),
    )
    state = _State(deductible_room or zero, oop_room)
    results = [_line(benefits, state, ln) for ln in lines]
    return EstimateResult(
        lines=tuple(results),
        allowed=Money(sum(r.allowed.amount_minor for r in results), cur),
        patient=Money(sum(r.patient.amount_minor for r in results), cur),
        insurance=Money(sum(r.insurance.amount_minor for r in results), cur),
        deductible_remaining_after=state.deductible,
        oop_remaining_after=state.oop,
    )


def _line(b: Benefits, state: _State, ln: LineInput) -> LineResult:
    cur = b.currency
    zero = Money.zero(cur)
    why = [f"allowed {ln.allowed.format()} ({ln.basis})"]
    left = ln.allowed
    copay = deductible = coinsurance = zero
    copay_due = b.copays.get(ln.category)

    def oop_note(wanted: Money, got: Money, what: str) -> None:
        if got < min(wanted, left, key=lambda m: m.amount_minor):
            why.append(f"out-of-pocket maximum reached: {what} limited to {got.format()}")

    def apply_copay() -> None:
        nonlocal copay, left
        if copay_due is None or copay_due.is_zero():
            return
        copay = state.take(copay_due, left)
        oop_note(copay_due, copay, "copay")
        if copay_due > ln.allowed:
            why.append(
                f"copay ({ln.category}) {copay_due.format()} exceeds the allowed amount: "
                f"{copay.format()} charged"
            )
        else:
            why.append(f"copay ({ln.category}) {copay.format()}")
        left = left - copay

    def apply_deductible() -> None:
        nonlocal deductible, left
        if state.deductible.is_zero():
            if not b.deductible.is_zero():
                why.append("deductible already met")
            return
        before = state.deductible
        deductible = state.take(before, left)
        oop_note(before, deductible, "deductible")
        state.deductible = state.deductible - deductible
        left = left - deductible
        met = " (deductible now met)" if state.deductible.is_zero() else ""
        why.append(
            f"deductible {deductible.format()} of {before.format()} remaining; "
            f"{state.deductible.format()} left{met}"
        )

    def apply_coinsurance() -> None:
        nonlocal coinsurance, left
        if left.is_zero() or b.coinsurance == 0:
            if b.coinsurance == 0 and left.is_positive():
                why.append(f"coinsurance 0%: the plan pays the remaining {left.format()}")
            return
        wanted = left.times_rate(b.coinsurance)
        coinsurance = state.take(wanted, left)
        why.append(f"coinsurance {_fmt_rate(b.coinsurance)} of {left.format()} = {wanted.format()}")
        oop_note(wanted, coinsurance, "coinsurance")
        left = left - coinsurance

    if ln.allowed.is_zero():
        why.append("nothing to share on a zero allowed amount")
    elif b.order is CostShareOrder.COPAY_ONLY and copay_due is not None:
        apply_copay()
        why.append("copay only: deductible and coinsurance waived for this service")
    else:
        steps = {
            CostShareOrder.COPAY_THEN_DEDUCTIBLE: (apply_copay, apply_deductible),
            CostShareOrder.DEDUCTIBLE_THEN_COPAY: (apply_deductible, apply_copay),
            CostShareOrder.COPAY_ONLY: (apply_deductible,),
        }[b.order]
        for step in steps:
            if state.oop is not None and state.oop.is_zero() and left.is_positive():
                why.append("out-of-pocket maximum already reached: the plan pays the rest")
                break
            step()
        else:
            apply_coinsurance()
    patient = copay + deductible + coinsurance
    insurance = ln.allowed - patient
    why.append(f"patient {patient.format()}, insurance {insurance.format()}")
    return LineResult(
        code=ln.code,
        modifier=ln.modifier,
        units=ln.units,
        allowed=ln.allowed,
        copay=copay,
        deductible=deductible,
        coinsurance=coinsurance,
        patient=patient,
        insurance=insurance,
        reasoning=tuple(why),
    )


# good-faith estimates (self-pay) -----------------------------------------------------------------


@dataclass(frozen=True)
class SelfPayLine:
    code: str
    unit_price: Money  # charge master
    units: int = 1
    modifier: str | None = None


def good_faith(lines: Sequence[SelfPayLine], discount: Decimal, currency: str) -> EstimateResult:
    """Self-pay: the charge master price times units, minus the practice's self-pay discount
    (a rate, rounded once per line). The patient owes it all; no insurance."""
    if not Decimal(0) <= discount <= Decimal(1):
        raise ValueError("the self-pay discount is a rate between 0 and 1")
    zero = Money.zero(currency)
    out = []
    for ln in lines:
        charge = ln.unit_price * ln.units
        off = charge.times_rate(discount)
        patient = charge - off
        why = [f"charge master {ln.unit_price.format()} x {ln.units} = {charge.format()}"]
        if off.is_positive():
            why.append(f"self-pay discount {_fmt_rate(discount)}: -{off.format()}")
        why.append(f"patient {patient.format()}")
        out.append(
            LineResult(
                code=ln.code,
                modifier=ln.modifier,
                units=ln.units,
                allowed=patient,
                copay=zero,
                deductible=zero,
                coinsurance=zero,
                patient=patient,
                insurance=zero,
                reasoning=tuple(why),
            )
        )
    total = Money(sum(r.patient.amount_minor for r in out), currency)
    return EstimateResult(tuple(out), total, total, zero, None, None)


# service categories ----------------------------------------------------------------------------

CATEGORIES = ("office_visit", "specialist", "preventive", "lab", "imaging", "procedure", "other")


def category_of(code: str) -> str:
    """A default service category for a CPT/HCPCS code (copays are set per category); an
    estimate line may name another. Preventive visits and screenings first, then E/M visits,
    pathology/lab, radiology, surgery/medicine procedures."""
    if code[:5].isdigit():
        n = int(code[:5])
        if 99381 <= n <= 99429:
            return "preventive"
        if 99202 <= n <= 99499:
            return "office_visit"
        if 80000 <= n <= 89999:
            return "lab"
        if 70000 <= n <= 79999:
            return "imaging"
        if 10000 <= n <= 69999 or 90281 <= n <= 99199:
            return "procedure"
        return "other"
    if code.startswith("G04") or code in {"G0101", "G0102", "G0121"}:
        return "preventive"
    return "other"
