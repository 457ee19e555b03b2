"""Where a claim is, and how it may move (docs/claims.md, "States").

The graph is data: :data:`TRANSITIONS` maps a status to the statuses it may move to. Every move
goes through :func:`transition`, which checks the edge, writes the append-only
:class:`~revcycle.claims.models.ClaimEvent` (who: a user, the worker or the payer; why) and the
audit row, all in the caller's transaction. Callers hold the claim's row lock.

What was paid is not a status: an adjudicated claim may have been paid in full, in part or
nothing with everything moved to the patient; the remittance postings say which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.claims.errors import IllegalClaimTransition
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.kit import bulkwrite
from revcycle.kit.clock import utcnow

ActorKind = Literal["user", "system", "payer"]

TRANSITIONS: Mapping[str, frozenset[str]] = {
    # Built; the scrubber moves it on (errors keep it in draft).
    "draft": frozenset({"scrubbed", "held", "void"}),
    "scrubbed": frozenset({"submitted", "draft", "held", "void"}),
    # Parked by a hold rule (missing authorisation, ...) until released.
    "held": frozenset({"draft", "scrubbed", "void"}),
    # Sent in a batch; the 999/277CA answer, or the 835 comes straight away.
    "submitted": frozenset({"accepted", "rejected", "adjudicated", "denied"}),
    "accepted": frozenset({"adjudicated", "denied", "rejected"}),
    # Refused by the clearinghouse or payer front end: corrected and scrubbed again, or voided.
    "rejected": frozenset({"draft", "void"}),
    # Paid (fully, partly or to the patient). A reversal/correction re-adjudicates.
    "adjudicated": frozenset({"adjudicated", "denied", "appealed", "closed"}),
    "denied": frozenset({"adjudicated", "denied", "appealed", "closed"}),
    "appealed": frozenset({"adjudicated", "denied", "closed"}),
    # Nothing left to work; a late reversal or appeal outcome re-opens it.
    "closed": frozenset({"adjudicated", "denied", "appealed"}),
    "void": frozenset(),
}

# Statuses in which a claim still counts as the payer's claim for its lines (a line cannot be
# put on a second claim to the same payer sequence meanwhile).
LIVE = frozenset(set(TRANSITIONS) - {"void"})
EDITABLE = frozenset({"draft", "scrubbed", "held", "rejected"})


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def transition(
    session: Session,
    claim: Claim,
    to_status: str,
    *,
    actor: Principal,
    actor_kind: ActorKind,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> ClaimEvent:
    """Move ``claim`` to ``to_status`` (the caller holds its row lock) and record why. The
    worker and payer files act as ``Principal.system(...)`` with ``actor_kind`` system/payer."""
    if not can_move(claim.status, to_status):
        raise IllegalClaimTransition(
            f"A claim that is {claim.status} cannot become {to_status}",
            current=claim.status,
            target=to_status,
        )
    event = bulkwrite.new_row(  # many per 835 set: without per-attribute events
        ClaimEvent,
        claim_id=claim.id,
        kind="transition",
        from_status=claim.status,
        to_status=to_status,
        actor_user_id=actor.user_id,
        actor_kind=actor_kind,
        reason=reason,
        detail=dict(detail or {}),
        at=utcnow(),
    )
    claim.status = to_status
    claim.status_reason = reason[:300] if reason else None
    claim.updated_at = event.at
    session.add(event)
    audit.record(
        session,
        actor,
        f"claim.{to_status}",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        fields=["status"],
        detail={"from": event.from_status or "", "to": to_status},
    )
    return event


def note(
    session: Session,
    claim: Claim,
    kind: str,
    *,
    actor: Principal,
    actor_kind: ActorKind,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> ClaimEvent:
    """Record a fact about the claim that does not move it (a scrub run, an acknowledgement)."""
    event = bulkwrite.new_row(  # many per 835 set: without per-attribute events
        ClaimEvent,
        claim_id=claim.id,
        kind=kind,
        from_status=claim.status,
        to_status=claim.status,
        actor_user_id=actor.user_id,
        actor_kind=actor_kind,
        reason=reason,
        detail=dict(detail or {}),
        at=utcnow(),
    )
    session.add(event)
    return event
