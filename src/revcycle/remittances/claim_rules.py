"""The rules that post one 835 claim (CLP) to our claim (docs/remittance-posting.md, "Ledger",
"Claim states and the event `detail`", "A second answer without a reversal").

:func:`claim_detail` turns a parsed CLP into the claim event ``detail`` contract;
:func:`match_lines` points its lines at ours; :func:`unpostable` and :func:`already_settled`
say why a matched CLP may not be posted automatically; :func:`apply_to_claim` posts it: the
payment, the adjustments, the patient's responsibility, the claim's move and the invoice's
refresh. :mod:`revcycle.remittances.service` runs them for every claim of a set, and for a
claim matched by hand from the unmatched queue.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from revcycle.appeals import matching as appeal_matching
from revcycle.auth.principal import Principal
from revcycle.claims import carc_actions
from revcycle.claims import service as claims_service
from revcycle.claims.models import Claim, ClaimLine
from revcycle.invoices.models import Invoice
from revcycle.kit import bulkwrite
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.money import Money
from revcycle.remittances import crossovers, secondary_share, splits
from revcycle.remittances.bulk import Immediate, SetBatch
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    Underpayment,
)
from revcycle.x12.remittance import (
    Adjustment,
    ClaimPayment,
)
from revcycle.x12.remittance import Remittance as Parsed835

ERA_ACTOR = Principal.system(username="era")
ADJUDICATED_CODES = frozenset({"1", "2", "3", "19", "20", "21"})
DENIED_CODE = "4"
# Claims the payer may still answer for (an 835 moves them to adjudicated / denied).
PAYABLE_STATUSES = frozenset(
    {"submitted", "accepted", "adjudicated", "denied", "appealed", "closed"}
)
PR_BUCKETS = {"1": "deductible", "2": "coinsurance", "3": "copay"}


def _adjustments(adjs: list[Adjustment]) -> list[dict[str, Any]]:
    return [{"group": a.group, "reason": a.reason, "amount_minor": a.amount_minor} for a in adjs]


def claim_detail(cp: ClaimPayment, rem: Parsed835, remittance_id: uuid.UUID) -> dict[str, Any]:
    """The claim event ``detail`` contract (docs/claims.md, "Event details other parts rely
    on"); ``lines[].line_control_number`` is the 835's until a claim line is matched."""
    pr = cp.patient_responsibility_total()
    remarks = list(dict.fromkeys(cp.remarks))
    return {
        "payer_claim_number": cp.payer_claim_number,
        "adjudicated_on": rem.payment_date.isoformat() if rem.payment_date else None,
        "status_code": cp.status_code,
        "paid_minor": cp.paid_minor,
        "patient_responsibility_minor": pr,
        "adjustments": _adjustments(cp.adjustments),
        "remarks": remarks,
        "lines": [
            {
                "line_control_number": line.line_control_number,
                "procedure": line.procedure,
                "modifiers": list(line.modifiers),
                "units": format(line.units.normalize(), "f"),
                "paid_minor": line.paid_minor,
                "adjustments": _adjustments(line.adjustments),
                # Beyond the contract (added keys only): what matching and follow-up use.
                "charge_minor": line.charge_minor,
                "service_date": line.service_date.isoformat() if line.service_date else None,
                "remarks": list(line.remarks),
                "claim_line_id": None,
            }
            for line in cp.service_lines
        ],
        "remittance_id": str(remittance_id),
        "charge_minor": cp.charge_minor,
        "patient_control_number": cp.patient_control_number,
        # The crossover carrier (NM1*TT), when the payer named one (docs: "Crossover").
        "crossover_payer": (
            {"name": cp.crossover_payer, "id": cp.crossover_payer_id}
            if cp.crossover_payer
            else None
        ),
    }


def all_adjustments(detail: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(detail["adjustments"])
    for line in detail["lines"]:
        out.extend(line["adjustments"])
    return out


@dataclass(frozen=True)
class _Split:
    adjustment: int  # CO / OA / PI (and 4010 CR outside a reversal)
    patient: int  # every PR
    buckets: dict[str, int]


def split(detail: dict[str, Any]) -> _Split:
    adjustment = patient = 0
    buckets = {"deductible": 0, "coinsurance": 0, "copay": 0, "other": 0}
    for a in all_adjustments(detail):
        if a["group"] == "PR":
            patient += a["amount_minor"]
            buckets[PR_BUCKETS.get(a["reason"], "other")] += a["amount_minor"]
        else:
            adjustment += a["amount_minor"]
    return _Split(adjustment, patient, buckets)


def match_lines(detail: dict[str, Any], lines: list[ClaimLine]) -> None:
    """Point each 835 line at our claim line: REF*6R first, then procedure + date + position."""
    by_number = {ln.line_control_number: ln for ln in lines}
    by_position = {ln.position: ln for ln in lines}
    pending: list[dict[str, Any]] = []
    for pos, line in enumerate(detail["lines"], start=1):
        found = by_number.get(line["line_control_number"] or "")
        if found is None:
            cand = by_position.get(pos)
            day = line.get("service_date")
            if (
                cand is not None
                and cand.procedure == line["procedure"]
                and (day is None or cand.service_date.isoformat() == day)
            ):
                found = cand
        if found is not None:
            line["line_control_number"] = found.line_control_number
            line["claim_line_id"] = str(found.id)
        else:
            pending.append(line)
    _match_shifted_lines(pending, lines, detail["lines"])


def _match_shifted_lines(
    pending: list[dict[str, Any]], lines: list[ClaimLine], answered: list[dict[str, Any]]
) -> None:
    """A split claim's part carries only some lines, so positions shift: a line without REF*6R
    matches the one claim line not matched yet with its procedure, date and charge."""
    taken = {ln.get("claim_line_id") for ln in answered}
    for line in pending:
        day = line.get("service_date")
        fits = [
            ln
            for ln in lines
            if str(ln.id) not in taken
            and ln.procedure == line["procedure"]
            and ln.charge_minor == line.get("charge_minor")
            and (day is None or ln.service_date.isoformat() == day)
        ]
        if len(fits) == 1:
            line["line_control_number"] = fits[0].line_control_number
            line["claim_line_id"] = str(fits[0].id)
            taken.add(str(fits[0].id))


def _target_status(status_code: str) -> str | None:
    if status_code in ADJUDICATED_CODES:
        return "adjudicated"
    if status_code == DENIED_CODE:
        return "denied"
    return None


def unpostable(session: Session, claim: Claim, status_code: str) -> str:
    """Why a matched claim cannot be posted automatically ('' when it can)."""
    if _target_status(status_code) is None:
        return f"claim status code {status_code!r} is not posted automatically"
    if claim.status not in PAYABLE_STATUSES:
        return f"claim {claim.control_number} is {claim.status}: the payer cannot have paid it"
    invoice = session.get(Invoice, claim.invoice_id)
    if invoice is None or invoice.status in ("draft", "void"):
        return f"the claim's invoice is {invoice.status if invoice else 'missing'}"
    return ""


def may_have_answers(claim: Claim) -> bool:
    """Whether an 835 may have answered the claim before (cheap: no statement). Every answer
    remembers its payer claim number; one without it moves the claim on."""
    return bool(claim.payer_claim_numbers) or claim.status not in ("submitted", "accepted")


def already_settled(
    session: Session, claim: Claim, detail: dict[str, Any], lines: list[ClaimLine]
) -> str:
    """Why this answer may not be posted because the payer already settled its lines ('' if
    it may): a duplicate payment waits in the unmatched queue (its money in 2300, which the
    payer's later recoupment clears) instead of paying the claim twice."""
    matched = copy.deepcopy(detail)
    match_lines(matched, lines)
    prior = splits.already_settled(session, claim, matched, lines)
    if prior is None:
        return ""
    earlier = session.get(Remittance, prior.remittance_id)
    trace = earlier.trace_number if earlier is not None else "-"
    return (
        f"claim {claim.control_number} was already settled by this payer (835 trace {trace}, "
        f"payer claim {prior.payer_claim_number or '-'}) and this answer comes without a "
        "reversal (CLP02 22): held for review so it is not posted twice"
    )


def apply_to_claim(
    session: Session,
    actor: Principal,
    claim: Claim,
    row: RemittanceClaim,
    *,
    funding: AccountCode,
    effective_date: dt.date,
    memo: str,
    writes: SetBatch | Immediate | None = None,
) -> None:
    """Post one CLP (``row.detail``) to a claim: payment from ``funding`` (the bank or cash for
    a remittance, 2300 payer offsets when a held claim is matched), CO/OA/PI adjustments to
    4200 (not for a denial: a denial is worked, not written off), PR to the patient; move the
    claim and refresh its invoice. ``writes`` (remittances/bulk.py) takes the locks, reads the
    lines and writes the entries: at once by default, gathered for a whole 835 set."""
    writes = writes or Immediate(session)
    claim, invoice = writes.lock(claim)
    claims_service.bill_to_payer(session, claim, actor, post=writes.post)
    # A stored row's JSON column sees only new values: change a copy of its nested detail. A
    # row not written yet (a set's claim) holds the detail just built for it: changed in place.
    detail = row.detail if inspect(row).pending else copy.deepcopy(row.detail)
    lines = writes.lines_of(claim)
    match_lines(detail, lines)
    # What to do about each adjustment, recorded once here (the denial queue reads it).
    carc_actions.annotate(carc_actions.resolver(session, claim.practice_id), detail)
    target = _target_status(row.status_code)
    assert target is not None
    parts = split(detail)
    dims = {"patient_id": claim.patient_id, "invoice_id": claim.invoice_id}
    source = {"source_type": "remittance_claim", "source_id": row.id}
    entry_ids = list(row.entry_ids)

    def post(kind: EntryKind, dr: AccountCode, cr: AccountCode, minor: int, what: str) -> None:
        if minor == 0:
            return
        amount = Money(minor, claim.currency)
        entry_ids.append(
            str(
                writes.post(
                    ledger.EntrySpec(
                        practice_id=claim.practice_id,
                        kind=kind.value,
                        legs=[ledger.debit(dr, amount, **dims), ledger.credit(cr, amount, **dims)],
                        effective_date=effective_date,
                        memo=f"{memo}: {what}",
                        created_by=actor.user_id,
                        **source,  # type: ignore[arg-type]
                        id=uuid7(),  # given here: no copy of the spec to give it one
                    ),
                )
            )
        )

    paid, patient = row.paid_minor, parts.patient
    adjustment = parts.adjustment if target == "adjudicated" else 0
    excess = 0
    if claim.sequence != "primary":
        # A secondary payer's 835 restates the whole charge (its CO-45, OA-23 for what the
        # primary paid...), but only the patient's remaining balance was billed to it: clear
        # exactly that -- its payment, the patient's share of what is left, the rest written
        # off; money beyond it is owed back to the payer (2300) until reconciled.
        # A part of a split answer clears only its lines' share of what was billed.
        billed = secondary_share.part_billed(
            session, claim, detail, lines, claims_service.billed_minor(session, claim)
        )
        excess = max(paid - billed, 0)
        patient = min(patient, billed - paid + excess)
        adjustment = billed - paid + excess - patient if target == "adjudicated" else 0
    post(EntryKind.CLAIM_PAYMENT, funding, AccountCode.INSURANCE_AR, paid - excess, "payment")
    post(
        EntryKind.CLAIM_PAYMENT, funding, AccountCode.PAYER_OFFSETS, excess, "paid beyond the bill"
    )
    post(
        EntryKind.CLAIM_ADJUSTMENT,
        AccountCode.CONTRACTUAL_ADJUSTMENTS,
        AccountCode.INSURANCE_AR,
        adjustment,
        "payer adjustments",
    )
    post(
        EntryKind.CLAIM_PATIENT_RESPONSIBILITY,
        AccountCode.PATIENT_AR,
        AccountCode.INSURANCE_AR,
        patient,
        "patient responsibility",
    )
    row.claim_id = claim.id
    row.outcome = target
    row.adjustment_minor = adjustment
    row.entry_ids = entry_ids
    row.detail = detail
    if row.payer_claim_number:
        claim.payer_claim_number = row.payer_claim_number
    previous_status = claim.status
    # The claim moves (or, for a part of a split claim, waits for its other parts).
    answer = splits.settle(session, claim, row, detail, target, lines, actor=ERA_ACTOR)
    if answer.status == "adjudicated":
        crossovers.after_adjudication(session, ERA_ACTOR, claim, answer.detail)
    if answer.status is not None:
        # An appeal awaiting this payment: linked, its recovery and outcome recorded (no money).
        appeal_matching.on_claim_posted(
            session,
            ERA_ACTOR,
            claim,
            row,
            outcome=answer.status,
            previous_status=previous_status,
            payment_date=effective_date,
        )
    expected = answer.expected_minor
    if (
        target == "adjudicated"
        and claim.sequence == "primary"  # a later payer's share is not the contract's
        and expected is not None
    ):
        actual = row.paid_minor + parts.patient
        if actual < expected:
            session.add(
                bulkwrite.new_row(
                    Underpayment,
                    practice_id=claim.practice_id,
                    claim_id=claim.id,
                    remittance_claim_id=row.id,
                    expected_minor=expected,
                    actual_minor=actual,
                    difference_minor=expected - actual,
                    currency=claim.currency,
                    status="open",
                )
            )
    writes.settle(invoice)
