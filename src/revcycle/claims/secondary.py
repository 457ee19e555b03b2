"""Secondary claims after a primary's adjudication (docs/denials-appeals.md).

:func:`build_secondary` decides once per primary claim (UNIQUE ``claim_cob.primary_claim_id``):
the primary payer forwards the claim itself (``secondary_crossover``) -> a ``crossover`` note on
the primary and no claim; otherwise, when the patient has a secondary coverage on the date of
service, a ``secondary`` claim with the primary's lines and charge, and the primary payer's
adjudication saved on the decision row: the 837's COB loops (2320/2330 claim level, 2430 per
line) are written from it by ``claims.mapping`` when the secondary is submitted.

Lock order: invoice -> primary claim -> claim sequence (as building any claim).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
from revcycle.insurance.models import Payer
from revcycle.invoices import service as invoices_service


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
