"""Crossovers the primary payer reports in its 835 (docs/remittance-posting.md, "Crossover").

The primary payer forwarded the claim to the patient's next payer itself (CLP02 19/20/21, an
``NM1*TT`` crossover carrier, remark MA18 or N89). Billing that payer ourselves would draw a
duplicate denial, so :func:`mark_crossed_over` records the decision the way
:func:`~revcycle.claims.secondary.build_secondary` does for a crossover payer, and keeps a
secondary claim for the next payer's answer: built like any secondary claim (the primary's
lines and charge), moved straight to ``submitted`` (the payer has it; we never build an 837 for
it), and billed (the patient's remaining balance moves to insurance receivables). The next
payer's 835 names the primary's CLM01; :func:`forwarded_claim` finds this claim for it.

Lock order: the caller (835 posting) holds the invoice, then the primary claim.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.claims import secondary, states
from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import Claim
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.service import bill_to_payer, copy_claim
from revcycle.insurance import coverages as coverages_service
from revcycle.kit.clock import utcnow


def mark_crossed_over(
    session: Session,
    actor: Principal,
    primary: Claim,
    facts: dict[str, Any],
    *,
    carrier_name: str | None,
    carrier_identifier: str | None,
    signals: list[str],
) -> ClaimCob | None:
    """Record that the primary payer forwarded ``primary`` (just adjudicated) to the next payer.
    A decision taken before (a secondary claim built, a crossover recorded) is kept: the 835's
    word is noted on the primary only. Returns the decision row (None for a claim that is not a
    primary claim: only the note is written)."""
    carrier = {"name": carrier_name, "id": carrier_identifier}
    why = "the primary payer forwarded the claim to the next payer (" + ", ".join(signals) + ")"
    done = secondary.existing_decision(session, primary.id)
    if primary.sequence != "primary" or (done is not None and done.outcome != "none"):
        states.note(
            session,
            primary,
            "crossover",
            actor=actor,
            actor_kind="payer",
            reason=why + "; nothing new to record",
            detail={
                "crossover_payer": carrier,
                "signals": signals,
                "decision": done.outcome if done is not None else None,
                "secondary_claim_id": str(done.secondary_claim_id)
                if done is not None and done.secondary_claim_id
                else None,
            },
        )
        return done
    claim = _crossed_over_claim(session, actor, primary, why)
    return secondary.record_crossover(
        session,
        actor,
        primary,
        done,
        facts,
        actor_kind="payer",
        reason=why,
        detail={
            "payer_id": str(primary.payer_id),
            "crossover_payer": carrier,
            "signals": signals,
            "secondary_claim_id": str(claim.id) if claim is not None else None,
        },
        secondary_claim_id=claim.id if claim is not None else None,
        carrier_name=carrier_name,
        carrier_identifier=carrier_identifier,
    )


def _crossed_over_claim(
    session: Session, actor: Principal, primary: Claim, why: str
) -> Claim | None:
    """The secondary claim kept for the next payer's answer (None without a secondary coverage
    on the date of service, or when the lines are already on a live secondary claim)."""
    found = coverages_service.coverage_on(session, primary.patient_id, primary.service_date_from, 2)
    if found is None:
        return None
    repo = ClaimRepository(session)
    lines = repo.lines_of([primary.id])[primary.id]
    if repo.live_claimed_lines([ln.invoice_line_id for ln in lines], "secondary"):
        return None
    claim = copy_claim(
        session,
        actor,
        primary,
        coverage=found.coverage,
        sequence="secondary",
        primary_claim_id=primary.id,
        reason=f"secondary of {primary.control_number}, crossed over by the primary payer",
        detail={"primary_claim_id": str(primary.id), "crossover": "true"},
    ).claim
    session.flush()
    # No 837 from us: the payer already has the claim. The scrub step is recorded as skipped.
    states.transition(
        session,
        claim,
        "scrubbed",
        actor=actor,
        actor_kind="payer",
        reason="crossover: not scrubbed, the primary payer forwarded the claim",
    )
    states.transition(session, claim, "submitted", actor=actor, actor_kind="payer", reason=why)
    claim.submitted_at = utcnow()
    bill_to_payer(session, claim, actor)
    audit.record(
        session,
        actor,
        "claim.create",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        detail={"primary_claim_id": str(primary.id), "sequence": "secondary", "crossover": True},
    )
    session.flush()
    return claim


def forwarded_claim(
    session: Session, practice_id: uuid.UUID, control_number: str, payer_id: uuid.UUID
) -> Claim | None:
    """The crossed-over secondary claim to ``payer_id`` whose primary claim has CLM01
    ``control_number`` (what the next payer's 835 echoes in CLP01), if any."""
    primaries = select(Claim.id).where(
        Claim.practice_id == practice_id, Claim.control_number == control_number
    )
    return session.scalar(
        select(Claim)
        .join(ClaimCob, ClaimCob.secondary_claim_id == Claim.id)
        .where(
            ClaimCob.outcome == "crossover",
            ClaimCob.primary_claim_id.in_(primaries),
            Claim.payer_id == payer_id,
            Claim.status != "void",
        )
        .order_by(Claim.number.desc())
        .limit(1)
    )
