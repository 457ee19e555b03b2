"""The claim scrubber (docs/claims-scrubber.md): load what the rules of
:mod:`revcycle.claims.rules` read, run them all, and move the claim by the worst severity found
(errors -> ``draft``, holds -> ``held``, warnings or nothing -> ``scrubbed``), recording the
findings as a ``scrubbed`` claim event. Also the admin maintenance of the configurable tables
(unbundling edit pairs, unit limits).

Runs under the claim's row lock (lock order: claim -> its read-only look-ups), so a scrub and an
edit or a submission of the same claim are serialised.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.authorizations.service import is_held
from revcycle.claims import errors, states
from revcycle.claims.models import Claim, ClaimLine
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.rules import (
    EXAMPLE_EDIT_PAIRS,
    REPEAT_MODIFIERS,
    EditPair,
    Finding,
    ScrubInput,
    run_rules,
)
from revcycle.claims.scrub_models import ClaimEditPair, ClaimUnitLimit
from revcycle.claims.scrub_repository import ScrubRepository
from revcycle.claims.scrub_schemas import EditPairCreate, UnitLimitCreate
from revcycle.claims.service import access_claim
from revcycle.codesets.service import DiagnosisCheck, check_diagnosis
from revcycle.errors import out_of_scope
from revcycle.insurance.repository import InsuranceRepository
from revcycle.kit.clock import today
from revcycle.kit.dberrors import violates_unique
from revcycle.practices.errors import PracticeNotFound
from revcycle.practices.models import Practice, Provider
from revcycle.practices.repository import PracticeRepository

SCRUBBABLE = frozenset({"draft", "scrubbed", "held"})


@dataclass(frozen=True)
class ScrubResult:
    claim: Claim
    previous_status: str
    findings: list[Finding]

    @property
    def status(self) -> str:
        return self.claim.status

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def outcome(findings: list[Finding]) -> str:
    """The status the findings send a claim to."""
    severities = {f.severity for f in findings}
    if "error" in severities:
        return "draft"
    if "hold" in severities:
        return "held"
    return "scrubbed"


def _diagnosis_checks(
    session: Session, claim: Claim, lines: list[ClaimLine]
) -> dict[tuple[int, dt.date], DiagnosisCheck]:
    """Each diagnosis code against the release in force on every date of service of the lines
    that point to it (the claim's first date when no line does)."""
    out: dict[tuple[int, dt.date], DiagnosisCheck] = {}
    for index, code in enumerate(claim.diagnosis_codes, start=1):
        days = sorted(
            {ln.service_date for ln in lines if index in ln.diagnosis_pointers}
            or {claim.service_date_from}
        )
        for day in days:
            out[(index, day)] = check_diagnosis(session, code, day)
    return out


def load_input(session: Session, claim: Claim, lines: list[ClaimLine], on: dt.date) -> ScrubInput:
    practice = session.get(Practice, claim.practice_id)
    payer = InsuranceRepository(session).get_payer(claim.payer_id)
    plan = InsuranceRepository(session).get_plan(claim.plan_id)
    coverage = InsuranceRepository(session).get_coverage(claim.coverage_id)
    assert practice is not None and payer is not None and plan is not None
    assert coverage is not None
    rendering = (
        session.get(Provider, claim.rendering_provider_id) if claim.rendering_provider_id else None
    )
    referring = (
        session.get(Provider, claim.referring_provider_id) if claim.referring_provider_id else None
    )
    repo = ScrubRepository(session)
    same = repo.same_services(
        claim,
        [
            (ln.service_date, ln.procedure)
            for ln in lines
            if not REPEAT_MODIFIERS & set(ln.modifiers)
        ],
    )
    duplicates = {
        ln.position: same[(ln.service_date, ln.procedure)]
        for ln in lines
        if (ln.service_date, ln.procedure) in same and not REPEAT_MODIFIERS & set(ln.modifiers)
    }
    return ScrubInput(
        claim=claim,
        lines=lines,
        practice=practice,
        rendering=rendering,
        referring=referring,
        payer=payer,
        plan=plan,
        coverage=coverage,
        today=on,
        diagnosis_checks=_diagnosis_checks(session, claim, lines),
        held_lines=frozenset(
            ln.position for ln in lines if is_held(session, f"invoice_line:{ln.invoice_line_id}")
        ),
        duplicates=duplicates,
        edit_pairs=[
            EditPair(p.column1_code, p.column2_code, p.modifier_bypass)
            for p in repo.edit_pairs(claim.practice_id)
        ],
        unit_limits=repo.limits_for(claim.practice_id, claim.plan_id),
    )


def scrub_claim(
    session: Session, actor: Principal, claim_id: uuid.UUID, *, on: dt.date | None = None
) -> ScrubResult:
    """Run every rule on a draft, scrubbed or held claim and move it by what was found. ``on``
    is the submission date assumed (today by default)."""
    claim = access_claim(session, actor, claim_id, Action.CLAIM_WRITE, for_update=True)
    if claim.status not in SCRUBBABLE:
        raise errors.IllegalClaimTransition(
            f"A claim that is {claim.status} is not scrubbed: only draft, scrubbed or held "
            "claims are",
            current=claim.status,
        )
    lines = ClaimRepository(session).lines_of([claim.id])[claim.id]
    findings = run_rules(load_input(session, claim, lines, on or today()))
    previous = claim.status
    target = outcome(findings)
    counts = Counter(f.severity for f in findings)
    summary = (
        f"scrub: {counts['error']} error(s), {counts['hold']} hold(s), "
        f"{counts['warning']} warning(s)"
    )
    detail = {
        "result": target,
        "rules": [f.code for f in findings],
        "findings": [f.as_dict() for f in findings],
    }
    states.note(
        session,
        claim,
        "scrubbed",
        actor=actor,
        actor_kind="user" if actor.user_id else "system",
        reason=summary,
        detail=detail,
    )
    if target != previous:
        states.transition(
            session,
            claim,
            target,
            actor=actor,
            actor_kind="user" if actor.user_id else "system",
            reason=summary,
            detail={"source": "scrub", "codes": sorted({f.code for f in findings})},
        )
    audit.record(
        session,
        actor,
        "claim.scrub",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        detail={
            "from": previous,
            "to": target,
            "errors": counts["error"],
            "holds": counts["hold"],
            "warnings": counts["warning"],
        },
    )
    session.flush()
    return ScrubResult(claim, previous, findings)


# -- the configurable tables -----------------------------------------------------------------------


def _rules_practice(
    session: Session, actor: Principal, practice_id: uuid.UUID, action: Action
) -> Practice:
    """The practice whose tables are read or changed: staff of that practice only (patients
    are answered as for a missing practice)."""
    actor.require(action)
    practice = PracticeRepository(session).get(practice_id)
    if practice is None:
        raise PracticeNotFound("No such practice")
    if actor.is_patient or not actor.sees_practice(practice.id):
        raise out_of_scope(PracticeNotFound("No such practice"), "practice", practice.id)
    return practice


def list_edit_pairs(
    session: Session, actor: Principal, practice_id: uuid.UUID
) -> list[ClaimEditPair]:
    practice = _rules_practice(session, actor, practice_id, Action.CLAIM_READ)
    return list(ScrubRepository(session).edit_pairs(practice.id))


def _insert(session: Session, row: ClaimEditPair | ClaimUnitLimit, *, name: str) -> None:
    try:
        with session.begin_nested():  # a concurrent insert of the same key loses here
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        columns = (
            ["practice_id", "column1_code", "column2_code"]
            if isinstance(row, ClaimEditPair)
            else (["practice_id", "code"] if row.plan_id is None else ["plan_id", "code"])
        )
        if violates_unique(exc, name=name, table=row.__tablename__, columns=columns):
            raise errors.ClaimRuleDuplicate("The table already has this row") from None
        raise


def add_edit_pair(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: EditPairCreate
) -> ClaimEditPair:
    practice = _rules_practice(session, actor, practice_id, Action.CLAIM_RULES_WRITE)
    if data.column1_code == data.column2_code:
        raise errors.InvalidClaim("An edit pair needs two different codes")
    if ScrubRepository(session).find_edit_pair(practice.id, data.column1_code, data.column2_code):
        raise errors.ClaimRuleDuplicate(
            f"The pair {data.column1_code}/{data.column2_code} is already in the table",
            column1_code=data.column1_code,
            column2_code=data.column2_code,
        )
    row = ClaimEditPair(
        practice_id=practice.id,
        column1_code=data.column1_code,
        column2_code=data.column2_code,
        modifier_bypass=data.modifier_bypass,
        note=data.note,
        created_by=actor.user_id,
    )
    _insert(session, row, name="uq_claim_edit_pairs_practice_id_column1_code_column2_code")
    audit.record(
        session,
        actor,
        "claim_rules.edit_pair_added",
        object_type="claim_edit_pair",
        object_id=row.id,
        practice_id=practice.id,
        detail={
            "column1_code": row.column1_code,
            "column2_code": row.column2_code,
            "modifier_bypass": row.modifier_bypass,
        },
    )
    return row


def delete_edit_pair(session: Session, actor: Principal, pair_id: uuid.UUID) -> None:
    actor.require(Action.CLAIM_RULES_WRITE)
    repo = ScrubRepository(session)
    row = repo.edit_pair(pair_id)
    if row is None:
        raise errors.ClaimRuleNotFound("No such edit pair")
    if actor.is_patient or not actor.sees_practice(row.practice_id):
        raise out_of_scope(errors.ClaimRuleNotFound("No such edit pair"), "claim_edit_pair", row.id)
    audit.record(
        session,
        actor,
        "claim_rules.edit_pair_removed",
        object_type="claim_edit_pair",
        object_id=row.id,
        practice_id=row.practice_id,
        detail={"column1_code": row.column1_code, "column2_code": row.column2_code},
    )
    session.delete(row)
    session.flush()


def load_example_pairs(
    session: Session, actor: Principal, practice_id: uuid.UUID
) -> list[ClaimEditPair]:
    """Add the documented example pairs the practice does not have yet (a re-run adds
    nothing)."""
    practice = _rules_practice(session, actor, practice_id, Action.CLAIM_RULES_WRITE)
    repo = ScrubRepository(session)
    added = []
    for col1, col2, bypass, note in EXAMPLE_EDIT_PAIRS:
        if repo.find_edit_pair(practice.id, col1, col2) is None:
            added.append(
                add_edit_pair(
                    session,
                    actor,
                    practice.id,
                    EditPairCreate(
                        column1_code=col1, column2_code=col2, modifier_bypass=bypass, note=note
                    ),
                )
            )
    return added


def list_unit_limits(
    session: Session, actor: Principal, practice_id: uuid.UUID
) -> list[ClaimUnitLimit]:
    practice = _rules_practice(session, actor, practice_id, Action.CLAIM_READ)
    return list(ScrubRepository(session).unit_limits(practice.id))


def add_unit_limit(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: UnitLimitCreate
) -> ClaimUnitLimit:
    practice = _rules_practice(session, actor, practice_id, Action.CLAIM_RULES_WRITE)
    if data.plan_id is not None:
        plan = InsuranceRepository(session).get_plan(data.plan_id)
        if plan is None or plan.practice_id != practice.id:
            raise errors.ClaimRuleNotFound(
                "No such plan in this practice", code="claim_rules.plan_not_found"
            )
    if ScrubRepository(session).find_unit_limit(practice.id, data.plan_id, data.code):
        raise errors.ClaimRuleDuplicate(
            f"{data.code} already has a unit limit "
            + ("for this plan" if data.plan_id else "for the practice"),
            code_value=data.code,
        )
    row = ClaimUnitLimit(
        practice_id=practice.id,
        plan_id=data.plan_id,
        code=data.code,
        max_units=data.max_units,
        note=data.note,
        created_by=actor.user_id,
    )
    _insert(
        session,
        row,
        name="ux_claim_unit_limits_practice_code"
        if data.plan_id is None
        else "ux_claim_unit_limits_plan_code",
    )
    audit.record(
        session,
        actor,
        "claim_rules.unit_limit_added",
        object_type="claim_unit_limit",
        object_id=row.id,
        practice_id=practice.id,
        detail={
            "code": row.code,
            "max_units": row.max_units,
            "plan_id": str(row.plan_id) if row.plan_id else None,
        },
    )
    return row


def delete_unit_limit(session: Session, actor: Principal, limit_id: uuid.UUID) -> None:
    actor.require(Action.CLAIM_RULES_WRITE)
    row = ScrubRepository(session).unit_limit(limit_id)
    if row is None:
        raise errors.ClaimRuleNotFound("No such unit limit")
    if actor.is_patient or not actor.sees_practice(row.practice_id):
        raise out_of_scope(
            errors.ClaimRuleNotFound("No such unit limit"), "claim_unit_limit", row.id
        )
    audit.record(
        session,
        actor,
        "claim_rules.unit_limit_removed",
        object_type="claim_unit_limit",
        object_id=row.id,
        practice_id=row.practice_id,
        detail={"code": row.code, "max_units": row.max_units},
    )
    session.delete(row)
    session.flush()
