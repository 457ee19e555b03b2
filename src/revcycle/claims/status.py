"""276/277 claim status inquiries (docs/claims.md, "Status inquiries").

A real-time exchange like eligibility: phase 1 builds the 276 from the claim in a transaction of
its own (an interchange number is taken from the practice's claim-file counter), phase 2 asks the
clearinghouse outside any transaction, phase 3 records the answer (or the failure) as a
``status_inquiry`` claim event with the 277's status codes. The answer is informational: it does
not move the claim (the 999/277CA and 835 files do), but the payer's claim number is kept when
the claim has none yet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import errors, states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.service import access_claim
from revcycle.clearinghouse.base import ClearinghouseClient, ClearinghouseError
from revcycle.db import unit_of_work
from revcycle.insurance.models import Coverage, Payer
from revcycle.kit.clock import utcnow
from revcycle.patients.models import Patient
from revcycle.practices.models import Practice
from revcycle.x12.claim_status import StatusInquiry, build_276, parse_277
from revcycle.x12.core import X12Error
from revcycle.x12.writer import Envelope

SENT = frozenset(
    {"submitted", "accepted", "rejected", "adjudicated", "denied", "appealed", "closed"}
)

# STC01-1 categories (claim status category codes) in a word, for people.
CATEGORIES = {
    "A0": "acknowledged: forwarded",
    "A1": "acknowledged: received",
    "A2": "acknowledged: accepted into adjudication",
    "A3": "acknowledged: returned as unprocessable",
    "A4": "acknowledged: not found",
    "A6": "acknowledged: rejected for missing information",
    "A7": "acknowledged: rejected for invalid information",
    "D0": "data search unsuccessful",
    "E0": "response not possible: error in the inquiry",
    "E1": "response not possible: system status",
    "F0": "finalized",
    "F1": "finalized: payment",
    "F2": "finalized: denial",
    "F3": "finalized: revised",
    "F4": "finalized: adjudication complete, no payment forthcoming",
    "P0": "pending: adjudication or processing",
    "P1": "pending: in process",
    "P2": "pending: payer review",
    "P3": "pending: provider requested information",
    "P4": "pending: patient requested information",
    "R0": "request for additional information",
}


@dataclass(frozen=True)
class StatusView:
    claim: Claim
    event: ClaimEvent


def _build(session: Session, actor: Principal, claim_id: uuid.UUID) -> tuple[uuid.UUID, str, str]:
    claim = access_claim(session, actor, claim_id, Action.CLAIM_SUBMIT)
    if claim.status not in SENT:
        raise errors.IllegalClaimTransition(
            f"A {claim.status} claim has not been sent: there is no status to ask for",
            current=claim.status,
        )
    coverage = session.get(Coverage, claim.coverage_id)
    payer = session.get(Payer, claim.payer_id)
    practice = session.get(Practice, claim.practice_id)
    patient = session.get(Patient, claim.patient_id)
    assert coverage is not None and payer is not None and practice is not None
    assert patient is not None
    icn = ClaimRepository(session).take_interchange_number(claim.practice_id)
    trace = f"{claim.control_number}-{icn}"
    self_insured = coverage.relationship == "18" or not coverage.subscriber_last_name
    inquiry = StatusInquiry(
        trace_number=trace,
        payer_name=payer.name,
        payer_id=payer.edi_payer_id,
        receiver_name=practice.name,
        receiver_id=practice.npi,
        provider_name=practice.name,
        provider_npi=practice.npi,
        subscriber_last_name=(
            patient.last_name if self_insured else coverage.subscriber_last_name or ""
        ),
        subscriber_first_name=(
            patient.first_name if self_insured else coverage.subscriber_first_name or ""
        ),
        member_id=coverage.member_id,
        service_date=claim.service_date_from,
        service_date_to=(
            claim.service_date_to if claim.service_date_to != claim.service_date_from else None
        ),
        patient_control_number=claim.control_number,
        payer_claim_number=claim.payer_claim_number,
        charge_minor=claim.charge_minor,
    )
    envelope = Envelope(
        sender_id=practice.npi,
        receiver_id=payer.edi_payer_id[:15],
        interchange_control_number=icn,
        group_control_number=icn,
        created_at=utcnow(),
    )
    return claim.id, trace, build_276([inquiry], envelope)


def inquire_status(
    factory: sessionmaker[Session],
    client: ClearinghouseClient,
    actor: Principal,
    claim_id: uuid.UUID,
    *,
    timeout_seconds: float = 20.0,
) -> StatusView:
    with unit_of_work(factory) as s:
        cid, trace, x276 = _build(s, actor, claim_id)
    x277: str | None = None
    failure: ClearinghouseError | None = None
    try:
        x277 = client.claim_status(x276, timeout_seconds=timeout_seconds)
    except ClearinghouseError as exc:
        failure = exc
    with unit_of_work(factory) as s:
        view = _record(s, actor, cid, trace, x277, failure)
    if failure is not None:
        raise errors.ClaimStatusFailed(
            f"The clearinghouse did not answer the status inquiry: {failure.message}",
            code=failure.code,
        )
    return view


def _record(
    session: Session,
    actor: Principal,
    claim_id: uuid.UUID,
    trace: str,
    x277: str | None,
    failure: ClearinghouseError | None,
) -> StatusView:
    claim = access_claim(session, actor, claim_id, Action.CLAIM_SUBMIT, for_update=True)
    detail: dict[str, Any] = {"trace_number": trace, "clearinghouse_error": None}
    reason: str
    if failure is not None:
        detail["clearinghouse_error"] = failure.code
        reason = f"no answer: {failure.code}"
    else:
        assert x277 is not None
        try:
            results = [r for r in parse_277(x277) if r.trace_number == trace]
        except X12Error as exc:
            results = []
            detail["error"] = {"code": exc.code, "message": exc.message}
        if not results:
            reason = "the 277 did not answer this claim"
        else:
            r = results[0]
            detail.update(
                {
                    "statuses": [
                        {"category": c, "code": code, "entity": e} for c, code, e in r.statuses
                    ],
                    "charge_minor": r.charge_minor,
                    "paid_minor": r.paid_minor,
                    "payer_claim_number": r.payer_claim_number,
                    "effective": r.effective.isoformat() if r.effective else None,
                }
            )
            category = r.statuses[0][0] if r.statuses else ""
            reason = f"{category} {CATEGORIES.get(category, 'status')}".strip()
            if r.payer_claim_number and not claim.payer_claim_number:
                claim.payer_claim_number = r.payer_claim_number
    event = states.note(
        session,
        claim,
        "status_inquiry",
        actor=actor,
        actor_kind="user",
        reason=reason,
        detail=detail,
    )
    audit.record(
        session,
        actor,
        "claim.status_inquiry",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        detail={"answered": failure is None},
    )
    session.flush()
    return StatusView(claim, event)
