"""The scrubber's rules, as data (docs/claims-scrubber.md).

:data:`RULES` is an ordered table of :class:`Rule` objects: a stable code, a severity (``error``
blocks submission, ``warning`` allows it, ``hold`` parks the claim) and a check function. A check
reads a :class:`ScrubInput` (everything it needs, loaded once by :mod:`revcycle.claims.scrubber`)
and yields :class:`Finding` objects; it never touches the database, so every rule is pure and
the whole table runs in one pass, returning every problem at once in rule order.

Locations: ``field`` names the claim field (``rendering_provider_id``, ``billing_provider.npi``,
``diagnosis_codes[2]`` - 1-based, the way line pointers count), and ``line`` is the service
line's position (1-based, LX01) when the problem is on a line.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from revcycle.claims.models import Claim, ClaimLine
from revcycle.codesets.service import DiagnosisCheck
from revcycle.insurance.models import Coverage, InsurancePlan, Payer
from revcycle.kit import codes
from revcycle.practices.models import Practice, Provider

Severity = Literal["error", "warning", "hold"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "hold")

# -- reference tables (documented in docs/claims-scrubber.md) -----------------------------------

MAX_POINTERS = 4  # SV107 holds at most four diagnosis pointers
MAX_MODIFIERS = 4  # SV101-3..6
TIMELY_FILING_WARNING_DAYS = 10  # warn when the filing deadline is this close
# Distinct-procedural-service modifiers: they bypass an edit pair that allows a modifier.
BYPASS_MODIFIERS = frozenset({"59", "XE", "XS", "XP", "XU"})
# A line carrying one of these declares a repeat of the same service the same day (repeat
# procedure by the same / another physician, repeat clinical laboratory test): not a duplicate.
REPEAT_MODIFIERS = frozenset({"76", "77", "91"})
# Modifiers valid only on a range of procedure codes.
MODIFIER_ONLY_ON: Mapping[str, tuple[str, str, str]] = {
    # Significant, separately identifiable E/M service on the day of a procedure.
    "25": ("99202", "99499", "an E/M code (99202-99499)"),
    # Decision for surgery: also an E/M modifier.
    "57": ("99202", "99499", "an E/M code (99202-99499)"),
}
# At most one modifier of each group on a line.
MODIFIER_EXCLUSIVE: tuple[tuple[str, ...], ...] = (
    ("26", "TC"),  # professional component / technical component: bill neither for global
    ("59", "XE", "XS", "XP", "XU"),  # one distinct-service modifier (X{EPSU} refine 59)
    ("50", "LT", "RT"),  # bilateral, or one side
)
# Example unbundling pairs a practice may load (`revcycle claims load-example-edits`): well
# known illustrations, NOT a copy of the CMS NCCI tables, which each practice maintains itself.
EXAMPLE_EDIT_PAIRS: tuple[tuple[str, str, bool, str], ...] = (
    ("80053", "80048", False, "The basic metabolic panel is part of the comprehensive panel"),
    ("93000", "93010", False, "A complete ECG includes its interpretation and report"),
    ("97140", "97530", True, "Manual therapy and therapeutic activities in one session"),
)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    field: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "field": self.field,
            "line": self.line,
        }


@dataclass(frozen=True)
class EditPair:
    column1: str
    column2: str
    modifier_bypass: bool


@dataclass(frozen=True)
class ScrubInput:
    """What the rules read: the claim, its parties, and the facts looked up in the database."""

    claim: Claim
    lines: Sequence[ClaimLine]
    practice: Practice
    rendering: Provider | None
    referring: Provider | None
    payer: Payer
    plan: InsurancePlan
    coverage: Coverage
    today: dt.date  # the submission date the scrub assumes
    # (1-based diagnosis index, date of service) -> the code-set verdict.
    diagnosis_checks: Mapping[tuple[int, dt.date], DiagnosisCheck] = field(default_factory=dict)
    held_lines: frozenset[int] = frozenset()  # positions whose authorisation usage is held
    # line position -> control number of another live claim with the same patient/date/code
    duplicates: Mapping[int, str] = field(default_factory=dict)
    edit_pairs: Sequence[EditPair] = ()
    unit_limits: Mapping[str, int] = field(default_factory=dict)  # code -> max units per day


Check = Callable[["Rule", ScrubInput], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    title: str  # what it checks (docs)
    check: Check

    def finding(self, message: str, field: str, line: int | None = None) -> Finding:
        return Finding(self.code, self.severity, message, field, line)

    def run(self, inp: ScrubInput) -> list[Finding]:
        return list(self.check(self, inp))


def run_rules(inp: ScrubInput, rules: Sequence[Rule] | None = None) -> list[Finding]:
    """Every finding of every rule, in rule order (then claim fields before lines)."""
    return [f for rule in (RULES if rules is None else rules) for f in rule.run(inp)]


# -- checks --------------------------------------------------------------------------------------


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _required(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    p = inp.practice
    if _blank(p.npi):
        yield rule.finding("The billing provider (practice) has no NPI", "billing_provider.npi")
    if _blank(p.tin):
        yield rule.finding(
            "The billing provider (practice) has no tax id (EIN)", "billing_provider.tin"
        )
    if _blank(p.address_line1) or _blank(p.city) or _blank(p.state):
        yield rule.finding(
            "The billing provider's street address, city and state are required",
            "billing_provider.address",
        )
    if not (p.postal_code or "").isdigit() or len(p.postal_code or "") != 9:
        yield rule.finding(
            "The billing provider's ZIP code must have 9 digits (ZIP+4) on a claim",
            "billing_provider.postal_code",
        )
    if inp.rendering is None:
        yield rule.finding("The claim has no rendering provider", "rendering_provider_id")
    if _blank(inp.coverage.member_id):
        yield rule.finding("The subscriber's member id is missing", "subscriber.member_id")
    if _blank(inp.payer.edi_payer_id):
        yield rule.finding("The payer has no payer id to route the claim by", "payer.edi_payer_id")
    if not inp.claim.diagnosis_codes:
        yield rule.finding("The claim carries no diagnosis code", "diagnosis_codes")
    for ln in inp.lines:
        if not ln.diagnosis_pointers:
            yield rule.finding(
                f"Line {ln.position} ({ln.procedure}) points to no diagnosis",
                "diagnosis_pointers",
                ln.position,
            )


def _npi(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    parties: list[tuple[str, str, str | None]] = [
        ("billing_provider.npi", "billing provider", inp.practice.npi),
        (
            "rendering_provider.npi",
            "rendering provider",
            inp.rendering.npi if inp.rendering else None,
        ),
        (
            "referring_provider.npi",
            "referring provider",
            inp.referring.npi if inp.referring else None,
        ),
    ]
    for where, who, value in parties:
        if _blank(value):
            continue  # absent: the required-fields rule speaks for it
        assert value is not None
        try:
            codes.npi(value)
        except ValueError as exc:
            yield rule.finding(f"The {who}'s NPI {value} is not valid: {exc}", where)


def _diagnosis_invalid(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    seen: set[int] = set()
    for (index, day), verdict in sorted(inp.diagnosis_checks.items()):
        if verdict.ok or verdict.reason == "no_release" or index in seen:
            continue
        seen.add(index)
        yield rule.finding(
            f"{verdict.message} (date of service {day.isoformat()})",
            f"diagnosis_codes[{index}]",
        )


def _diagnosis_unverified(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    days = sorted({day for (_, day), v in inp.diagnosis_checks.items() if v.reason == "no_release"})
    if days:
        yield rule.finding(
            "No ICD-10-CM release is loaded for "
            + ", ".join(d.isoformat() for d in days)
            + ": the diagnosis codes were not verified (revcycle codes load-icd10cm)",
            "diagnosis_codes",
        )


def _pointers(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    count = len(inp.claim.diagnosis_codes)
    for ln in inp.lines:
        ptrs = list(ln.diagnosis_pointers)
        bad = [p for p in ptrs if not isinstance(p, int) or not 1 <= p <= count]
        if bad:
            yield rule.finding(
                f"Line {ln.position} points to diagnosis "
                + ", ".join(str(p) for p in bad)
                + f"; the claim has {count} diagnosis code(s)",
                "diagnosis_pointers",
                ln.position,
            )
        if len(ptrs) > MAX_POINTERS:
            yield rule.finding(
                f"Line {ln.position} has {len(ptrs)} diagnosis pointers; at most {MAX_POINTERS}",
                "diagnosis_pointers",
                ln.position,
            )
        if len(set(ptrs)) != len(ptrs):
            yield rule.finding(
                f"Line {ln.position} points to the same diagnosis twice",
                "diagnosis_pointers",
                ln.position,
            )


def _modifiers_invalid(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        mods = list(ln.modifiers)
        for m in mods:
            try:
                codes.modifier(m)
            except ValueError:
                yield rule.finding(
                    f"Line {ln.position}: {m!r} is not a two-character modifier",
                    "modifiers",
                    ln.position,
                )
        dupes = sorted({m for m in mods if mods.count(m) > 1})
        if dupes:
            yield rule.finding(
                f"Line {ln.position}: modifier {', '.join(dupes)} appears twice",
                "modifiers",
                ln.position,
            )
        if len(mods) > MAX_MODIFIERS:
            yield rule.finding(
                f"Line {ln.position} has {len(mods)} modifiers; at most {MAX_MODIFIERS}",
                "modifiers",
                ln.position,
            )


def _modifier_conflicts(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        mods = set(ln.modifiers)
        for m in sorted(mods & MODIFIER_ONLY_ON.keys()):
            lo, hi, what = MODIFIER_ONLY_ON[m]
            if not (ln.procedure.isdigit() and lo <= ln.procedure <= hi):
                yield rule.finding(
                    f"Line {ln.position}: modifier {m} belongs on {what}, not {ln.procedure}",
                    "modifiers",
                    ln.position,
                )
        for group in MODIFIER_EXCLUSIVE:
            both = [m for m in group if m in mods]
            if len(both) > 1:
                yield rule.finding(
                    f"Line {ln.position}: modifiers {' and '.join(both)} cannot be used together",
                    "modifiers",
                    ln.position,
                )


def _future(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        if ln.service_date > inp.today:
            yield rule.finding(
                f"Line {ln.position}: the date of service {ln.service_date.isoformat()} is after "
                f"the submission date {inp.today.isoformat()}",
                "service_date",
                ln.position,
            )


def _deadline(inp: ScrubInput, ln: ClaimLine) -> dt.date:
    return ln.service_date + dt.timedelta(days=inp.payer.timely_filing_days)


def _timely_expired(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        deadline = _deadline(inp, ln)
        if inp.today > deadline:
            yield rule.finding(
                f"Line {ln.position}: the payer's {inp.payer.timely_filing_days}-day filing "
                f"limit for {ln.service_date.isoformat()} ended on {deadline.isoformat()}",
                "service_date",
                ln.position,
            )


def _timely_near(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        deadline = _deadline(inp, ln)
        left = (deadline - inp.today).days
        if 0 <= left <= TIMELY_FILING_WARNING_DAYS and ln.service_date <= inp.today:
            yield rule.finding(
                f"Line {ln.position}: the filing deadline {deadline.isoformat()} is {left} "
                "day(s) away: submit now",
                "service_date",
                ln.position,
            )


def _duplicate(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        other = inp.duplicates.get(ln.position)
        if other is not None:
            yield rule.finding(
                f"Line {ln.position}: claim {other} already bills {ln.procedure} on "
                f"{ln.service_date.isoformat()} for this patient (a repeat service carries "
                "modifier 76, 77 or 91)",
                "procedure",
                ln.position,
            )


def _auth_held(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    for ln in inp.lines:
        if ln.position in inp.held_lines:
            yield rule.finding(
                f"Line {ln.position} ({ln.procedure}) is held for a missing, expired or "
                "exhausted prior authorisation",
                "prior_authorization",
                ln.position,
            )


def _auth_missing(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    if not _blank(inp.claim.prior_authorization):
        return
    required = set(inp.plan.auth_required_codes or [])
    for ln in inp.lines:
        if ln.procedure in required and ln.position not in inp.held_lines:
            yield rule.finding(
                f"Line {ln.position}: the plan pays {ln.procedure} only with a prior "
                "authorisation, and the claim carries no authorisation number",
                "prior_authorization",
                ln.position,
            )


def _coverage_inactive(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    c = inp.coverage
    for ln in inp.lines:
        day = ln.service_date
        if day < c.effective_from or (c.effective_to is not None and day > c.effective_to):
            until = c.effective_to.isoformat() if c.effective_to else "open-ended"
            yield rule.finding(
                f"Line {ln.position}: the coverage is not in force on {day.isoformat()} "
                f"(from {c.effective_from.isoformat()} to {until})",
                "service_date",
                ln.position,
            )


def _units(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    groups: dict[tuple[dt.date, str], list[ClaimLine]] = defaultdict(list)
    for ln in inp.lines:
        groups[(ln.service_date, ln.procedure)].append(ln)
    for ln in inp.lines:
        group = groups[(ln.service_date, ln.procedure)]
        limit = inp.unit_limits.get(ln.procedure)
        if limit is None or group[0] is not ln:
            continue
        total = sum(g.units for g in group)
        if total > limit:
            yield rule.finding(
                f"Line {ln.position}: {total} unit(s) of {ln.procedure} on "
                f"{ln.service_date.isoformat()}; the limit is {limit} per day",
                "units",
                ln.position,
            )


def _unbundling(rule: Rule, inp: ScrubInput) -> Iterator[Finding]:
    by_day: dict[dt.date, dict[str, list[ClaimLine]]] = defaultdict(lambda: defaultdict(list))
    for ln in inp.lines:
        by_day[ln.service_date][ln.procedure].append(ln)
    flagged: list[tuple[int, Finding]] = []
    for day_lines in by_day.values():
        for pair in inp.edit_pairs:
            col1, col2 = day_lines.get(pair.column1), day_lines.get(pair.column2)
            if not col1 or not col2:
                continue
            col1_bypass = any(BYPASS_MODIFIERS & set(x.modifiers) for x in col1)
            for ln in col2:
                if pair.modifier_bypass and (col1_bypass or BYPASS_MODIFIERS & set(ln.modifiers)):
                    continue
                fix = (
                    "add 59/XE/XS/XP/XU if the service was distinct"
                    if pair.modifier_bypass
                    else "no modifier allows it"
                )
                flagged.append(
                    (
                        ln.position,
                        rule.finding(
                            f"Line {ln.position}: {pair.column2} is part of {pair.column1} "
                            f"billed the same day (line {col1[0].position}); {fix}",
                            "procedure",
                            ln.position,
                        ),
                    )
                )
    for _, f in sorted(flagged, key=lambda x: x[0]):
        yield f


RULES: tuple[Rule, ...] = (
    Rule("scrub.required_missing", "error", "Required claim fields are present", _required),
    Rule("scrub.npi_invalid", "error", "Billing, rendering, referring NPI check digit", _npi),
    Rule(
        "scrub.diagnosis_invalid",
        "error",
        "ICD-10-CM code exists and is billable on the date of service",
        _diagnosis_invalid,
    ),
    Rule(
        "scrub.diagnosis_unverified",
        "warning",
        "An ICD-10-CM release is loaded for the date of service",
        _diagnosis_unverified,
    ),
    Rule("scrub.pointer_invalid", "error", "Diagnosis pointers are valid", _pointers),
    Rule(
        "scrub.modifier_invalid",
        "error",
        "Modifier format, no duplicates, at most 4",
        _modifiers_invalid,
    ),
    Rule(
        "scrub.modifier_conflict",
        "error",
        "Modifier fits the code and its other modifiers",
        _modifier_conflicts,
    ),
    Rule("scrub.service_date_future", "error", "Date of service not after submission", _future),
    Rule(
        "scrub.timely_filing_expired",
        "error",
        "Within the payer's timely-filing limit",
        _timely_expired,
    ),
    Rule(
        "scrub.timely_filing_near",
        "warning",
        "Not within 10 days of the filing deadline",
        _timely_near,
    ),
    Rule(
        "scrub.duplicate_claim", "error", "No other live claim bills the same service", _duplicate
    ),
    Rule("scrub.authorization_held", "hold", "The line's authorisation is not held", _auth_held),
    Rule(
        "scrub.authorization_missing",
        "hold",
        "A prior authorisation number where the plan requires one",
        _auth_missing,
    ),
    Rule(
        "scrub.coverage_inactive",
        "error",
        "The coverage is in force on the date of service",
        _coverage_inactive,
    ),
    Rule("scrub.units_over_limit", "error", "Units per day within the limit table", _units),
    Rule("scrub.unbundled_pair", "error", "No unbundled pair from the edit table", _unbundling),
)

RULE_CODES = tuple(r.code for r in RULES)
