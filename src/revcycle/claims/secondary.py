"""Secondary claims after a primary's adjudication (docs/denials-appeals.md).

:func:`build_secondary` decides once per primary claim (UNIQUE ``claim_cob.primary_claim_id``):
the primary payer forwards the claim itself (``secondary_crossover``) -> a ``crossover`` note on
the primary and no claim; otherwise, when the patient has a secondary coverage on the date of
service, a ``secondary`` claim with the primary's lines and charge, and the primary payer's
adjudication saved for the 837's COB loops (:func:`cob_facts`: 2320/2330 claim level, 2430 per
line).

Lock order: invoice -> primary claim -> claim sequence (as building any claim).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import errors, states
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.service import ClaimView, access_claim, copy_claim, view
from revcycle.insurance import coverages as coverages_service
from revcycle.insurance.models import Coverage, InsurancePlan, Payer
from revcycle.invoices import service as invoices_service
from revcycle.patients.models import Patient
from revcycle.x12 import claim837

FILING_CODES = {"medicare": "MB", "medicaid": "MC", "hmo": "HM"}  # SBR09; the rest CI


@dataclass(frozen=True)
class SecondaryResult:
    outcome: str  # secondary | crossover
    cob: ClaimCob
    secondary: ClaimView | None  # the secondary claim (None: crossover)
    created: bool  # False: decided before (an idempotent repeat)


def adjudication_event(session: Session, claim: Claim) -> ClaimEvent | None:
    """The latest 835 event that adjudicated the claim (its detail is the COB source)."""
    session.flush()
    found: ClaimEvent | None = None
    for event in session.scalars(
        select(ClaimEvent)
        .where(ClaimEvent.claim_id == claim.id, ClaimEvent.kind == "transition")
        .order_by(ClaimEvent.at, ClaimEvent.id)
    ):
        if event.to_status == "adjudicated" and "adjudicated_on" in (event.detail or {}):
            found = event
    return found


def _existing(session: Session, primary_id: uuid.UUID) -> ClaimCob | None:
    return session.scalar(select(ClaimCob).where(ClaimCob.primary_claim_id == primary_id))


def _result(session: Session, cob: ClaimCob, created: bool) -> SecondaryResult:
    secondary = None
    if cob.secondary_claim_id is not None:
        claim = ClaimRepository(session).get(cob.secondary_claim_id)
        assert claim is not None
        secondary = view(session, claim)
    return SecondaryResult(cob.outcome, cob, secondary, created)


def _record(
    session: Session,
    actor: Principal,
    primary: Claim,
    existing: ClaimCob | None,
    outcome: str,
    facts: dict[str, Any],
    secondary_id: uuid.UUID | None,
) -> ClaimCob:
    """The decision row: new, or a ``none`` the worker recorded, replaced by hand."""
    cob = existing or ClaimCob(practice_id=primary.practice_id, primary_claim_id=primary.id)
    cob.outcome = outcome
    cob.secondary_claim_id = secondary_id
    cob.prior_adjudication = facts
    cob.created_by = actor.user_id
    if existing is None:
        session.add(cob)
    session.flush()
    return cob


def build_secondary(
    session: Session, actor: Principal, primary_claim_id: uuid.UUID, *, auto: bool = False
) -> SecondaryResult:
    """Build the secondary claim of an adjudicated primary claim, or record the crossover.
    ``auto`` (the worker): a primary with nothing left for a secondary payer (no patient
    responsibility) or no secondary coverage is recorded ``none`` instead of refused; building
    by hand later replaces a ``none``."""
    peek = access_claim(session, actor, primary_claim_id, Action.CLAIM_WRITE)
    invoices_service.access_invoice(
        session, actor, peek.invoice_id, Action.CLAIM_WRITE, for_update=True
    )
    primary = ClaimRepository(session).get(primary_claim_id, for_update=True)
    assert primary is not None
    if primary.sequence != "primary":
        raise errors.NotPrimary(
            f"Claim {primary.control_number} is a {primary.sequence} claim; secondary claims "
            "follow primary claims",
            sequence=primary.sequence,
        )
    done = _existing(session, primary.id)
    if done is not None and done.outcome != "none":
        return _result(session, done, False)
    event = adjudication_event(session, primary)
    if primary.status not in ("adjudicated", "closed") or event is None:
        raise errors.NotAdjudicated(
            f"Claim {primary.control_number} is {primary.status}: a secondary claim follows the "
            "primary payer's adjudication",
            claim_status=primary.status,
        )
    payer = session.get(Payer, primary.payer_id)
    assert payer is not None
    facts = dict(event.detail)
    if done is not None and auto:
        return _result(session, done, False)
    found = coverages_service.coverage_on(session, primary.patient_id, primary.service_date_from, 2)
    left = facts.get("patient_responsibility_minor")
    if auto and (found is None or not isinstance(left, int) or left <= 0):
        return _result(session, _record(session, actor, primary, done, "none", facts, None), True)
    if found is None:
        raise errors.NoSecondaryCoverage(
            f"The patient has no secondary coverage on {primary.service_date_from.isoformat()}",
            service_date=primary.service_date_from.isoformat(),
        )
    if payer.secondary_crossover:
        cob = _record(session, actor, primary, done, "crossover", facts, None)
        states.note(
            session,
            primary,
            "crossover",
            actor=actor,
            actor_kind="user" if actor.user_id else "system",
            reason="the primary payer forwards the claim to the secondary payer",
            detail={"payer_id": str(payer.id)},
        )
        audit.record(
            session,
            actor,
            "claim.crossover",
            object_type="claim",
            object_id=primary.id,
            practice_id=primary.practice_id,
        )
        session.flush()
        return _result(session, cob, True)
    coverage = found.coverage
    repo = ClaimRepository(session)
    lines = repo.lines_of([primary.id])[primary.id]
    taken = repo.live_claimed_lines([ln.invoice_line_id for ln in lines], "secondary")
    if taken:
        other = next(iter(taken.values()))
        raise errors.LineAlreadyClaimed(
            f"The lines are already on secondary claim {other.control_number} ({other.status})",
            claim_id=str(other.id),
        )
    claim = copy_claim(
        session,
        actor,
        primary,
        coverage=coverage,
        sequence="secondary",
        primary_claim_id=primary.id,
        reason=f"secondary of {primary.control_number}",
        detail={"primary_claim_id": str(primary.id)},
    ).claim
    cob = _record(session, actor, primary, done, "secondary", facts, claim.id)
    audit.record(
        session,
        actor,
        "claim.create",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        detail={"primary_claim_id": str(primary.id), "sequence": "secondary"},
    )
    session.flush()
    return _result(session, cob, True)


# -- COB for the 837 -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorPayerFacts:
    """One prior payer's adjudication of a secondary claim: the claim level (2320/2330) and,
    keyed by the secondary claim's line position, each line's (2430)."""

    other_payer: claim837.OtherPayer
    lines: Mapping[int, claim837.LineAdjudication]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _adjustments(raw: Any) -> tuple[claim837.Adjustment, ...]:
    out = []
    for item in raw or []:
        if isinstance(item, Mapping) and _int(item.get("amount_minor")) != 0:
            out.append(
                claim837.Adjustment(
                    str(item.get("group", "")), str(item.get("reason", "")), item["amount_minor"]
                )
            )
    return tuple(out)


def _subscriber(session: Session, coverage: Coverage) -> claim837.Party:
    if coverage.relationship == "18":
        patient = session.get(Patient, coverage.patient_id)
        assert patient is not None
        return claim837.Party(patient.last_name, patient.first_name)
    if coverage.subscriber_patient_id is not None:
        sub = session.get(Patient, coverage.subscriber_patient_id)
        if sub is not None:
            return claim837.Party(sub.last_name, sub.first_name)
    return claim837.Party(coverage.subscriber_last_name or "", coverage.subscriber_first_name)


def cob_facts(session: Session, secondary_claim: Claim) -> list[PriorPayerFacts]:
    """What the 837 needs for a secondary claim's COB loops: the primary payer's adjudication as
    saved when the secondary was built (no access check: the caller has done it). An original
    claim, or a secondary built by hand without a saved adjudication, has none."""
    cob = session.scalar(select(ClaimCob).where(ClaimCob.secondary_claim_id == secondary_claim.id))
    if cob is None:
        return []
    primary = ClaimRepository(session).get(cob.primary_claim_id)
    assert primary is not None
    coverage = session.get(Coverage, primary.coverage_id)
    payer = session.get(Payer, primary.payer_id)
    plan = session.get(InsurancePlan, primary.plan_id)
    assert coverage is not None and payer is not None and plan is not None
    d = cob.prior_adjudication
    adjudicated_on = dt.date.fromisoformat(str(d["adjudicated_on"]))
    prior_lines = {
        str(ln.get("line_control_number")): ln
        for ln in d.get("lines") or []
        if isinstance(ln, Mapping)
    }
    primary_lines = ClaimRepository(session).lines_of([primary.id])[primary.id]
    by_position: dict[int, claim837.LineAdjudication] = {}
    for pl in primary_lines:
        got = prior_lines.get(pl.line_control_number)
        if got is None:
            continue
        mods = got.get("modifiers")
        by_position[pl.position] = claim837.LineAdjudication(
            payer_id=payer.edi_payer_id,
            paid_minor=_int(got.get("paid_minor")),
            procedure=str(got.get("procedure") or pl.procedure),
            modifiers=tuple(str(m) for m in mods) if isinstance(mods, list) else (),
            units=Decimal(_int(got.get("units")) or pl.units),
            adjudicated_on=adjudicated_on,
            adjustments=_adjustments(got.get("adjustments")),
        )
    other = claim837.OtherPayer(
        responsibility="P",
        relationship=coverage.relationship,
        filing_code=FILING_CODES.get(plan.product_type, "CI"),
        subscriber=_subscriber(session, coverage),
        member_id=coverage.member_id,
        payer=claim837.Payer(payer.name, payer.edi_payer_id),
        paid_minor=_int(d.get("paid_minor")),
        adjudicated_on=adjudicated_on,
        claim_number=d.get("payer_claim_number") or primary.payer_claim_number,
        adjustments=_adjustments(d.get("adjustments")),
        remaining_patient_liability_minor=_int(d.get("patient_responsibility_minor")),
        group_number=coverage.group_number,
    )
    return [PriorPayerFacts(other, by_position)]


def pending_primaries(session: Session, limit: int) -> list[Claim]:
    """Adjudicated primary claims with no secondary/crossover decision yet (oldest first)."""
    decided = exists().where(ClaimCob.primary_claim_id == Claim.id)
    return list(
        session.scalars(
            select(Claim)
            .where(Claim.sequence == "primary", Claim.status == "adjudicated", ~decided)
            .order_by(Claim.id)
            .limit(limit)
        )
    )
