"""What one part of a split answer to a later payer's claim may clear (docs/remittance-posting.md,
"Claim splits": "A split answer to a secondary (or later) claim").

A secondary claim is billed the patient's balance left after the primary payer, one amount for
the whole claim (``claims.service.billed_minor``), while a part of a split answer carries only
some lines. Each part clears its lines' **share** of that amount: the billed amount is allocated
over the claim's lines in proportion to what the prior payer left on each line (its PR
adjustments: the responsibility the secondary was billed for), or, without that, in proportion
to the lines' charges; ``money.allocate`` keeps every cent, so the parts together clear exactly
what was billed, whatever order they arrive in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from revcycle.claims import mapping
from revcycle.claims.models import Claim, ClaimLine
from revcycle.claims.repository import ClaimRepository
from revcycle.money import Money, allocate
from revcycle.remittances import splits


def _left_by_position(session: Session, claim: Claim, prior: dict[str, Any]) -> dict[int, int]:
    """The prior payer's patient responsibility per line position (the secondary's lines are
    copies of the primary's, in the same positions)."""
    if claim.primary_claim_id is None:
        return {}
    primary_lines = ClaimRepository(session).lines_of([claim.primary_claim_id])
    position = {str(ln.id): ln.position for ln in primary_lines.get(claim.primary_claim_id, [])}
    left: dict[int, int] = {}
    for line in prior.get("lines") or []:
        pos = position.get(str(line.get("claim_line_id")))
        if pos is None:
            continue
        pr = sum(int(a["amount_minor"]) for a in line["adjustments"] if a["group"] == "PR")
        left[pos] = left.get(pos, 0) + max(pr, 0)
    return left


def part_billed(
    session: Session,
    claim: Claim,
    detail: dict[str, Any],
    lines: list[ClaimLine],
    billed: int,
) -> int:
    """What the CLP (``detail``, matched to ``lines``) may clear of ``billed``: all of it unless
    the CLP is a part of a split answer, then its lines' share."""
    if billed <= 0 or not splits.is_part(detail, lines):
        return billed
    ordered = sorted(lines, key=lambda ln: ln.position)
    prior = mapping.prior_adjudication(session, claim)
    left = _left_by_position(session, claim, prior) if prior else {}
    weights = [left.get(ln.position, 0) for ln in ordered]
    if not any(weights):
        weights = [max(ln.charge_minor, 0) for ln in ordered]
    if not any(weights):
        return billed
    shares = allocate(Money(billed, claim.currency), weights)
    mine = set(splits.carried(detail))
    return sum(
        share.amount_minor for ln, share in zip(ordered, shares, strict=True) if str(ln.id) in mine
    )
