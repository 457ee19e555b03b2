"""Predeterminations (835 CLP02 ``25``, docs/remittance-posting.md, "Predeterminations").

The payer priced a claim without paying it. :func:`record` keeps the answer on the claim --
``claims.predetermination`` (shown by the claim's API view), a ``predetermination`` claim event
with the 835 detail and the anticipated payment (CAS ``OA-101``, RFI 1941) -- and the
``remittance_claims`` row (outcome ``predetermination``). No money moves: no ledger entry, no
billing, the claim's status does not change, no underpayment, and the denial queue (which reads
transitions) does not see it. A predetermination that carries a payment (CLP04 not zero) is not
one we recognise: it goes to the unmatched queue like any claim we cannot post.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.principal import Principal
from revcycle.claims import states
from revcycle.claims.models import Claim
from revcycle.remittances.models import RemittanceClaim
from revcycle.x12.remittance import ClaimPayment

CODE = "25"
ANTICIPATED_PAYMENT = ("OA", "101")


def applies(cp: ClaimPayment) -> bool:
    return cp.status_code == CODE and cp.paid_minor == 0


def anticipated_minor(detail: dict[str, Any]) -> int:
    adjs = list(detail["adjustments"]) + [a for ln in detail["lines"] for a in ln["adjustments"]]
    return sum(a["amount_minor"] for a in adjs if (a["group"], a["reason"]) == ANTICIPATED_PAYMENT)


def record(
    session: Session, actor: Principal, claim: Claim, row: RemittanceClaim, detail: dict[str, Any]
) -> None:
    """Keep the predetermination ``row`` (not yet added; ``detail`` its lines matched) on
    ``claim``. Locks only the claim: no invoice is touched."""
    locked = session.scalar(
        select(Claim)
        .where(Claim.id == claim.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    row.claim_id = locked.id
    row.outcome = "predetermination"
    row.detail = detail
    session.add(row)
    session.flush()
    stored = {
        "payer_claim_number": detail["payer_claim_number"],
        "priced_on": detail["adjudicated_on"],
        "charge_minor": detail["charge_minor"],
        "anticipated_payment_minor": anticipated_minor(detail),
        "patient_responsibility_minor": detail["patient_responsibility_minor"],
        "adjustments": detail["adjustments"],
        "remarks": detail["remarks"],
        "lines": [
            {
                "line_control_number": ln["line_control_number"],
                "procedure": ln["procedure"],
                "charge_minor": ln["charge_minor"],
                "adjustments": ln["adjustments"],
            }
            for ln in detail["lines"]
        ],
        "remittance_id": detail["remittance_id"],
        "remittance_claim_id": str(row.id),
        "currency": row.currency,
    }
    locked.predetermination = stored
    states.note(
        session,
        locked,
        "predetermination",
        actor=actor,
        actor_kind="payer",
        reason=f"835: claim status {CODE}, predetermination pricing only (no payment)",
        detail={**detail, "anticipated_payment_minor": stored["anticipated_payment_minor"]},
    )
    audit.record(
        session,
        actor,
        "claim.predetermination",
        object_type="claim",
        object_id=locked.id,
        practice_id=locked.practice_id,
        fields=["predetermination"],
    )
    session.flush()
