"""Import charges from an integration (an EHR's FHIR ChargeItems) as invoices (docs/charges.md).

One request, one transaction: everything is checked first (patients, providers, currency, an
earlier import of the same charge with other content), then each new charge's key row is
claimed in ``charge_imports`` (in key order, so two overlapping imports cannot deadlock), then
the new charges of each (patient, encounter) become one invoice through the invoice service
(charge master, discounts, audit, the ledger when issued: nothing here bypasses it), and when
asked the invoice is issued and a draft claim built for the patient's coverage.

A charge sent again (a retry, the whole encounter re-sent) is answered with the invoice line it
became and creates nothing. Concurrent imports of one charge: the database's unique key makes
the second wait for the first and then find the charge taken (tested on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.charges import errors
from revcycle.charges.fhir import ChargeIn
from revcycle.charges.models import ChargeImport
from revcycle.claims import service as claims_service
from revcycle.claims.schemas import ClaimCreate
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import InvoiceCreate, InvoiceLineIn
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.upsert import insert_ignore_returning
from revcycle.patients import service as patients_service
from revcycle.patients.repository import PatientRepository
from revcycle.practices.models import Practice, Provider

MAX_LINES_PER_INVOICE = 100  # the invoice API's own limit


@dataclass(frozen=True)
class ChargeOutcome:
    source_system: str
    source_id: str
    invoice_id: uuid.UUID
    line_position: int
    created: bool  # False: imported before (nothing new was written for it)


@dataclass(frozen=True)
class InvoiceOutcome:
    invoice: Invoice
    encounter: str | None
    charges: int
    claim_id: uuid.UUID | None = None
    claim_error: tuple[str, str] | None = None  # (code, message) when a claim was asked for


@dataclass
class ImportResult:
    charges: list[ChargeOutcome] = field(default_factory=list)
    invoices: list[InvoiceOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class _Resolved:
    item: ChargeIn
    patient_id: uuid.UUID
    line: InvoiceLineIn


def check_can_import(actor: Principal, practice_id: uuid.UUID, *, issue: bool, claim: bool) -> None:
    actor.require(Action.INVOICE_WRITE)
    if issue or claim:
        actor.require(Action.INVOICE_ISSUE)
    if claim:
        actor.require(Action.CLAIM_WRITE)
    actor.check_practice(practice_id)


def import_charges(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    items: Sequence[ChargeIn],
    *,
    issue: bool = False,
    claim: bool = False,
) -> ImportResult:
    """Import ``items`` (parsed by :func:`revcycle.charges.fhir.parse`) for ``practice_id``:
    new charges become invoices (issued when ``issue``; ``claim`` also issues and builds a draft
    claim), charges imported before are answered with their invoice line."""
    check_can_import(actor, practice_id, issue=issue, claim=claim)
    practice = invoices_service.practice_of(session, practice_id)
    earlier = _earlier(session, practice_id, items)
    resolved = [_resolve(session, actor, practice, it) for it in items if _key(it) not in earlier]
    # A SAVEPOINT: a refusal met while writing (the invoice service's own checks, a charge
    # changed by a concurrent import) leaves nothing behind, even in a caller's longer session.
    with session.begin_nested():
        result, by_key = _write(session, actor, practice_id, items, earlier, resolved, issue, claim)
    result.charges = [by_key[_key(it)] for it in items]
    audit.record(
        session,
        actor,
        "charges:import",
        object_type="practice",
        object_id=practice_id,
        practice_id=practice_id,
        detail={
            "received": len(items),
            "created": sum(1 for c in result.charges if c.created),
            "invoices": len(result.invoices),
        },
    )
    return result


def _write(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    items: Sequence[ChargeIn],
    earlier: dict[tuple[str, str], ChargeImport],
    resolved: Sequence[_Resolved],
    issue: bool,
    claim: bool,
) -> tuple[ImportResult, dict[tuple[str, str], ChargeOutcome]]:
    """Claim the new charges' keys, then make one invoice per (patient, encounter)."""
    claimed = _claim_keys(session, actor, practice_id, resolved)
    # Rows another import committed while we waited are answered like any earlier import.
    if len(claimed) != len(resolved):
        earlier = _earlier(session, practice_id, items)
    result = ImportResult()
    by_key: dict[tuple[str, str], ChargeOutcome] = {}
    for key, row in earlier.items():
        assert row.invoice_id is not None and row.line_position is not None
        by_key[key] = ChargeOutcome(key[0], key[1], row.invoice_id, row.line_position, False)
    groups: dict[tuple[uuid.UUID, str | None], list[_Resolved]] = {}
    for r in resolved:
        if _key(r.item) in claimed:
            groups.setdefault((r.patient_id, r.item.encounter), []).append(r)
    for (patient_id, encounter), members in groups.items():
        for start in range(0, len(members), MAX_LINES_PER_INVOICE):
            chunk = members[start : start + MAX_LINES_PER_INVOICE]
            outcome = _invoice(session, actor, patient_id, encounter, chunk, issue or claim)
            for position, r in enumerate(chunk, start=1):
                row = claimed[_key(r.item)]
                row.invoice_id, row.line_position = outcome.invoice.id, position
                by_key[_key(r.item)] = ChargeOutcome(
                    *_key(r.item), outcome.invoice.id, position, True
                )
            if claim:
                outcome = _with_claim(session, actor, outcome)
            result.invoices.append(outcome)
    session.flush()
    return result, by_key


def _key(item: ChargeIn) -> tuple[str, str]:
    return item.source_system, item.source_id


def _earlier(
    session: Session, practice_id: uuid.UUID, items: Sequence[ChargeIn]
) -> dict[tuple[str, str], ChargeImport]:
    """Charges of ``items`` imported before (committed); the same key with other content is
    refused: a changed charge must be voided and sent again under a new identifier."""
    session.flush()
    wanted = {_key(it): it for it in items}
    found: dict[tuple[str, str], ChargeImport] = {}
    ids = sorted({it.source_id for it in items})
    for row in session.scalars(
        select(ChargeImport).where(
            ChargeImport.practice_id == practice_id,
            ChargeImport.source_id.in_(ids),
            ChargeImport.invoice_id.is_not(None),
        )
    ):
        key = (row.source_system, row.source_id)
        item = wanted.get(key)
        if item is None:
            continue
        if row.digest != item.digest:
            raise errors.ChargeChanged(
                f"ChargeItem[{item.index}] ({key[0]}|{key[1]}) was imported before with other "
                "content: void that invoice line and send the corrected charge under a new "
                "identifier",
                item=item.index,
                invoice_id=str(row.invoice_id),
            )
        found[key] = row
    return found


def _resolve(session: Session, actor: Principal, practice: Practice, item: ChargeIn) -> _Resolved:
    ref = item.patient
    if ref.patient_id is not None:
        patient = PatientRepository(session).get(ref.patient_id)
    else:
        assert ref.account_number is not None
        patient = PatientRepository(session).by_account_number(practice.id, ref.account_number)
    if patient is None or patient.practice_id != practice.id:
        raise errors.UnknownPatient(
            f"ChargeItem[{item.index}]: the subject is not a patient of this practice",
            item=item.index,
        )
    patients_service.access_patient(session, actor, patient.id, Action.INVOICE_WRITE)
    if item.currency is not None and item.currency != practice.currency:
        raise errors.WrongCurrency(
            f"ChargeItem[{item.index}]: priceOverride is in {item.currency}; this practice bills "
            f"in {practice.currency}",
            item=item.index,
        )
    provider_id = item.provider_id
    if item.provider_npi is not None or provider_id is not None:
        cond = (
            Provider.npi == item.provider_npi
            if item.provider_npi is not None
            else Provider.id == provider_id
        )
        provider = session.scalar(select(Provider).where(Provider.practice_id == practice.id, cond))
        if provider is None:
            raise errors.UnknownProvider(
                f"ChargeItem[{item.index}]: the performer is not a provider of this practice",
                item=item.index,
            )
        provider_id = provider.id
    return _Resolved(item, patient.id, _line(item, provider_id))


def _claim_keys(
    session: Session, actor: Principal, practice_id: uuid.UUID, resolved: Sequence[_Resolved]
) -> dict[tuple[str, str], ChargeImport]:
    """Insert each new charge's key row, in key order; the rows this import owns."""
    owned: dict[tuple[str, str], ChargeImport] = {}
    now = utcnow()
    for r in sorted(resolved, key=lambda x: _key(x.item)):
        new_id = insert_ignore_returning(
            session,
            ChargeImport,
            {
                "id": uuid7(),
                "practice_id": practice_id,
                "source_system": r.item.source_system,
                "source_id": r.item.source_id,
                "digest": r.item.digest,
                "encounter": r.item.encounter,
                "created_at": now,
                "created_by": actor.user_id,
            },
            ["practice_id", "source_system", "source_id"],
        )
        if new_id is not None:
            row = session.get(ChargeImport, new_id)
            assert row is not None
            owned[_key(r.item)] = row
    return owned


def _invoice(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    encounter: str | None,
    members: Sequence[_Resolved],
    issue: bool,
) -> InvoiceOutcome:
    data = InvoiceCreate(
        patient_id=patient_id,
        memo=f"Charges of {encounter}" if encounter else "Imported charges",
        issue=issue,
        lines=[r.line for r in members],
    )
    invoice = invoices_service.create_invoice(session, actor, data)
    return InvoiceOutcome(invoice, encounter, len(members))


def _line(item: ChargeIn, provider_id: uuid.UUID | None) -> InvoiceLineIn:
    """The invoice line of a charge (the invoice API's own checks: code, modifiers, diagnoses),
    a refusal naming the ChargeItem and the field otherwise."""
    try:
        return InvoiceLineIn.model_validate(
            {
                "service_code": item.procedure,
                "modifiers": list(item.modifiers),
                "description": item.description,
                "units": item.units,
                "unit_price": item.unit_price,
                "diagnosis_codes": list(item.diagnosis_codes),
                "date_of_service": item.service_date,
                "provider_id": provider_id,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "charge"
        raise errors.InvalidCharge(
            f"ChargeItem[{item.index}]: {where}: {first['msg']}", item=item.index
        ) from None


def _with_claim(session: Session, actor: Principal, outcome: InvoiceOutcome) -> InvoiceOutcome:
    """A draft claim for the invoice, or why not (self-pay patient, no coverage on the date):
    the charges stay imported either way; the claim can be built by hand later."""
    try:
        with session.begin_nested():
            view = claims_service.create_claim(
                session, actor, ClaimCreate(invoice_id=outcome.invoice.id)
            )
    except DomainError as exc:
        return InvoiceOutcome(
            outcome.invoice, outcome.encounter, outcome.charges, None, (exc.code, exc.message)
        )
    return InvoiceOutcome(outcome.invoice, outcome.encounter, outcome.charges, view.claim.id)
