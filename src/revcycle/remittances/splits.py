"""Claims the payer split (docs/remittance-posting.md, "Claim splits").

A payer may answer one submitted claim in several CLP loops: the same CLP01 (our CLM01), each
part under its own CLP07 payer claim number and carrying only some of the service lines (remark
MA15), in one 835 or several. Each part posts its own money (the CLP's amounts are its lines').
:func:`settle` decides what the claim does after a part is posted:

* a CLP that is **not** a part (it carries no lines, an 835 line matched none of the claim's, or
  it carries every line) moves the claim as before;
* a part leaves the claim where it is, with a ``split`` note, until the claim's live parts (not
  reversed) together answered every line; then the claim moves -- ``denied`` when every part was
  a denial (CLP02 4), else ``adjudicated`` -- and the transition's ``detail`` is the whole
  claim's (amounts summed, the parts' lines in claim order, ``payer_claim_numbers``, ``splits``),
  so the denial queue and the secondary claim's COB loops see every line;
* a part that supplements a claim a whole answer already covers moves the claim as before.

Each answer's CLP07 is added to ``claims.payer_claim_numbers``. Underpayments of a part are
measured against the expected allowed amount of the lines it carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.claims import carc_actions, states
from revcycle.claims.models import Claim, ClaimLine
from revcycle.remittances.models import RemittanceClaim

DENIED_CODE = "4"


@dataclass(frozen=True)
class Answer:
    status: str | None  # the claim's new status; None: lines still wait for their part
    detail: dict[str, Any]  # the event's detail
    expected_minor: int | None  # expected allowed of what this CLP answered (underpayments)


def carried(detail: dict[str, Any]) -> list[str]:
    """The claim line ids the CLP's lines were matched to (match_lines)."""
    return [str(ln.get("claim_line_id")) for ln in detail["lines"] if ln.get("claim_line_id")]


def is_part(detail: dict[str, Any], lines: list[ClaimLine]) -> bool:
    """Every 835 line of the CLP matched one of the claim's lines, and not all were carried."""
    ids = carried(detail)
    if not ids or len(ids) != len(detail["lines"]):
        return False
    return set(ids) < {str(ln.id) for ln in lines}


def live_answers(session: Session, claim_id: Any) -> list[RemittanceClaim]:
    """The claim's postings that answered it (adjudicated or denied) and are not reversed."""
    session.flush()
    reversed_ids = select(RemittanceClaim.reverses_id).where(
        RemittanceClaim.reverses_id.is_not(None)
    )
    return list(
        session.scalars(
            select(RemittanceClaim)
            .where(
                RemittanceClaim.claim_id == claim_id,
                RemittanceClaim.outcome.in_(("adjudicated", "denied")),
                RemittanceClaim.id.not_in(reversed_ids),
            )
            .order_by(RemittanceClaim.created_at, RemittanceClaim.id)
        )
    )


def _settled_lines(detail: dict[str, Any], all_ids: set[str]) -> set[str]:
    """The claim lines an answer settled with money: paid, or moved to the patient (a line
    refused with nothing paid and nothing to the patient may be answered again: an appeal or a
    reprocessing). A CLP without lines settled every line when it carried money."""
    ids = carried(detail)
    if not ids:
        money = detail["paid_minor"] or detail["patient_responsibility_minor"]
        return set(all_ids) if money else set()
    return {
        str(ln["claim_line_id"])
        for ln in detail["lines"]
        if ln.get("claim_line_id")
        and (ln["paid_minor"] or any(a["group"] == "PR" for a in ln["adjustments"]))
    }


def already_settled(
    session: Session, claim: Claim, detail: dict[str, Any], lines: list[ClaimLine]
) -> RemittanceClaim | None:
    """The live answer (not reversed) that already settled one of the lines this CLP answers,
    if any: a second answer for them without the payer's reversal (CLP02 22) is a duplicate
    payment or a reprocessing, never posted automatically (docs/remittance-posting.md,
    "A second answer without a reversal"). ``detail`` must be matched to ``lines``."""
    all_ids = {str(ln.id) for ln in lines}
    mine = set(carried(detail)) or all_ids
    for prior in live_answers(session, claim.id):
        if mine & _settled_lines(prior.detail, all_ids):
            return prior
    return None


def remember_number(claim: Claim, number: str) -> None:
    """Keep every payer claim number the claim was answered under (first first)."""
    if number and number not in (claim.payer_claim_numbers or []):
        claim.payer_claim_numbers = [*(claim.payer_claim_numbers or []), number]


def _expected(lines: list[ClaimLine], ids: list[str]) -> int | None:
    total = 0
    for ln in lines:
        if str(ln.id) in ids:
            if ln.expected_allowed_minor is None:
                return None
            total += ln.expected_allowed_minor
    return total


def _summary(row_id: Any, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "payer_claim_number": d["payer_claim_number"],
        "status_code": d["status_code"],
        "remittance_id": d["remittance_id"],
        "remittance_claim_id": str(row_id),
        "charge_minor": d.get("charge_minor"),
        "paid_minor": d["paid_minor"],
        "patient_responsibility_minor": d["patient_responsibility_minor"],
        "line_control_numbers": [ln["line_control_number"] for ln in d["lines"]],
    }


def _merge(
    parts: list[tuple[Any, dict[str, Any]]], current: dict[str, Any], lines: list[ClaimLine]
) -> dict[str, Any]:
    """The whole claim's answer from its parts (the current part's keys first)."""
    position = {str(ln.id): ln.position for ln in lines}
    details = [d for _, d in parts]
    merged = dict(current)
    merged.update(
        paid_minor=sum(d["paid_minor"] for d in details),
        patient_responsibility_minor=sum(d["patient_responsibility_minor"] for d in details),
        charge_minor=sum(d.get("charge_minor") or 0 for d in details),
        adjustments=[a for d in details for a in d["adjustments"]],
        remarks=list(dict.fromkeys(r for d in details for r in d["remarks"])),
        lines=sorted(
            (ln for d in details for ln in d["lines"]),
            key=lambda ln: position.get(str(ln.get("claim_line_id")), 0),
        ),
        crossover_payer=next(
            (d["crossover_payer"] for d in details if d.get("crossover_payer")), None
        ),
        payer_claim_numbers=list(dict.fromkeys(d["payer_claim_number"] for d in details)),
        splits=[_summary(row_id, d) for row_id, d in parts],
    )
    return merged


def settle(
    session: Session,
    claim: Claim,
    row: RemittanceClaim,
    detail: dict[str, Any],
    target: str,
    lines: list[ClaimLine],
    *,
    actor: Principal,
) -> Answer:
    """Move (or only note) the claim after ``row`` (this CLP, already posted; ``detail`` its
    matched detail, ``target`` what its CLP02 means) and say what it answered."""
    remember_number(claim, row.payer_claim_number)
    reason = f"835: claim status {row.status_code}"
    if not is_part(detail, lines):
        answer = Answer(target, detail, claim.expected_allowed_minor)
    else:
        answer = _part(session, claim, row, detail, target, lines)
        # The whole claim's adjustments gathered from its parts: their follow-up actions again
        # (the CARC -> action table; parallel lists must stay parallel).
        carc_actions.annotate(carc_actions.resolver(session, claim.practice_id), answer.detail)
    if answer.status is None:
        states.note(
            session,
            claim,
            "split",
            actor=actor,
            actor_kind="payer",
            reason=f"{reason}: part {row.payer_claim_number or '-'} of a split claim",
            detail=answer.detail,
        )
    else:
        states.transition(
            session,
            claim,
            answer.status,
            actor=actor,
            actor_kind="payer",
            reason=reason,
            detail=answer.detail,
        )
    return answer


def _part(
    session: Session,
    claim: Claim,
    row: RemittanceClaim,
    detail: dict[str, Any],
    target: str,
    lines: list[ClaimLine],
) -> Answer:
    mine = carried(detail)
    expected = _expected(lines, mine)
    others = [p for p in live_answers(session, claim.id) if p.id != row.id]
    if any(not is_part(p.detail, lines) for p in others):
        return Answer(target, detail, expected)  # a supplement to a whole answer
    parts = [(p.id, p.detail) for p in others] + [(row.id, detail)]
    answered = {i for _, d in parts for i in carried(d)}
    pending = [ln.line_control_number for ln in lines if str(ln.id) not in answered]
    if pending:
        done = [ln.line_control_number for ln in lines if str(ln.id) in answered]
        return Answer(
            None,
            {**detail, "split": {"answered_lines": done, "pending_lines": pending}},
            expected,
        )
    codes = [d["status_code"] for _, d in parts]
    status = "denied" if all(c == DENIED_CODE for c in codes) else "adjudicated"
    return Answer(status, _merge(parts, detail, lines), expected)
