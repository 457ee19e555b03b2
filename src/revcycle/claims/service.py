"""Use-cases for claims: build one from an invoice's charges, read it, list them, and the ledger
move when it is billed (docs/claims.md).

Lock order (extends docs/architecture.md): invoice -> claim -> claim sequence. Creating a claim
locks the invoice first, so two concurrent requests to claim the same lines cannot both pass
the "already on a live claim" check.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.authorizations.models import Authorization
from revcycle.authorizations.repository import AuthorizationRepository
from revcycle.claims import errors, states
from revcycle.claims.models import Claim, ClaimEvent, ClaimLine
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.schemas import ClaimCreate
from revcycle.errors import out_of_scope
from revcycle.insurance import coverages as coverages_service
from revcycle.insurance import service as insurance_service
from revcycle.insurance.models import Coverage
from revcycle.insurance.repository import InsuranceRepository
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice, InvoiceLine
from revcycle.invoices.repository import InvoiceRepository
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money

SEQUENCES = {1: "primary", 2: "secondary", 3: "tertiary"}
RESPONSIBILITY = {"primary": "P", "secondary": "S", "tertiary": "T"}
MAX_DIAGNOSES = 12
MAX_LINES = 50


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    lines: list[ClaimLine]


def access_claim(
    session: Session,
    actor: Principal,
    claim_id: uuid.UUID,
    action: Action = Action.CLAIM_READ,
    *,
    for_update: bool = False,
) -> Claim:
    actor.require(action)
    claim = ClaimRepository(session).get(claim_id, for_update=for_update)
    if claim is None:
        raise errors.ClaimNotFound("No such claim")
    if not actor.sees_patient(claim.practice_id, claim.patient_id):
        raise out_of_scope(errors.ClaimNotFound("No such claim"), "claim", claim.id)
    return claim


def view(session: Session, claim: Claim) -> ClaimView:
    return ClaimView(claim, ClaimRepository(session).lines_of([claim.id])[claim.id])


def normalise_diagnosis(code: str) -> str:
    return code.replace(".", "").strip().upper()


def line_charge_minor(line: InvoiceLine) -> int:
    """What a line bills to the payer: units x price less the line's discount (the amount the
    invoice put in receivables for it)."""
    return line.units * line.unit_price_minor - line.discount_minor


def _pick_lines(invoice: Invoice, line_ids: Sequence[uuid.UUID] | None) -> list[InvoiceLine]:
    lines = sorted(invoice.lines, key=lambda ln: ln.position)
    if line_ids is not None:
        wanted = set(line_ids)
        unknown = wanted - {ln.id for ln in lines}
        if unknown:
            raise errors.InvalidClaim(
                "Some lines are not lines of this invoice",
                line_ids=sorted(str(u) for u in unknown),
            )
        lines = [ln for ln in lines if ln.id in wanted]
    lines = [ln for ln in lines if line_charge_minor(ln) > 0]
    if not lines:
        raise errors.InvalidClaim("The invoice has no charge to bill (every line is zero)")
    if len(lines) > MAX_LINES:
        raise errors.InvalidClaim(f"A professional claim has at most {MAX_LINES} service lines")
    return lines


def _diagnoses(lines: Sequence[InvoiceLine]) -> tuple[list[str], dict[uuid.UUID, list[int]]]:
    """The claim's diagnosis list (first-seen order across lines, principal first) and each
    line's pointers into it (at most 4 per line, as SV107 allows)."""
    codes: list[str] = []
    pointers: dict[uuid.UUID, list[int]] = {}
    for line in lines:
        mine: list[int] = []
        for raw in line.diagnosis_codes:
            code = normalise_diagnosis(raw)
            if not code:
                continue
            if code not in codes:
                codes.append(code)
            pos = codes.index(code) + 1
            if pos not in mine:
                mine.append(pos)
        pointers[line.id] = mine[:4]
    if len(codes) > MAX_DIAGNOSES:
        raise errors.InvalidClaim(
            f"The lines carry {len(codes)} diagnosis codes; a claim holds at most "
            f"{MAX_DIAGNOSES}: split the lines into two claims",
            count=len(codes),
        )
    return codes, pointers


def _coverage(
    session: Session, patient_id: uuid.UUID, coverage_id: uuid.UUID | None, day: dt.date
) -> tuple[Coverage, str]:
    """The coverage billed and its order on the date of service (primary by default)."""
    if coverage_id is None:
        found = coverages_service.coverage_on(session, patient_id, day, 1)
        if found is None:
            raise errors.NoCoverage(
                f"The patient has no primary coverage on {day.isoformat()}",
                service_date=day.isoformat(),
            )
        return found.coverage, "primary"
    coverage = InsuranceRepository(session).get_coverage(coverage_id)
    if coverage is None or coverage.patient_id != patient_id:
        raise errors.NoCoverage("The coverage is not one of this patient's")
    for v in coverages_service.all_coverages(session, patient_id):
        if v.coverage.id == coverage.id:
            priority = v.priority_on(day)
            if priority is None:
                raise errors.NoCoverage(
                    f"The coverage is not in force on {day.isoformat()}",
                    service_date=day.isoformat(),
                )
            if priority not in SEQUENCES:
                raise errors.NoCoverage("Only the first three coverages are billed")
            return coverage, SEQUENCES[priority]
    raise errors.NoCoverage("The coverage is not one of this patient's")


def _prior_authorization(session: Session, lines: Sequence[InvoiceLine]) -> str | None:
    """The payer's authorisation number the lines drew units from (REF*G1), if any."""
    repo = AuthorizationRepository(session)
    for line in lines:
        usage = repo.usage_by_ref(f"invoice_line:{line.id}")
        if usage is None or usage.status != "consumed" or usage.authorization_id is None:
            continue
        auth = session.get(Authorization, usage.authorization_id)
        if auth is not None and auth.number:
            return auth.number
    return None


def line_allowed_minor(
    session: Session,
    plan_id: uuid.UUID,
    procedure: str,
    modifiers: Sequence[str],
    day: dt.date,
    units: int,
) -> int | None:
    """The plan's contracted amount for a line (fee-schedule rate x units), None without one."""
    allowed = insurance_service.allowed_on(
        session, plan_id, procedure, modifiers[0] if modifiers else None, day
    )
    return allowed.row.allowed_minor * units if allowed is not None else None


def copy_claim(
    session: Session,
    actor: Principal,
    original: Claim,
    *,
    reason: str,
    detail: dict[str, str],
    coverage: Coverage | None = None,
    sequence: str | None = None,
    frequency: str = "1",
    primary_claim_id: uuid.UUID | None = None,
    replaces_claim_id: uuid.UUID | None = None,
    prior_authorization: str | None = None,
) -> ClaimView:
    """A new draft claim with ``original``'s charges: its own number and CLM01, the lines
    copied (new line control numbers). With ``coverage`` (a secondary claim) it bills that
    coverage and its expected allowed amounts come from that plan; otherwise (a replacement or
    void claim) the same coverage and amounts. The caller has done its checks and locks."""
    repo = ClaimRepository(session)
    number = repo.take_claim_number(original.practice_id)
    target = coverage
    claim = Claim(
        practice_id=original.practice_id,
        patient_id=original.patient_id,
        invoice_id=original.invoice_id,
        coverage_id=target.id if target else original.coverage_id,
        payer_id=target.payer_id if target else original.payer_id,
        plan_id=target.plan_id if target else original.plan_id,
        number=number,
        control_number=f"RC{number:08d}",
        sequence=sequence or original.sequence,
        frequency_code=frequency,
        primary_claim_id=primary_claim_id,
        replaces_claim_id=replaces_claim_id,
        status="draft",
        place_of_service=original.place_of_service,
        rendering_provider_id=original.rendering_provider_id,
        referring_provider_id=original.referring_provider_id,
        prior_authorization=prior_authorization,
        diagnosis_codes=list(original.diagnosis_codes),
        service_date_from=original.service_date_from,
        service_date_to=original.service_date_to,
        currency=original.currency,
        charge_minor=original.charge_minor,
        expected_allowed_minor=original.expected_allowed_minor,
        created_by=actor.user_id,
    )
    session.add(claim)
    session.flush()
    lines: list[ClaimLine] = []
    expected: int | None = 0
    for ln in repo.lines_of([original.id])[original.id]:
        allowed = (
            line_allowed_minor(
                session, target.plan_id, ln.procedure, ln.modifiers, ln.service_date, ln.units
            )
            if target is not None
            else ln.expected_allowed_minor
        )
        expected = None if expected is None or allowed is None else expected + allowed
        lines.append(
            ClaimLine(
                claim_id=claim.id,
                position=ln.position,
                invoice_line_id=ln.invoice_line_id,
                procedure=ln.procedure,
                modifiers=list(ln.modifiers),
                units=ln.units,
                charge_minor=ln.charge_minor,
                diagnosis_pointers=list(ln.diagnosis_pointers),
                service_date=ln.service_date,
                expected_allowed_minor=allowed,
                line_control_number=f"C{number}L{ln.position}",
            )
        )
    if target is not None:
        claim.expected_allowed_minor = expected
    session.add_all(lines)
    session.add(
        ClaimEvent(
            claim_id=claim.id,
            kind="created",
            from_status=None,
            to_status="draft",
            actor_user_id=actor.user_id,
            actor_kind="user" if actor.user_id else "system",
            reason=reason,
            detail={"invoice_id": str(claim.invoice_id), "sequence": claim.sequence, **detail},
            at=utcnow(),
        )
    )
    return ClaimView(claim, lines)


def _refuse_credited(session: Session, invoice: Invoice) -> None:
    """A primary claim bills the lines' full charges and the payer's 835 clears all of them
    (paid, contractual, patient responsibility): a credit note given before would leave the
    invoice below zero whenever the patient's share is smaller than the credit. Bill first,
    then give the courtesy credit against what the patient owes."""
    credited = sum(
        a.amount_minor
        for a in InvoiceRepository(session).adjustments(invoice.id)
        if a.kind == "credit_note"
    )
    if credited:
        raise errors.InvoiceNotBillable(
            f"Invoice {invoice.display_number} has credit notes of "
            f"{Money(credited, invoice.currency).format()}: a claim bills the full charges, "
            "so bill the payer before crediting the patient (or bill the lines by hand)",
            invoice_status=invoice.status,
            credited=Money(credited, invoice.currency).format(),
        )


def create_claim(session: Session, actor: Principal, data: ClaimCreate) -> ClaimView:
    """Build a draft claim from an issued invoice's charges for one of the patient's coverages
    (the primary on the first date of service unless ``coverage_id`` says otherwise)."""
    invoice = invoices_service.access_invoice(
        session, actor, data.invoice_id, Action.CLAIM_WRITE, for_update=True
    )
    if invoice.status in ("draft", "void"):
        raise errors.InvoiceNotBillable(
            f"A {invoice.status} invoice cannot be billed to a payer",
            invoice_status=invoice.status,
        )
    lines = _pick_lines(invoice, data.invoice_line_ids)
    first_day = min(ln.date_of_service for ln in lines)
    last_day = max(ln.date_of_service for ln in lines)
    coverage, sequence = _coverage(session, invoice.patient_id, data.coverage_id, first_day)
    if sequence == "primary":
        _refuse_credited(session, invoice)
    repo = ClaimRepository(session)
    taken = repo.live_claimed_lines([ln.id for ln in lines], sequence)
    if taken:
        line_id, other = next(iter(taken.items()))
        raise errors.LineAlreadyClaimed(
            f"Line {line_id} is already on {sequence} claim {other.control_number} "
            f"({other.status}); correct or void that claim instead",
            claim_id=str(other.id),
        )
    plan = InsuranceRepository(session).get_plan(coverage.plan_id)
    assert plan is not None
    codes, pointers = _diagnoses(lines)
    rendering = data.rendering_provider_id or next(
        (ln.provider_id for ln in lines if ln.provider_id is not None), None
    )
    number = repo.take_claim_number(invoice.practice_id)
    claim = Claim(
        practice_id=invoice.practice_id,
        patient_id=invoice.patient_id,
        invoice_id=invoice.id,
        coverage_id=coverage.id,
        payer_id=coverage.payer_id,
        plan_id=coverage.plan_id,
        number=number,
        control_number=f"RC{number:08d}",
        sequence=sequence,
        frequency_code="1",
        status="draft",
        place_of_service=data.place_of_service,
        rendering_provider_id=rendering,
        referring_provider_id=data.referring_provider_id,
        prior_authorization=data.prior_authorization or _prior_authorization(session, lines),
        diagnosis_codes=codes,
        service_date_from=first_day,
        service_date_to=last_day,
        currency=invoice.currency,
        charge_minor=sum(line_charge_minor(ln) for ln in lines),
        created_by=actor.user_id,
    )
    session.add(claim)
    session.flush()
    claim_lines = []
    expected: int | None = 0
    for pos, line in enumerate(lines, start=1):
        line_allowed = line_allowed_minor(
            session,
            plan.id,
            line.service_code,
            line.modifiers,
            line.date_of_service,
            line.units,
        )
        expected = None if expected is None or line_allowed is None else expected + line_allowed
        claim_lines.append(
            ClaimLine(
                claim_id=claim.id,
                position=pos,
                invoice_line_id=line.id,
                procedure=line.service_code,
                modifiers=list(line.modifiers),
                units=line.units,
                charge_minor=line_charge_minor(line),
                diagnosis_pointers=pointers[line.id],
                service_date=line.date_of_service,
                expected_allowed_minor=line_allowed,
                line_control_number=f"C{claim.number}L{pos}",
            )
        )
    claim.expected_allowed_minor = expected
    session.add_all(claim_lines)
    session.add(
        ClaimEvent(
            claim_id=claim.id,
            kind="created",
            from_status=None,
            to_status="draft",
            actor_user_id=actor.user_id,
            actor_kind="user" if actor.user_id else "system",
            reason=None,
            detail={"invoice_id": str(invoice.id), "sequence": sequence},
            at=utcnow(),
        )
    )
    audit.record(
        session,
        actor,
        "claim.create",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
        detail={"invoice_id": str(invoice.id), "sequence": sequence, "lines": len(lines)},
    )
    session.flush()
    return ClaimView(claim, claim_lines)


def get_claim(session: Session, actor: Principal, claim_id: uuid.UUID) -> ClaimView:
    claim = access_claim(session, actor, claim_id)
    audit.record_read(
        session,
        actor,
        "claim:read",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
    )
    return view(session, claim)


def claim_events(session: Session, actor: Principal, claim_id: uuid.UUID) -> list[ClaimEvent]:
    claim = access_claim(session, actor, claim_id)
    audit.record_read(
        session,
        actor,
        "claim:history",
        object_type="claim",
        object_id=claim.id,
        practice_id=claim.practice_id,
    )
    return ClaimRepository(session).events_of(claim.id)


def list_claims(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    status: str | None = None,
    payer_id: uuid.UUID | None = None,
    invoice_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ClaimView]:
    actor.require(Action.CLAIM_READ)
    limit = min(limit, MAX_LIMIT)
    repo = ClaimRepository(session)
    rows = repo.search(
        practice_ids=actor.practice_ids,
        patient_ids=actor.patient_ids if actor.is_patient else None,
        practice_id=practice_id,
        patient_id=patient_id,
        statuses=None if status is None else [status],
        payer_id=payer_id,
        invoice_id=invoice_id,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "claim:list", ((c.practice_id, c.patient_id) for c in page.items)
    )
    lines = repo.lines_of([c.id for c in page.items])
    return Page([ClaimView(c, lines[c.id]) for c in page.items], page.next_cursor)


def transition_claim(
    session: Session,
    actor: Principal,
    claim_id: uuid.UUID,
    to_status: str,
    *,
    reason: str,
) -> ClaimView:
    """A person moves a claim by hand: close it, hold/release it, void a never-sent one, reopen
    a rejected one for correction. The payer-driven moves (accepted, rejected, adjudicated,
    denied) come from acknowledgement and remittance files, not from here."""
    if to_status not in MANUAL_TARGETS:
        raise errors.IllegalClaimTransition(
            f"A claim cannot be moved to {to_status} by hand",
            target=to_status,
        )
    claim = access_claim(session, actor, claim_id, Action.CLAIM_WRITE, for_update=True)
    if to_status == "void" and claim.billed_entry_id is not None:
        raise errors.IllegalClaimTransition(
            "The payer has this claim: send a void claim (frequency 8) instead",
            current=claim.status,
        )
    states.transition(session, claim, to_status, actor=actor, actor_kind="user", reason=reason)
    session.flush()
    return view(session, claim)


MANUAL_TARGETS = frozenset({"draft", "held", "void", "closed"})


# -- ledger --------------------------------------------------------------------------------------
def bill_to_payer(
    session: Session,
    claim: Claim,
    actor: Principal,
    *,
    post: Callable[[ledger.EntrySpec], uuid.UUID] | None = None,
) -> uuid.UUID | None:
    """Move the claim's charge from patient to insurance receivables on its invoice (once, at
    the first submission; the caller holds the claim's lock). ``post`` writes the entry
    (default ``ledger.post_entry`` now; a remittance set gathers its entries and writes them
    together, docs/remittance-posting.md "Throughput"). Up-front patient payments on the
    invoice are left where they are: the patient's part of the invoice may go below zero until
    the payer's answer moves the patient responsibility back (docs/claims.md, "Ledger").

    A secondary (or tertiary) claim bills only what the patient still owes on the invoice after
    the payers before it (their patient responsibility, less what the patient has paid since):
    the rest of the charge was settled by them. Nothing owed: nothing is billed."""
    if claim.billed_entry_id is not None:
        return None
    minor = claim.charge_minor
    if claim.sequence != "primary":
        owed = LedgerRepository(session).invoice_account_balance(
            claim.invoice_id, AccountCode.PATIENT_AR
        )
        minor = min(minor, max(owed, 0))
        if minor == 0:
            return None
    amount = Money(minor, claim.currency)
    entry_id = (post or partial(ledger.post_entry, session))(
        ledger.EntrySpec(
            practice_id=claim.practice_id,
            kind=EntryKind.CLAIM_BILL.value,
            legs=[
                ledger.debit(
                    AccountCode.INSURANCE_AR,
                    amount,
                    patient_id=claim.patient_id,
                    invoice_id=claim.invoice_id,
                ),
                ledger.credit(
                    AccountCode.PATIENT_AR,
                    amount,
                    patient_id=claim.patient_id,
                    invoice_id=claim.invoice_id,
                ),
            ],
            effective_date=utcnow().date(),
            memo=f"claim {claim.control_number} billed",
            created_by=actor.user_id,
            source_type="claim",
            source_id=claim.id,
            id=uuid7(),
        ),
    )
    claim.billed_entry_id = entry_id
    return entry_id


def billed_minor(session: Session, claim: Claim) -> int:
    """What the claim moved to insurance receivables when it was billed (0 when never billed)."""
    if claim.billed_entry_id is None:
        return 0
    return sum(
        p.amount_minor
        for p in LedgerRepository(session).postings_of(claim.billed_entry_id)
        if p.amount_minor > 0
    )
