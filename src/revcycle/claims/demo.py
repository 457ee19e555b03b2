"""Demo claims (called from demo/seed.py for a window ending today): the revenue cycle run
through the real parts in the seed's transaction -- claims built from insured patients' unpaid
invoices, scrubbed, sent as one 837P batch to the built-in payer simulator, its 999 and 277CA
applied, its 835 collected and posted; then a denial appealed, a paid claim closed, a secondary
claim built, one claim held, one voided and one left in draft (docs/claims.md, "Demo").

Everything the simulator decides comes from the data, as a payer would: lines of an
out-of-network plan without a fee schedule are denied (CO-96), claims past the payer's timely
filing days are denied (CO-29), the rest are priced by the fee schedule with the member's
deductible, copay and coinsurance.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from revcycle.appeals import service as appeals
from revcycle.appeals.schemas import AppealCreate
from revcycle.auth.principal import Principal
from revcycle.claims import denials, scrubber, secondary, service, states, submission
from revcycle.claims.models import Claim
from revcycle.claims.schemas import ClaimCreate
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import get_settings
from revcycle.errors import DomainError
from revcycle.insurance.models import Coverage, InsurancePlan
from revcycle.invoices.models import Invoice, InvoiceLine
from revcycle.kit.clock import today
from revcycle.remittances import tasks as remittances_tasks

MAX_CLAIMS = 14
LOOKBACK_DAYS = 80  # inside the demo payers' shortest timely-filing window (90 days)


@dataclass
class ClaimsDemo:
    claims: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    remittance_sets: int = 0
    appeals: int = 0
    secondary_claims: int = 0


def _candidates(session: Session, practice_id: uuid.UUID, end: dt.date) -> list[Invoice]:
    """Unpaid invoices of patients with a coverage, service in the last LOOKBACK_DAYS, oldest
    first (deterministic); two whose lines need an authorisation under the patient's plan come
    first, so the demo has holds and an authorisation denial to appeal."""
    insured = select(Coverage.patient_id).where(Coverage.practice_id == practice_id)
    recent = select(InvoiceLine.invoice_id).where(
        InvoiceLine.date_of_service >= end - dt.timedelta(days=LOOKBACK_DAYS)
    )
    invoices = list(
        session.scalars(
            select(Invoice)
            .where(
                Invoice.practice_id == practice_id,
                Invoice.status == "open",
                Invoice.patient_id.in_(insured),
                Invoice.id.in_(recent),
            )
            .order_by(Invoice.issue_date, Invoice.number)
            .options(selectinload(Invoice.lines))
        )
    )
    auth_codes: dict[uuid.UUID, set[str]] = {}
    for patient_id, codes in session.execute(
        select(Coverage.patient_id, InsurancePlan.auth_required_codes)
        .join(InsurancePlan, InsurancePlan.id == Coverage.plan_id)
        .where(Coverage.practice_id == practice_id)
    ):
        auth_codes.setdefault(patient_id, set()).update(codes or [])
    needs_auth = [
        i
        for i in invoices
        if any(ln.service_code in auth_codes.get(i.patient_id, set()) for ln in i.lines)
    ][:2]
    return needs_auth + [i for i in invoices if i not in needs_auth]


def seed_claims(session: Session, actor: Principal, practice_id: uuid.UUID) -> ClaimsDemo:
    out = ClaimsDemo()
    made: list[Claim] = []
    for invoice in _candidates(session, practice_id, today()):
        try:
            made.append(
                service.create_claim(session, actor, ClaimCreate(invoice_id=invoice.id)).claim
            )
        except DomainError:  # no coverage on that date, lines already claimed...
            continue
        if len(made) == MAX_CLAIMS:
            break
    if len(made) < 4:
        out.claims = len(made)
        return out
    *to_send, draft, voided = made
    states.transition(
        session, voided, "void", actor=actor, actor_kind="user", reason="Billed to the wrong payer"
    )
    for claim in to_send:
        scrubber.scrub_claim(session, actor, claim.id)
    session.flush()
    session.expire_all()  # read the statuses the scrubber wrote
    # A claim held for a missing authorisation is released by hand (the office believes the
    # payer has one on file): the payer denies it (CO-197) and the denial is appealed.
    released = next((c for c in to_send if c.status == "held"), None)
    if released is not None:
        states.transition(
            session,
            released,
            "scrubbed",
            actor=actor,
            actor_kind="user",
            reason="Released: the payer confirmed an authorisation by phone",
        )
    held = next((c for c in to_send if c.status == "scrubbed" and c is not released), None)
    if held is not None:
        states.transition(
            session,
            held,
            "held",
            actor=actor,
            actor_kind="user",
            reason="Waiting for the operative note",
        )
    session.flush()  # the sessions do not autoflush: the batch query must see the held claim
    client = SimulatorClearinghouse(session=session)
    built = submission.build_batch(
        session, actor, get_settings(), practice_id=practice_id, clearinghouse=client.name
    )
    if built.batch is not None:
        batch = built.batch
        receipt = client.submit_file(
            batch.content.encode(), kind=submission.KIND_837P, idempotency_key=batch.idempotency_key
        )
        submission.record_receipt(session, actor, batch.id, receipt=receipt)
        acks = submission.InboundResult()
        for file in client.poll_files(kinds=submission.ACK_KINDS, limit=50):
            submission.apply_file(session, actor, file, acks)
            client.acknowledge_file(file.file_id)
        out.remittance_sets = remittances_tasks.collect(session, client).sets_posted
    session.flush()
    session.expire_all()
    denied = next(
        (
            c
            for c in to_send
            if c.status in ("denied", "adjudicated") and denials.denial_of(session, c) is not None
        ),
        None,
    )
    if denied is not None:
        appeals.create_appeal(
            session,
            actor,
            AppealCreate(
                claim_id=denied.id,
                argument=(
                    "The service was medically necessary and billed within the contract; "
                    "we ask the plan to reprocess the claim."
                ),
                late_reason="Demo data: filed after review of the payer's answer",
            ),
        )
        out.appeals = 1
    paid = [c for c in to_send if c.status == "adjudicated"]
    for claim in paid:
        try:
            result = secondary.build_secondary(session, actor, claim.id)
        except DomainError:
            continue
        if result.secondary is not None:
            out.secondary_claims += 1
            break
    if len(paid) > 1:
        states.transition(
            session,
            paid[-1],
            "closed",
            actor=actor,
            actor_kind="user",
            reason="Nothing left to work",
        )
    session.flush()
    every = session.scalars(select(Claim.status).where(Claim.practice_id == practice_id)).all()
    out.claims = len(every)
    for status in every:
        out.statuses[status] = out.statuses.get(status, 0) + 1
    del draft
    return out
