"""Demo claims (called from demo/seed.py for a window ending today): the whole revenue cycle run
through the real parts in the seed's transaction, so that every claim status and every kind of
835 event is on screen after a fresh ``make run`` (docs/claims.md, "Demo").

Claims are built from insured patients' unpaid invoices, scrubbed and sent as 837P batches to the
built-in payer simulator; its 999s and 277CAs are applied and its 835s collected and posted.
Nothing writes a claim status or a posting directly: the simulator decides from the data, as a
payer would (fee schedules, deductibles, copays, authorisation rules, timely filing), and from
the member id's scenario suffix (docs/payer-simulator.md), which the insurance demo gives a few
patients (insurance/demo.py):

* batch 1, answered at once: ordinary claims (paid), ``XRV`` (paid, then reversed in a later
  835 and paid again at 90 % of the rate: an underpayment and a negative run carried forward
  with ``PLB FB``), ``XIT`` (``PLB L6`` interest), ``XWO`` (``PLB WO`` recoupment), ``XPP``
  (bundled lines), ``XDN`` (denied, left in the denial queue), ``XRJ`` (277CA rejection, left
  in the rejection queue with its location), and a claim held for a missing authorisation that
  is released by hand: the payer denies the line (CO-197) and the denial is appealed;
* then a secondary claim is built for a paid primary with a secondary coverage and one paid
  claim is closed;
* batch 2, the secondary claim and one more: the 277CA accepts them at once, the 835 comes in
  two weeks (``accepted``);
* batch 3: the 999 comes tomorrow, the 277CA the day after (``submitted``);
* one claim scrubbed after the last batch (``scrubbed``), one held by hand, one left in draft,
  one voided.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from revcycle.appeals import service as appeals
from revcycle.appeals.models import Appeal
from revcycle.appeals.schemas import AppealCreate
from revcycle.auth.principal import Principal
from revcycle.claims import denials, scrubber, secondary, service, states, submission
from revcycle.claims.models import Claim
from revcycle.claims.schemas import ClaimCreate
from revcycle.clearinghouse import adjudication
from revcycle.clearinghouse.payer import Delays
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import get_settings
from revcycle.errors import DomainError
from revcycle.insurance.models import Coverage, InsurancePlan, Payer
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine
from revcycle.kit.clock import today
from revcycle.remittances import tasks as remittances_tasks
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceUnmatched,
    Underpayment,
)

LOOKBACK_DAYS = 80  # inside the demo payers' shortest timely-filing window (90 days)
DAY = 86400.0
AWAITING_835 = Delays(remittance=14 * DAY)  # accepted by the 277CA, paid in two weeks
AWAITING_ACK = Delays(ack999=DAY, ack277=2 * DAY, remittance=16 * DAY)  # nothing back yet
# What each ordinary claim is for, in the order the invoices come (a small practice gets the
# first ones): "send" goes in the first batch.
PLAIN_ROLES = (
    "send",
    "draft",
    "void",
    "hold",
    "scrubbed",
    "submitted",
    "accepted",
    "send",
    "send",
    "send",
)
OFFICE_VISIT = "992"  # a scenario claim has an office visit, paid after the copay
AUTH_CLAIMS = 2  # claims whose lines need an authorisation (a hold to release, then appeal)


@dataclass
class ClaimsDemo:
    claims: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # in the claim state model's order
    remittance_sets: int = 0
    reversals: int = 0
    provider_adjustments: dict[str, int] = field(default_factory=dict)  # PLB reason -> count
    underpayments: int = 0
    appeals: int = 0
    secondary_claims: int = 0
    held_for_review: int = 0  # 835 claims in the unmatched queue (XDP: a duplicate payment)


@dataclass
class _Picked:
    scenario: dict[str, Invoice] = field(default_factory=dict)  # suffix -> invoice
    auth: list[Invoice] = field(default_factory=list)
    plain: list[Invoice] = field(default_factory=list)


def _candidates(session: Session, practice_id: uuid.UUID, end: dt.date) -> list[Invoice]:
    """Open invoices of patients with a coverage, service in the last LOOKBACK_DAYS, without a
    credit note (a claim bills the lines' charges, not what a credit note left), oldest first
    (deterministic)."""
    insured = select(Coverage.patient_id).where(Coverage.practice_id == practice_id)
    recent = select(InvoiceLine.invoice_id).where(
        InvoiceLine.date_of_service >= end - dt.timedelta(days=LOOKBACK_DAYS)
    )
    return list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.practice_id == practice_id,
                Invoice.status == "open",
                Invoice.patient_id.in_(insured),
                Invoice.id.in_(recent),
                Invoice.id.not_in(select(InvoiceAdjustment.invoice_id)),
            )
            .order_by(Invoice.issue_date, Invoice.number)
            .options(selectinload(Invoice.lines))
        )
    )


def _pick(session: Session, practice_id: uuid.UUID, end: dt.date) -> _Picked:
    """One invoice per member-id scenario (one with an office visit and no line needing an
    authorisation, as insurance/demo.py chose the patients), the first two whose lines need an
    authorisation under the patient's plan, then the others, an invoice of a patient with a
    secondary coverage (on a payer that does not cross claims over) first."""
    auth_codes: dict[uuid.UUID, set[str]] = {}
    scenario: dict[uuid.UUID, str] = {}
    covers: dict[uuid.UUID, list[bool]] = {}  # patient -> the payers' crossover flags
    for coverage, codes, crossover in session.execute(  # the coverages in force
        select(Coverage, InsurancePlan.auth_required_codes, Payer.secondary_crossover)
        .join(InsurancePlan, InsurancePlan.id == Coverage.plan_id)
        .join(Payer, Payer.id == Coverage.payer_id)
        .where(
            Coverage.practice_id == practice_id,
            (Coverage.effective_to.is_(None)) | (Coverage.effective_to >= end),
        )
        .order_by(Coverage.id)
    ):
        auth_codes.setdefault(coverage.patient_id, set()).update(codes or [])
        covers.setdefault(coverage.patient_id, []).append(bool(crossover))
        found = adjudication.scenario_of(coverage.member_id)
        if found is not None:
            scenario[coverage.patient_id] = found
    out = _Picked()
    for invoice in _candidates(session, practice_id, end):
        needs_auth = any(
            ln.service_code in auth_codes.get(invoice.patient_id, set()) for ln in invoice.lines
        )
        suffix = scenario.get(invoice.patient_id)
        if suffix is not None:
            visit = any(ln.service_code.startswith(OFFICE_VISIT) for ln in invoice.lines)
            bundles = suffix != adjudication.PARTIAL or len(invoice.lines) > 1
            if suffix not in out.scenario and visit and bundles and not needs_auth:
                out.scenario[suffix] = invoice
        elif needs_auth:
            if len(out.auth) < AUTH_CLAIMS:
                out.auth.append(invoice)
        else:
            out.plain.append(invoice)
    with_secondary = [
        i for i in out.plain if len(covers[i.patient_id]) > 1 and not any(covers[i.patient_id])
    ]
    if with_secondary:
        out.plain.remove(with_secondary[0])
        out.plain.insert(0, with_secondary[0])
    return out


def _build(session: Session, actor: Principal, invoice: Invoice) -> Claim | None:
    try:
        return service.create_claim(session, actor, ClaimCreate(invoice_id=invoice.id)).claim
    except DomainError:  # no coverage on that date, lines already claimed...
        return None


def _send(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    claims: Sequence[Claim],
    delays: Delays,
) -> int:
    """One 837P batch of the claims that are scrubbed, sent to the simulator answering after
    ``delays``; the acknowledgements and 835s available now are applied and posted. Returns the
    835 sets posted."""
    ids = [c.id for c in claims if c.status == "scrubbed"]
    if not ids:
        return 0
    session.flush()  # the sessions do not autoflush: the batch query must see the statuses
    client = SimulatorClearinghouse(session=session, delays=delays)
    built = submission.build_batch(
        session,
        actor,
        get_settings(),
        practice_id=practice_id,
        clearinghouse=client.name,
        claim_ids=ids,
    )
    if built.batch is None:
        return 0
    batch = built.batch
    receipt = client.submit_file(
        batch.content.encode(), kind=submission.KIND_837P, idempotency_key=batch.idempotency_key
    )
    submission.record_receipt(session, actor, batch.id, receipt=receipt)
    acks = submission.InboundResult()
    for file in client.poll_files(kinds=submission.ACK_KINDS, limit=50):
        submission.apply_file(session, actor, file, acks)
        client.acknowledge_file(file.file_id)
    posted = remittances_tasks.collect(session, client).sets_posted
    session.flush()
    session.expire_all()  # read the statuses the files wrote
    return posted


def _move(session: Session, actor: Principal, claim: Claim, to: str, reason: str) -> None:
    states.transition(session, claim, to, actor=actor, actor_kind="user", reason=reason)


def seed_claims(session: Session, actor: Principal, practice_id: uuid.UUID) -> ClaimsDemo:
    out = ClaimsDemo()
    picked = _pick(session, practice_id, today())
    scenario = [
        (suffix, c)
        for suffix in adjudication.SCENARIOS
        if suffix in picked.scenario
        and (c := _build(session, actor, picked.scenario[suffix])) is not None
    ]
    auth = [c for i in picked.auth if (c := _build(session, actor, i)) is not None]
    roles: dict[str, list[Claim]] = {}
    plain = iter(picked.plain)
    for role in PLAIN_ROLES:
        claim = next((c for i in plain if (c := _build(session, actor, i)) is not None), None)
        if claim is None:
            break
        roles.setdefault(role, []).append(claim)
    sent_now = [c for _, c in scenario] + auth + roles.get("send", [])
    if len(sent_now) < 2:  # a tiny practice: its claims stay drafts
        return _count(session, practice_id, out)
    for claim in roles.get("void", []):
        _move(session, actor, claim, "void", "Billed to the wrong payer")
    waiting = [c for r in ("hold", "accepted", "submitted") for c in roles.get(r, [])]
    for claim in sent_now + waiting:
        scrubber.scrub_claim(session, actor, claim.id)
    session.flush()
    session.expire_all()  # read the statuses the scrubber wrote
    # A claim held for a missing authorisation is released by hand (the office believes the
    # payer has one on file): the payer denies the line (CO-197) and the denial is appealed.
    released = next((c for c in auth if c.status == "held"), None)
    if released is not None:
        _move(
            session, actor, released, "scrubbed", "Released: the payer confirmed an authorisation"
        )
    for claim in roles.get("hold", []):
        if claim.status == "scrubbed":
            _move(session, actor, claim, "held", "Waiting for the operative note")
    out.remittance_sets += _send(session, actor, practice_id, sent_now, Delays())
    denied = dict(scenario).get(adjudication.DENY_ALL)  # stays in the denial queue
    to_appeal = [c for c in ([released] if released else []) + sent_now if c is not denied]
    target = next((c for c in to_appeal if denials.denial_of(session, c) is not None), None)
    if target is not None:
        appeals.create_appeal(
            session,
            actor,
            AppealCreate(
                claim_id=target.id,
                argument=(
                    "The service was medically necessary and billed within the contract; "
                    "we ask the plan to reprocess the claim."
                ),
                late_reason="Demo data: filed after review of the payer's answer",
            ),
        )
    paid = [c for c in roles.get("send", []) if c.status == "adjudicated"]
    second: list[Claim] = []
    for claim in paid:
        try:
            result = secondary.build_secondary(session, actor, claim.id)
        except DomainError:
            continue
        if result.secondary is not None:
            second.append(result.secondary.claim)
            scrubber.scrub_claim(session, actor, result.secondary.claim.id)
            paid.remove(claim)  # its secondary payer is billed: not closed
            break
    if paid:
        _move(session, actor, paid[-1], "closed", "Nothing left to work")
    session.flush()
    session.expire_all()
    out.remittance_sets += _send(
        session, actor, practice_id, second + roles.get("accepted", []), AWAITING_835
    )
    out.remittance_sets += _send(
        session, actor, practice_id, roles.get("submitted", []), AWAITING_ACK
    )
    for claim in roles.get("scrubbed", []):  # ready for the next batch
        scrubber.scrub_claim(session, actor, claim.id)
    return _count(session, practice_id, out)


def statuses_of(session: Session, practice_id: uuid.UUID) -> dict[str, int]:
    """The practice's claims by status, in the claim state model's order (statuses with none
    left out)."""
    session.flush()
    every = session.scalars(select(Claim.status).where(Claim.practice_id == practice_id)).all()
    return {st: n for st in states.TRANSITIONS if (n := every.count(st)) > 0}


def _count(session: Session, practice_id: uuid.UUID, out: ClaimsDemo) -> ClaimsDemo:
    out.statuses = statuses_of(session, practice_id)
    out.claims = sum(out.statuses.values())
    out.secondary_claims = _n(
        session, Claim, Claim.practice_id == practice_id, Claim.sequence != "primary"
    )
    out.appeals = _n(session, Appeal, Appeal.practice_id == practice_id)
    out.underpayments = _n(session, Underpayment, Underpayment.practice_id == practice_id)
    out.reversals = _n(
        session,
        RemittanceClaim,
        RemittanceClaim.practice_id == practice_id,
        RemittanceClaim.outcome == "reversal",
    )
    out.held_for_review = _n(
        session,
        RemittanceUnmatched,
        RemittanceUnmatched.practice_id == practice_id,
        RemittanceUnmatched.status == "open",
    )
    for summary in session.scalars(
        select(Remittance.summary).where(Remittance.practice_id == practice_id)
    ):
        for plb in summary.get("provider_adjustments", []):
            reason = str(plb["reason"])
            out.provider_adjustments[reason] = out.provider_adjustments.get(reason, 0) + 1
    return out


def _n(session: Session, model: type, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
