"""The payer's later 835 for an appealed claim (docs/denials-appeals.md, "When the payer pays").

The remittance posting calls :func:`on_claim_posted` after it posted a CLP onto a claim (the
money is already on the ledger, exactly once, by the posting itself: nothing is posted here) and
:func:`on_posting_reversed` when a CLP02 22 reverses a posting. The first links the payment to the
claim's appeal awaiting it (sent, or won / partially won awaiting the 835), records what it
recovered and settles the outcome from the payer's new adjudication: ``won`` when nothing of the
new adjudication is left to work (every adjustment left is contractual or the patient's),
``partially_won`` otherwise. The second unlinks a reversed payment so that the corrected CLP that
follows links again.

Lock order (docs/claims.md, extended): invoice -> claim (held by the posting) -> appeal.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from revcycle.appeals.models import Appeal, AppealEvent
from revcycle.appeals.repository import AppealRepository
from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.claims import carc_actions, states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.kit.clock import utcnow
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.money import Money
from revcycle.remittances.models import RemittanceClaim

# Claim statuses an appeal awaiting a payment leaves a claim in (appealed while sent; adjudicated
# once won; denied / adjudicated / closed after an earlier payment or correction).
APPEALABLE_BEFORE = frozenset({"appealed", "adjudicated", "denied", "closed"})


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def still_disputed(detail: Mapping[str, Any]) -> int:
    """What the new adjudication leaves to work: its non-patient adjustments whose action is not
    settled (``write_off`` / ``patient``), as the posting recorded the actions."""
    out = 0
    blocks: list[Mapping[str, Any]] = [detail]
    blocks += [ln for ln in detail.get("lines") or [] if isinstance(ln, Mapping)]
    for block in blocks:
        adjs = block.get("adjustments") or []
        actions = block.get("adjustment_actions") or []
        if not isinstance(adjs, list) or not isinstance(actions, list):
            continue
        for a, action in zip(adjs, actions, strict=False):
            if not isinstance(a, Mapping) or str(a.get("group", "")).upper() == "PR":
                continue
            if action not in carc_actions.SETTLED:
                out += _int(a.get("amount_minor"))
    return max(out, 0)


def _event(
    session: Session,
    appeal: Appeal,
    kind: str,
    *,
    from_status: str,
    detail: dict[str, Any],
) -> None:
    session.add(
        AppealEvent(
            appeal_id=appeal.id,
            kind=kind,
            from_status=from_status,
            to_status=appeal.status,
            actor_user_id=None,
            actor_kind="payer",
            note=None,
            detail=detail,
            at=utcnow(),
        )
    )


def _baseline_paid(session: Session, appeal: Appeal, claim: Claim) -> tuple[int, str | None]:
    """What the appealed denial's posting paid, if it has been reversed since (a corrected CLP
    then restates the whole claim: only the difference is recovered), else 0 (a new payment is
    all recovered). Also answers the appealed posting's remittance id."""
    event = session.get(ClaimEvent, appeal.denial_event_id)
    d = (event.detail if event is not None else None) or {}
    remittance_id = d.get("remittance_id")
    if not isinstance(remittance_id, str):
        return 0, None
    repo = AppealRepository(session)
    try:
        original = repo.denial_posting(claim.id, uuid.UUID(remittance_id))
    except ValueError:
        return 0, None
    if original is not None and repo.is_reversed(original.id):
        return original.paid_minor, remittance_id
    return 0, remittance_id


def _reinstate(
    session: Session, actor: Principal, appeal: Appeal, claim: Claim, day: dt.date
) -> tuple[int, uuid.UUID | None]:
    """A payment for denied lines the first 835 already wrote off (an adjudicated claim's CO
    adjustments go to 4200), sent as a new CLP without reversing the first: the posting cleared
    more than the payer still owed. What it over-cleared, up to the amount appealed, is taken
    back from contractual adjustments (Dr 1210 / Cr 4200), so the money is not counted twice."""
    session.flush()
    owed = AppealRepository(session).insurance_ar(claim.invoice_id)
    minor = min(-owed, appeal.at_stake_minor) if owed < 0 else 0
    if minor <= 0:
        return 0, None
    amount = Money(minor, claim.currency)
    dims = {"patient_id": claim.patient_id, "invoice_id": claim.invoice_id}
    entry_id = ledger.post_entry(
        session,
        ledger.EntrySpec(
            practice_id=claim.practice_id,
            kind=EntryKind.CLAIM_ADJUSTMENT.value,
            legs=[
                ledger.debit(AccountCode.INSURANCE_AR, amount, **dims),
                ledger.credit(AccountCode.CONTRACTUAL_ADJUSTMENTS, amount, **dims),
            ],
            effective_date=day,
            memo=f"claim {claim.control_number} appeal paid: the written-off denial is reinstated",
            created_by=actor.user_id,
            source_type="appeal",
            source_id=appeal.id,
        ),
    )
    return minor, entry_id


def on_claim_posted(
    session: Session,
    actor: Principal,
    claim: Claim,
    row: RemittanceClaim,
    *,
    outcome: str,
    previous_status: str,
    payment_date: dt.date,
) -> Appeal | None:
    """Link a posting that paid more for an appealed claim to its appeal (None when there is no
    appeal awaiting a payment, or the posting recovers nothing)."""
    if outcome != "adjudicated":
        return None  # a denial again: the staff record the appeal's outcome by hand
    if previous_status not in APPEALABLE_BEFORE:
        return None  # a first adjudication (submitted / accepted): no appeal can exist yet
    repo = AppealRepository(session)
    appeal = repo.awaiting_payment(claim.id)
    if appeal is None or payment_date < appeal.adjudicated_on:
        return None
    baseline, appealed_remittance = _baseline_paid(session, appeal, claim)
    if appealed_remittance is not None and str(row.remittance_id) == appealed_remittance:
        return None  # the appealed posting itself (a held claim matched by hand late)
    recovered = row.paid_minor - baseline
    if recovered <= 0:
        return None
    remaining = still_disputed(row.detail)
    reinstated, entry_id = _reinstate(session, actor, appeal, claim, payment_date)
    before = appeal.status
    appeal.status = "won" if remaining == 0 else "partially_won"
    appeal.recovered_minor = recovered
    appeal.remittance_claim_id = row.id
    if appeal.decided_on is None:
        appeal.decided_on = payment_date
    appeal.updated_at = utcnow()
    detail = {
        "remittance_id": str(row.remittance_id),
        "remittance_claim_id": str(row.id),
        "paid_minor": row.paid_minor,
        "recovered_minor": recovered,
        "still_disputed_minor": remaining,
        "expected_minor": appeal.expected_minor,
        "reinstated_minor": reinstated,
        "reinstated_entry_id": None if entry_id is None else str(entry_id),
    }
    _event(session, appeal, "payment", from_status=before, detail=detail)
    states.note(
        session,
        claim,
        "appeal_payment",
        actor=actor,
        actor_kind="payer",
        reason=f"the payer's 835 paid the level {appeal.level} appeal ({appeal.status})",
        detail={"appeal_id": str(appeal.id), "level": appeal.level, "outcome": appeal.status}
        | detail,
    )
    audit.record(
        session,
        actor,
        f"appeal.paid_{appeal.status}",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        fields=["status", "recovered_minor", "remittance_claim_id"],
        detail={"claim_id": str(claim.id), "remittance_claim_id": str(row.id)},
    )
    session.flush()
    return appeal


def on_posting_reversed(
    session: Session, actor: Principal, original: RemittanceClaim, reversal: RemittanceClaim
) -> Appeal | None:
    """The payer reversed the posting that paid an appeal: the link and the recovered amount
    are cleared (the status stays; the corrected CLP that usually follows links again)."""
    appeal = AppealRepository(session).paid_by(original.id)
    if appeal is None:
        return None
    detail = {
        "remittance_claim_id": str(original.id),
        "reversal_id": str(reversal.id),
        "recovered_minor": appeal.recovered_minor,
    }
    appeal.remittance_claim_id = None
    appeal.recovered_minor = None
    appeal.updated_at = utcnow()
    _event(session, appeal, "payment_reversed", from_status=appeal.status, detail=detail)
    audit.record(
        session,
        actor,
        "appeal.payment_reversed",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        fields=["recovered_minor", "remittance_claim_id"],
        detail={"remittance_claim_id": str(original.id)},
    )
    session.flush()
    return appeal
