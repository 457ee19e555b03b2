"""Claims (database rows) to the pure 837P dataclasses of :mod:`revcycle.x12.claim837`
(docs/claim-submission.md, "Mapping").

Pure apart from reading the rows a claim points to (practice, payer, plan, coverage, patient,
providers, the claim a replacement/void replaces) through the caller's session; PHI columns come
back decrypted by their column types. Nothing is written. A claim that cannot be mapped (a
dependant's coverage without the subscriber's name, a replacement whose original has no payer
claim number...) raises :class:`~revcycle.x12.claim837.ClaimBuildError` naming the claim, like
the 837P checks themselves, so the submission puts it back to draft with the reason.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.claims.cob_models import ClaimCob
from revcycle.claims.models import Claim, ClaimEvent, ClaimLine
from revcycle.config import Settings
from revcycle.insurance.models import Coverage, InsurancePlan
from revcycle.insurance.models import Payer as PayerRow
from revcycle.patients.models import Patient as PatientRow
from revcycle.practices.models import Practice
from revcycle.practices.models import Provider as ProviderRow
from revcycle.x12 import claim837 as x

RESPONSIBILITY = {"primary": "P", "secondary": "S", "tertiary": "T"}
# SBR09 claim filing indicator from the plan's product type (CI commercial otherwise).
FILING_CODES = {
    "ppo": "12",
    "pos": "13",
    "epo": "14",
    "hmo": "HM",
    "medicare": "MB",
    "medicaid": "MC",
}
MAX_CLAIMS_PER_GROUP = 100


def _digits(value: str | None) -> str:
    return "".join(c for c in (value or "") if c in "0123456789")


def _upper(value: str, width: int = 60) -> str:
    return value.strip().upper()[:width]


def _address(
    line1: str | None,
    line2: str | None,
    city: str | None,
    state: str | None,
    postal: str | None,
) -> x.Address | None:
    """An address when its parts are all there (else the 837P omits it)."""
    zip_digits = _digits(postal)
    if not (line1 and city and state and len(zip_digits) in (5, 9)):
        return None
    return x.Address(_upper(line1, 55), _upper(city, 30), state.upper(), zip_digits, line2 or None)


def billing_provider(practice: Practice) -> x.BillingProvider:
    return x.BillingProvider(
        x.Party(_upper(practice.name)),
        npi=practice.npi,
        tax_id=_digits(practice.tin),
        address=x.Address(
            _upper(practice.address_line1, 55),
            _upper(practice.city, 30),
            practice.state.upper(),
            _digits(practice.postal_code),
            practice.address_line2 or None,
        ),
        taxonomy=practice.taxonomy or None,
    )


def submitter(practice: Practice, settings: Settings) -> x.Submitter:
    return x.Submitter(
        x.Party(_upper(practice.name)),
        settings.submitter_id,
        settings.submitter_contact_name,
        _digits(practice.phone) or settings.submitter_phone,
    )


def receiver(settings: Settings) -> x.Receiver:
    return x.Receiver(settings.claims_receiver_name, settings.claims_receiver_id)


def payer(row: PayerRow) -> x.Payer:
    return x.Payer(
        _upper(row.name),
        row.edi_payer_id,
        _address(
            row.claims_address_line1,
            row.claims_address_line2,
            row.claims_city,
            row.claims_state,
            row.claims_postal_code,
        ),
    )


def _gender(sex: str | None) -> str:
    return sex if sex in ("F", "M") else "U"


def _person(p: PatientRow) -> x.Person:
    return x.Person(
        last_name=_upper(p.last_name),
        first_name=_upper(p.first_name, 35),
        birth_date=p.date_of_birth,
        gender=_gender(p.sex),
        address=_address(p.address_line1, p.address_line2, p.city, p.state, p.postal_code),
    )


def _provider(row: ProviderRow | None) -> x.Provider | None:
    if row is None:
        return None
    return x.Provider(_upper(row.last_name), _upper(row.first_name, 35), row.npi, row.taxonomy)


@dataclass(frozen=True)
class GroupKey:
    payer_id: uuid.UUID
    coverage_id: uuid.UUID
    patient_id: uuid.UUID


def subscriber_and_patient(session: Session, claim: Claim) -> tuple[x.Subscriber, x.Patient | None]:
    """Loop 2000B (and 2000C when the patient is not the subscriber), decrypted."""
    coverage = session.get(Coverage, claim.coverage_id)
    patient = session.get(PatientRow, claim.patient_id)
    plan = session.get(InsurancePlan, claim.plan_id)
    assert coverage is not None and patient is not None and plan is not None
    filing = FILING_CODES.get(plan.product_type, "CI")
    responsibility = RESPONSIBILITY[claim.sequence]
    me = _person(patient)
    if coverage.relationship == "18":
        return (
            x.Subscriber(me, coverage.member_id, responsibility, filing, coverage.group_number),
            None,
        )
    holder = (
        session.get(PatientRow, coverage.subscriber_patient_id)
        if coverage.subscriber_patient_id is not None
        else None
    )
    if holder is not None:
        sub_person = _person(holder)
    else:
        if not (coverage.subscriber_last_name and coverage.subscriber_first_name):
            raise x.ClaimBuildError(
                claim.control_number,
                "subscriber",
                "the coverage names no subscriber (the patient is not the subscriber)",
            )
        sub_person = x.Person(
            last_name=_upper(coverage.subscriber_last_name),
            first_name=_upper(coverage.subscriber_first_name, 35),
            # Not written: the subscriber's DMG is sent only when the subscriber is the patient.
            birth_date=coverage.subscriber_date_of_birth or patient.date_of_birth,
            gender="U",
        )
    relationship = (
        coverage.relationship if coverage.relationship in x.PATIENT_RELATIONSHIPS else "G8"
    )
    return (
        x.Subscriber(sub_person, coverage.member_id, responsibility, filing, coverage.group_number),
        x.Patient(me, relationship),
    )


def _adjustments(items: object) -> tuple[x.Adjustment, ...]:
    out = []
    for a in items if isinstance(items, list) else []:
        amount = int(a["amount_minor"])
        if amount:
            out.append(x.Adjustment(str(a["group"]), str(a["reason"]), amount))
    return tuple(out)


def prior_adjudication(session: Session, claim: Claim) -> dict[str, Any] | None:
    """The prior payer's answer a secondary/tertiary claim was billed after: the adjudication
    saved on its ``claim_cob`` row when it was built, or, for one made by hand, the primary
    claim's latest 835 answer (``adjudicated`` or ``denied`` transition); None without either."""
    if claim.primary_claim_id is None:
        return None
    saved = session.scalar(
        select(ClaimCob.prior_adjudication).where(
            ClaimCob.secondary_claim_id == claim.id,
            ClaimCob.primary_claim_id == claim.primary_claim_id,
        )
    )
    if saved is not None:
        return dict(saved)
    event = session.scalar(
        select(ClaimEvent)
        .where(
            ClaimEvent.claim_id == claim.primary_claim_id,
            ClaimEvent.kind == "transition",
            ClaimEvent.to_status.in_(("adjudicated", "denied")),
        )
        .order_by(ClaimEvent.at.desc(), ClaimEvent.id.desc())
        .limit(1)
    )
    return dict(event.detail or {}) if event is not None else None


def _primary_adjudication(
    session: Session, claim: Claim
) -> tuple[Claim, dict[str, Any], x.OtherPayer]:
    """The prior payer's answer for a secondary/tertiary claim (loops 2320/2330): the
    adjudication the secondary claim was built from (saved on its ``claim_cob`` row, so the 837
    always agrees with what the secondary bills), or, for a secondary made by hand without one,
    the primary claim's latest 835 event (docs/claims.md, "Event details other parts rely on")."""
    cid = claim.control_number
    primary = (
        session.get(Claim, claim.primary_claim_id) if claim.primary_claim_id is not None else None
    )
    if primary is None:
        raise x.ClaimBuildError(
            cid, "other_payers", "a secondary claim needs its primary claim (primary_claim_id)"
        )
    d = prior_adjudication(session, claim)
    if d is None:
        raise x.ClaimBuildError(
            cid, "other_payers", "the primary payer has not adjudicated the primary claim yet"
        )
    coverage = session.get(Coverage, primary.coverage_id)
    payer_row = session.get(PayerRow, primary.payer_id)
    plan = session.get(InsurancePlan, primary.plan_id)
    assert coverage is not None and payer_row is not None and plan is not None
    sub, pat = subscriber_and_patient(session, primary)
    try:
        adjudicated_on = dt.date.fromisoformat(str(d["adjudicated_on"]))
        paid = int(d["paid_minor"])
        other = x.OtherPayer(
            responsibility=RESPONSIBILITY[primary.sequence],
            relationship="18" if pat is None else pat.relationship,
            filing_code=FILING_CODES.get(plan.product_type, "CI"),
            subscriber=x.Party(sub.person.last_name, sub.person.first_name),
            member_id=coverage.member_id,
            payer=x.Payer(_upper(payer_row.name), payer_row.edi_payer_id),
            paid_minor=paid,
            adjudicated_on=adjudicated_on,
            claim_number=primary.payer_claim_number or d.get("payer_claim_number") or None,
            adjustments=_adjustments(d.get("adjustments")),
            remaining_patient_liability_minor=d.get("patient_responsibility_minor"),
            group_number=coverage.group_number,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise x.ClaimBuildError(
            cid, "other_payers", f"the primary claim's adjudication is incomplete ({exc})"
        ) from None
    return primary, d, other


def _line_payments(
    session: Session,
    primary: Claim,
    detail: dict[str, Any],
    other: x.OtherPayer,
    line: ClaimLine,
) -> tuple[x.LineAdjudication, ...]:
    """The prior payer's answer for this line (loop 2430): the primary claim's line for the same
    invoice line, found in the 835 detail by its line control number."""
    mine = session.scalar(
        select(ClaimLine).where(
            ClaimLine.claim_id == primary.id, ClaimLine.invoice_line_id == line.invoice_line_id
        )
    )
    if mine is None or other.adjudicated_on is None:
        return ()
    for ln in detail.get("lines") or []:
        if ln.get("line_control_number") == mine.line_control_number:
            return (
                x.LineAdjudication(
                    payer_id=other.payer.payer_id,
                    paid_minor=int(ln["paid_minor"]),
                    procedure=str(ln.get("procedure") or line.procedure),
                    modifiers=tuple(ln.get("modifiers") or ()),
                    units=Decimal(str(ln.get("units") or line.units)),
                    adjudicated_on=other.adjudicated_on,
                    adjustments=_adjustments(ln.get("adjustments")),
                ),
            )
    return ()


def claim_of(
    session: Session,
    claim: Claim,
    lines: Sequence[ClaimLine],
    billing_npi: str,
) -> x.Claim:
    """Loop 2300 with its 2400 lines (and, on a secondary/tertiary claim, the primary payer's
    adjudication in 2320/2330/2430)."""
    cob: tuple[Claim, dict[str, Any], x.OtherPayer] | None = None
    if claim.sequence != "primary":
        cob = _primary_adjudication(session, claim)
    original: str | None = None
    if claim.frequency_code in ("7", "8"):
        replaced = (
            session.get(Claim, claim.replaces_claim_id)
            if claim.replaces_claim_id is not None
            else None
        )
        original = replaced.payer_claim_number if replaced is not None else None
        if not original:
            raise x.ClaimBuildError(
                claim.control_number,
                "original_claim_number",
                "the replaced claim has no payer claim number (REF*F8)",
            )
    rendering = _provider(
        session.get(ProviderRow, claim.rendering_provider_id)
        if claim.rendering_provider_id is not None
        else None
    )
    if rendering is not None and rendering.npi == billing_npi:
        rendering = None  # 2310B only when it differs from the billing provider
    referring = _provider(
        session.get(ProviderRow, claim.referring_provider_id)
        if claim.referring_provider_id is not None
        else None
    )
    return x.Claim(
        claim_id=claim.control_number,
        charge_minor=claim.charge_minor,
        place_of_service=claim.place_of_service,
        diagnoses=tuple(claim.diagnosis_codes),
        lines=tuple(
            x.ServiceLine(
                procedure=ln.procedure,
                charge_minor=ln.charge_minor,
                units=Decimal(ln.units),
                service_date=ln.service_date,
                diagnosis_pointers=tuple(ln.diagnosis_pointers),
                line_control_number=ln.line_control_number,
                modifiers=tuple(ln.modifiers),
                prior_payments=_line_payments(session, *cob, ln) if cob else (),
            )
            for ln in lines
        ),
        frequency=claim.frequency_code,
        original_claim_number=original,
        prior_authorization=claim.prior_authorization or None,
        referring=referring,
        rendering=rendering,
        other_payers=(cob[2],) if cob else (),
    )


@dataclass(frozen=True)
class Mapped837:
    """One claim in 837P form with where it goes (its payer and subscriber loop)."""

    claim_db_id: uuid.UUID
    key: GroupKey
    payer: x.Payer
    subscriber: x.Subscriber
    patient: x.Patient | None
    claim: x.Claim


def map_claim(
    session: Session, claim: Claim, lines: Sequence[ClaimLine], billing_npi: str
) -> Mapped837:
    payer_row = session.get(PayerRow, claim.payer_id)
    assert payer_row is not None
    sub, pat = subscriber_and_patient(session, claim)
    return Mapped837(
        claim.id,
        GroupKey(claim.payer_id, claim.coverage_id, claim.patient_id),
        payer(payer_row),
        sub,
        pat,
        claim_of(session, claim, lines, billing_npi),
    )


def transactions(mapped: Sequence[Mapped837], batch_reference: str) -> tuple[x.Transaction837, ...]:
    """One transaction set per payer (ST02 0001, 0002... in first-seen order), one subscriber
    loop per (coverage, patient) inside it (at most 100 claims each). Every set carries the
    batch's BHT03 (the 277CA echoes it at the receiver level)."""
    by_payer: dict[uuid.UUID, dict[GroupKey, list[Mapped837]]] = {}
    for m in mapped:
        by_payer.setdefault(m.key.payer_id, {}).setdefault(m.key, []).append(m)
    out: list[x.Transaction837] = []
    for n, groups in enumerate(by_payer.values(), start=1):
        loops: list[x.SubscriberGroup] = []
        for members in groups.values():
            first = members[0]
            for i in range(0, len(members), MAX_CLAIMS_PER_GROUP):
                chunk = members[i : i + MAX_CLAIMS_PER_GROUP]
                loops.append(
                    x.SubscriberGroup(
                        first.subscriber,
                        first.payer,
                        tuple(m.claim for m in chunk),
                        first.patient,
                    )
                )
        out.append(x.Transaction837(f"{n:04d}", batch_reference, tuple(loops)))
    return tuple(out)


def single_claim_batch(
    m: Mapped837,
    bp: x.BillingProvider,
    sub: x.Submitter,
    rec: x.Receiver,
    when: dt.datetime,
) -> x.Batch:
    """A batch of this claim alone: checking it names the claim a subscriber-loop problem
    (gender, relationship, filing code) belongs to."""
    return x.Batch(
        sub,
        rec,
        bp,
        (
            x.Transaction837(
                "0001", "CHECK", (x.SubscriberGroup(m.subscriber, m.payer, (m.claim,), m.patient),)
            ),
        ),
        when,
    )
