"""Crossover read from the primary payer's 835 (docs/remittance-posting.md, "Crossover").

The payer says it forwarded the claim to the patient's next payer by any of: CLP02 ``19``/``20``
/``21`` (processed and forwarded), an ``NM1*TT`` crossover carrier in the claim loop, or the
claim-level remark (MOA/MIA) ``MA18`` (forwarded to the supplemental payer) or ``N89`` (forwarded
to more than one payer). :func:`after_adjudication` then records the crossover on the claim
(``claims.crossover``); :func:`find_forwarded` matches the next payer's 835, which echoes the
primary's CLM01, to the secondary claim kept for it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.claims import crossover as claims_crossover
from revcycle.claims.models import Claim

FORWARDED_CODES = frozenset({"19", "20", "21"})
CROSSOVER_REMARKS = frozenset({"MA18", "N89"})


def signals(detail: dict[str, Any]) -> list[str]:
    """What in the CLP (its event ``detail``) says the claim was forwarded ([] when nothing)."""
    found = []
    if detail.get("status_code") in FORWARDED_CODES:
        found.append(f"CLP02 {detail['status_code']}")
    if detail.get("crossover_payer"):
        found.append("NM1*TT")
    found += [f"remark {r}" for r in detail.get("remarks") or [] if r in CROSSOVER_REMARKS]
    return found


def after_adjudication(
    session: Session, actor: Principal, claim: Claim, detail: dict[str, Any]
) -> None:
    """The claim just became adjudicated with ``detail``: mark the crossover when the payer
    forwarded it (the caller holds the invoice and claim locks)."""
    found = signals(detail)
    if not found:
        return
    carrier = detail.get("crossover_payer") or {}
    claims_crossover.mark_crossed_over(
        session,
        actor,
        claim,
        detail,
        carrier_name=carrier.get("name"),
        carrier_identifier=carrier.get("id"),
        signals=found,
    )


def find_forwarded(
    session: Session, practice_id: uuid.UUID, control_number: str, payer_id: uuid.UUID
) -> Claim | None:
    return claims_crossover.forwarded_claim(session, practice_id, control_number, payer_id)
