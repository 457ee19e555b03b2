"""The simulated payer's side of the batch exchange (docs/payer-simulator.md).

:func:`receive_837` runs inside the caller's transaction when an 837 file is submitted: it reads
the file with ``x12.claim837_reader``, answers it at once and stores every answer as a file
that becomes *available* later (simulated delays, default none):

* one **999** for the interchange: each set accepted, or rejected with the ``IK3``/``IK4``
  location of the first problem found (the whole file is rejected when it cannot be read);
* one **277CA** per accepted set: per claim accepted (``A1:19`` + ``A2:20``, ``REF*1K`` the new
  payer claim number) or rejected (``A3``/``A7`` with a claim status code and the entity);
* one **835** per payer and payee (billing NPI) for the accepted claims, adjudicated by the
  plan's fee schedule and benefits (``clearinghouse.adjudication``), voids and replacements
  reversing the original claim's payment (CLP02 ``22``); and a second 835, a later payment run,
  when an ``XRV`` claim's payment is reversed and re-adjudicated; and a third, when an ``XDP``
  claim is paid again by mistake.

Everything written is sealed (PHI). Control numbers and claim numbers come from row-locked
counters, so several processes can submit at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.clearinghouse import adjudication as adj
from revcycle.clearinghouse import crossover_sim
from revcycle.clearinghouse.models import (
    CHSIM_DUPLICATE_INDEX,
    CHSIM_MEMBER_INDEX,
    ChsimAccumulator,
    ChsimClaim,
    ChsimCounter,
    ChsimFile,
)
from revcycle.crypto import blind_index as bidx
from revcycle.crypto import keyring as phi_keyring
from revcycle.insurance.models import (
    MEMBER_ID_INDEX,
    Coverage,
    CoverageAccumulator,
    InsurancePlan,
    Payer,
)
from revcycle.insurance.service import allowed_on
from revcycle.kit import codes as idcodes
from revcycle.x12.claim837_reader import ClaimRead, Read837, parse_837_set
from revcycle.x12.core import InterchangeHeader, X12Error, X12Reader, _transactions
from revcycle.x12.payer_files import (
    Ack277Input,
    Cas,
    ClaimPaymentOut,
    ClaimStatus,
    ElementNote,
    GroupVerdict,
    LineStatus,
    ProviderAdjustmentOut,
    ProviderClaims,
    Remittance835,
    SegmentNote,
    ServicePayment,
    SetVerdict,
    StatusCode,
    build_277ca,
    build_835,
    build_999,
)
from revcycle.x12.writer import Envelope

SIM_ID = "CHSIM"  # ISA06/GS02 of every file the simulator writes
SIM_NAME = "REVCYCLE PAYER SIMULATOR"
ACCEPTED = (StatusCode("A1", "19", "PR"), StatusCode("A2", "20", "PR"))
# The XRJ scenario: the member is found, but the payer's front end does not match the
# subscriber's birth date (A7 rejected for invalid information, 158 entity's date of birth, IL
# subscriber); STC12 names where in the 837 the error is, as clearinghouses do.
BIRTH_DATE_MISMATCH = StatusCode(
    "A7", "158", "IL", "2010BA DMG02 SUBSCRIBER DATE OF BIRTH DOES NOT MATCH PAYER RECORDS"
)


@dataclass(frozen=True, slots=True)
class Delays:
    """Seconds after the submission at which each answer becomes available."""

    ack999: float = 0
    ack277: float = 0
    remittance: float = 0
    reversal: float = 0  # the later payment run (XRV, XDP), after the first 835

    def at(self, received: dt.datetime, seconds: float) -> dt.datetime:
        return received + dt.timedelta(seconds=seconds)


# -- counters and file rows --------------------------------------------------------------------
def next_number(session: Session, name: str) -> int:
    """The next value of a named counter, under a row lock (SELECT ... FOR UPDATE)."""
    row = session.get(ChsimCounter, name, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                session.add(ChsimCounter(name=name, value=0))
                session.flush()
        except IntegrityError:
            pass
        row = session.get(ChsimCounter, name, with_for_update=True, populate_existing=True)
        assert row is not None
    row.value += 1
    session.flush()
    return row.value


def new_file(
    session: Session,
    *,
    direction: str,
    kind: str,
    name: str,
    text: str,
    available_at: dt.datetime,
    submission_id: str | None = None,
    idempotency_key: str | None = None,
    payer_id: str | None = None,
    payee_npi: str | None = None,
    forward_balance_minor: int = 0,
    file_id: str | None = None,
) -> ChsimFile:
    row = ChsimFile(
        id=file_id or f"chf_{uuid.uuid4().hex}",
        sequence=next_number(session, "file"),
        direction=direction,
        kind=kind,
        name=name,
        content=text,
        sha256=hashlib.sha256(text.encode("latin-1", "replace")).hexdigest(),
        idempotency_key=idempotency_key,
        submission_id=submission_id,
        payer_id=payer_id,
        payee_npi=payee_npi,
        forward_balance_minor=forward_balance_minor,
        available_at=available_at,
    )
    session.add(row)
    session.flush()
    return row


def _envelope(session: Session, receiver: str, now: dt.datetime) -> Envelope:
    """A fresh ISA13/GS06 pair for a file addressed to ``receiver`` (the 837's ISA06: letters,
    digits and spaces only, else ``UNKNOWN``)."""
    n = next_number(session, "isa")
    return Envelope(SIM_ID, clean_receiver(receiver), n, n, now, usage="T")


def clean_receiver(receiver: str) -> str:
    clean = receiver.strip()[:15]
    if not clean or not clean.isascii() or not all(c.isalnum() or c == " " for c in clean):
        return "UNKNOWN"
    return clean


# -- 999: reading the file -----------------------------------------------------------------------
_ELEMENT = re.compile(r"^([A-Z][A-Z0-9]{1,2})(\d{2})")
_SEGMENT_CODE = {
    "x12.misplaced_segment": "2",
    "x12.missing_segment": "3",
    "x12.bad_code": "8",
    "x12.bad_composite": "8",
    "x12.bad_amount": "8",
    "x12.bad_number": "8",
    "x12.bad_date": "8",
    "x12.missing_element": "8",
}
_ELEMENT_CODE = {
    "x12.bad_code": "7",
    "x12.bad_composite": "7",
    "x12.bad_amount": "6",
    "x12.bad_number": "6",
    "x12.bad_date": "8",
    "x12.missing_element": "1",
}
_SET_CODE = {"x12.se_count": "4", "x12.se_control": "3", "x12.missing_se": "2"}


def _set_rejection(
    exc: X12Error, st_position: int, claim_at: Callable[[int], str | None]
) -> SetVerdict:
    code = _SET_CODE.get(exc.code)
    if code is not None or exc.position is None or exc.position < st_position:
        return SetVerdict("", "R", codes=(code or "5",))
    rel = exc.position - st_position + 1
    elements: tuple[ElementNote, ...] = ()
    match = _ELEMENT.match(exc.detail)
    if match and exc.code in _ELEMENT_CODE:
        bad = re.search(r"'([^']{1,40})'", exc.detail)
        elements = (
            ElementNote(
                str(int(match.group(2))), "", _ELEMENT_CODE[exc.code], bad.group(1) if bad else None
            ),
        )
    note = SegmentNote(
        exc.segment_id or "ST",
        rel,
        _SEGMENT_CODE.get(exc.code, "8"),
        claim_id=claim_at(rel),
        elements=elements,
    )
    return SetVerdict("", "R", codes=("5",), segment_errors=(note,))


@dataclass
class _ReadResult:
    header: InterchangeHeader | None
    groups: dict[str, list[SetVerdict]]
    sets: list[Read837]
    fatal: bool


def _read(content: bytes) -> _ReadResult:
    reader = X12Reader(content)
    groups: dict[str, list[SetVerdict]] = {}
    sets: list[Read837] = []
    header: InterchangeHeader | None = None
    seen_st: dict[str, set[str]] = {}
    attached = 0  # envelope errors that belong to a set (that set alone is rejected)
    try:
        for tx in _transactions(reader):
            attached += len(tx.errors)
            header = header or tx.interchange
            gs06 = tx.group.control_number if tx.group else "0"
            st = tx.segments[0]
            clm = [(s.position - st.position + 1, s[1]) for s in tx.segments if s.id == "CLM"]

            def claim_at(rel: int, clm: list[tuple[int, str]] = clm) -> str | None:
                before = [cid for pos, cid in clm if pos <= rel]
                return before[-1] if before else None

            seen = seen_st.setdefault(gs06, set())
            if tx.control_number in seen:
                groups.setdefault(gs06, []).append(
                    SetVerdict(tx.control_number, "R", st[3] or "005010X222A1", codes=("23",))
                )
                continue
            seen.add(tx.control_number)
            try:
                parsed = parse_837_set(tx)
            except X12Error as exc:
                verdict = _set_rejection(exc, st.position, claim_at)
                groups.setdefault(gs06, []).append(
                    dataclasses.replace(
                        verdict,
                        control_number=tx.control_number,
                        implementation=st[3] or "005010X222A1",
                    )
                )
                continue
            groups.setdefault(gs06, []).append(SetVerdict(tx.control_number, "A"))
            sets.append(parsed)
    except X12Error:
        return _ReadResult(header or reader.interchange, groups, [], True)
    if len(reader.errors) > attached or not sets and not groups:
        return _ReadResult(header or reader.interchange, groups, [], True)
    return _ReadResult(header, groups, sets, False)


def _verdicts(result: _ReadResult) -> list[GroupVerdict]:
    out = []
    for gs06, sets in result.groups.items():
        if result.fatal:
            sets = [
                s if s.status == "R" else dataclasses.replace(s, status="R", codes=("5",))
                for s in sets
            ]
        out.append(
            GroupVerdict(
                gs06 if gs06.isascii() and gs06.isdigit() else "0",
                tuple(sets),
                codes=("5",) if result.fatal and not sets else (),
            )
        )
    if not out:
        out.append(GroupVerdict("0", (), received=0, codes=("1",)))
    return out


# -- the payer's view of a member ----------------------------------------------------------------
@dataclass(frozen=True)
class _Member:
    coverage: Coverage
    plan: InsurancePlan
    payer: Payer


def _member(session: Session, payer_id: str, member_id: str) -> _Member | None:
    digests = bidx.candidates(phi_keyring.installed(), MEMBER_ID_INDEX, member_id)
    rows = session.execute(
        select(Coverage, InsurancePlan, Payer)
        .join(Payer, Payer.id == Coverage.payer_id)
        .join(InsurancePlan, InsurancePlan.id == Coverage.plan_id)
        .where(Payer.edi_payer_id == payer_id, Coverage.member_id_bidx.in_(digests))
        .order_by(Coverage.effective_from.desc(), Coverage.id)
    ).all()
    return next((_Member(c, p, y) for c, p, y in rows if c.member_id == member_id), None)


def _payer_known(session: Session, payer_id: str) -> bool:
    return session.scalar(select(func.count()).where(Payer.edi_payer_id == payer_id)) != 0


def _year_start(day: dt.date, month: int) -> dt.date:
    return dt.date(day.year if day.month >= month else day.year - 1, month, 1)


def _accumulated(
    session: Session, m: _Member, year_start: dt.date, day: dt.date
) -> tuple[adj.Accumulators, ChsimAccumulator]:
    base = session.scalars(
        select(CoverageAccumulator)
        .where(
            CoverageAccumulator.coverage_id == m.coverage.id,
            CoverageAccumulator.benefit_year_start == year_start,
            CoverageAccumulator.as_of <= day,
        )
        .order_by(CoverageAccumulator.as_of.desc(), CoverageAccumulator.created_at.desc())
        .limit(1)
    ).first()
    sim = session.scalars(
        select(ChsimAccumulator)
        .where(
            ChsimAccumulator.coverage_id == m.coverage.id,
            ChsimAccumulator.benefit_year_start == year_start,
        )
        .with_for_update()
    ).first()
    if sim is None:
        try:
            with session.begin_nested():
                sim = ChsimAccumulator(
                    coverage_id=m.coverage.id,
                    benefit_year_start=year_start,
                    deductible_minor=0,
                    oop_minor=0,
                )
                session.add(sim)
                session.flush()
        except IntegrityError:
            sim = session.scalars(
                select(ChsimAccumulator)
                .where(
                    ChsimAccumulator.coverage_id == m.coverage.id,
                    ChsimAccumulator.benefit_year_start == year_start,
                )
                .with_for_update()
            ).one()
    ded = (base.deductible_met_minor if base else 0) + sim.deductible_minor
    oop = (base.oop_met_minor if base else 0) + sim.oop_minor
    fam_ded = (base.family_deductible_met_minor or 0 if base else 0) + sim.deductible_minor
    fam_oop = (base.family_oop_met_minor or 0 if base else 0) + sim.oop_minor
    return adj.Accumulators(ded, oop, fam_ded, fam_oop), sim


def _terms(m: _Member) -> adj.PlanTerms:
    p = m.plan
    return adj.PlanTerms(
        currency=p.currency,
        deductible_minor=p.deductible_minor,
        coinsurance_bp=p.coinsurance_bp,
        copays=dict(p.copays or {}),
        cost_share_order=p.cost_share_order,
        auth_required_codes=frozenset(p.auth_required_codes or ()),
        timely_filing_days=m.payer.timely_filing_days,
        coverage_from=m.coverage.effective_from,
        coverage_to=m.coverage.effective_to,
        oop_max_minor=p.oop_max_minor,
        family_deductible_minor=p.family_deductible_minor,
        family_oop_max_minor=p.family_oop_max_minor,
    )


def _allowed(
    session: Session, m: _Member, claim: ClaimRead, rate: Decimal = Decimal(1)
) -> list[int | None]:
    out: list[int | None] = []
    for ln in claim.lines:
        found = allowed_on(
            session,
            m.plan.id,
            ln.procedure,
            ln.modifiers[0] if ln.modifiers else None,
            ln.service_date or dt.date(2000, 1, 1),
        )
        if found is None:
            out.append(None)
            continue
        amount = adj.line_allowed(found.row.allowed_minor, ln.units, m.plan.currency)
        if rate != 1:
            amount = adj.line_allowed(amount, rate, m.plan.currency)
        out.append(amount)
    return out


# -- payment JSON (sealed on the claim row) --------------------------------------------------------
def _payment_json(p: ClaimPaymentOut) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, dt.date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        raise TypeError(type(o))

    return json.dumps(dataclasses.asdict(p), default=default, sort_keys=True)


def _payment_from_json(text: str) -> ClaimPaymentOut:
    d = json.loads(text)

    def day(v: str | None) -> dt.date | None:
        return dt.date.fromisoformat(v) if v else None

    lines = tuple(
        ServicePayment(
            procedure=ln["procedure"],
            modifiers=tuple(ln["modifiers"]),
            charge_minor=ln["charge_minor"],
            paid_minor=ln["paid_minor"],
            units=Decimal(ln["units"]),
            service_date=dt.date.fromisoformat(ln["service_date"]),
            line_control_number=ln["line_control_number"],
            adjustments=tuple(
                Cas(
                    a["group"],
                    a["reason"],
                    a["amount_minor"],
                    Decimal(a["quantity"]) if a["quantity"] is not None else None,
                )
                for a in ln["adjustments"]
            ),
            allowed_minor=ln["allowed_minor"],
            remarks=tuple(ln["remarks"]),
            service_date_to=day(ln["service_date_to"]),
        )
        for ln in d.pop("lines")
    )
    adjustments = tuple(
        Cas(a["group"], a["reason"], a["amount_minor"], None) for a in d.pop("adjustments")
    )
    d["received_on"] = day(d["received_on"])
    crossover = d.pop("crossover_payer", None)
    d["crossover_payer"] = (crossover[0], crossover[1]) if crossover else None
    d["remarks"] = tuple(d.pop("remarks", None) or ())
    return ClaimPaymentOut(**d, lines=lines, adjustments=adjustments)


def reversal_of(p: ClaimPaymentOut) -> ClaimPaymentOut:
    """The exact negative of a paid claim loop (CLP02 22), as the payer reverses it."""
    return dataclasses.replace(
        p,
        status_code="22",
        charge_minor=-p.charge_minor,
        paid_minor=-p.paid_minor,
        patient_responsibility_minor=-p.patient_responsibility_minor,
        adjustments=tuple(
            dataclasses.replace(a, amount_minor=-a.amount_minor) for a in p.adjustments
        ),
        lines=tuple(
            dataclasses.replace(
                ln,
                charge_minor=-ln.charge_minor,
                paid_minor=-ln.paid_minor,
                adjustments=tuple(
                    dataclasses.replace(a, amount_minor=-a.amount_minor) for a in ln.adjustments
                ),
                allowed_minor=None,
                remarks=(),
            )
            for ln in p.lines
        ),
    )


# -- per claim -----------------------------------------------------------------------------------
@dataclass
class _Remit:
    """What goes into one payer's 835(s) for one payee."""

    payer_id: str
    payer_name: str
    payee_npi: str
    payee_name: str
    first: list[ClaimPaymentOut] = dataclasses.field(default_factory=list)
    first_plb: list[ProviderAdjustmentOut] = dataclasses.field(default_factory=list)
    later: list[ClaimPaymentOut] = dataclasses.field(default_factory=list)
    # XDP: payments made again by mistake, in a payment run of their own (after ``later``)
    again: list[ClaimPaymentOut] = dataclasses.field(default_factory=list)


def _duplicate_digest(claim: ClaimRead) -> list[str]:
    codes = ",".join(f"{ln.procedure}:{'.'.join(ln.modifiers)}" for ln in claim.lines)
    key = f"{claim.service_date}|{codes}|{claim.charge_minor}"
    return bidx.candidates(
        phi_keyring.installed(), CHSIM_DUPLICATE_INDEX, claim.payer_id, claim.member_id, key
    )


def _check_claim(
    session: Session, claim: ClaimRead
) -> tuple[StatusCode, tuple[LineStatus, ...]] | None:
    """A 277CA rejection, or None when the claim is accepted into adjudication."""
    if not _payer_known(session, claim.payer_id):
        return StatusCode("A3", "116", "PR"), ()
    try:
        idcodes.npi(claim.billing_provider_npi)
    except ValueError:
        return StatusCode("A7", "562", "85"), ()
    if claim.charge_minor != claim.lines_total_minor:
        return StatusCode("A7", "400"), ()
    bad_lines = []
    for ln in claim.lines:
        try:
            idcodes.procedure_code(ln.procedure)
        except ValueError:
            bad_lines.append(ln)
    if bad_lines:
        day = claim.service_date or dt.date(2000, 1, 1)
        return StatusCode("A7", "21"), tuple(
            LineStatus(
                ln.procedure,
                ln.charge_minor,
                ln.line_control_number or "",
                ln.service_date or day,
                ln.service_date_to,
                (StatusCode("A7", "454"),),
                tuple(ln.modifiers),
                ln.units,
            )
            for ln in bad_lines
        )
    if claim.service_date is None:
        return StatusCode("A7", "187"), ()
    if _member(session, claim.payer_id, claim.member_id) is None:
        return StatusCode("A7", "33", "IL"), ()
    if adj.scenario_of(claim.member_id) == adj.REJECT:
        return BIRTH_DATE_MISMATCH, ()
    if claim.frequency in ("7", "8"):
        original = _original(session, claim)
        if original is None:
            return StatusCode("A7", "21", "PR"), ()
    elif claim.frequency != "1":
        return StatusCode("A7", "21"), ()
    return None


def _original(session: Session, claim: ClaimRead) -> ChsimClaim | None:
    if not claim.original_claim_number:
        return None
    row = session.scalars(
        select(ChsimClaim)
        .where(ChsimClaim.payer_claim_number == claim.original_claim_number)
        .with_for_update()
    ).first()
    if row is None or row.payer_id != claim.payer_id or row.status not in ("paid", "denied"):
        return None
    return row


def _give_back(session: Session, original: ChsimClaim) -> None:
    """A voided or replaced claim returns what it applied to the member's accumulators."""
    if original.coverage_id is None or original.benefit_year_start is None:
        return
    sim = session.scalars(
        select(ChsimAccumulator)
        .where(
            ChsimAccumulator.coverage_id == original.coverage_id,
            ChsimAccumulator.benefit_year_start == original.benefit_year_start,
        )
        .with_for_update()
    ).first()
    if sim is not None:
        sim.deductible_minor -= original.deductible_minor
        sim.oop_minor -= original.patient_minor


def _plb(scenario: str | None, icn: str, paid: int) -> list[ProviderAdjustmentOut]:
    if scenario == adj.INTEREST and paid > 0:
        return [ProviderAdjustmentOut("L6", icn, -max(1, paid // 100))]
    if scenario == adj.RECOUP and paid > 0:
        return [ProviderAdjustmentOut("WO", icn, min(2500, paid))]
    return []


# -- the whole submission ------------------------------------------------------------------------
def receive_837(
    session: Session, submission: ChsimFile, content: bytes, now: dt.datetime, delays: Delays
) -> None:
    result = _read(content)
    sender = result.header.sender_id if result.header else "UNKNOWN"
    env = _envelope(session, sender, now)
    new_file(
        session,
        direction="out",
        kind="999",
        name=f"999_{submission.id}.x12",
        text=build_999(_verdicts(result), env),
        available_at=delays.at(now, delays.ack999),
        submission_id=submission.id,
    )
    if result.fatal:
        return
    remits: dict[tuple[str, str], _Remit] = {}
    ack_at = delays.at(now, delays.ack277)
    era_at = delays.at(now, delays.remittance)
    later_at = delays.at(era_at, delays.reversal)
    for tx in result.sets:
        providers: dict[str, list[ClaimStatus]] = {}
        names: dict[str, str] = {}
        for claim in tx.claims:
            status = _claim(session, submission, claim, now, ack_at, era_at, later_at, remits)
            providers.setdefault(claim.billing_provider_npi, []).append(status)
            names[claim.billing_provider_npi] = claim.billing_provider_name
        receipt = f"R{next_number(session, 'receipt'):09d}"
        ack = Ack277Input(
            reference=f"CA{receipt[1:]}",
            source_name=SIM_NAME,
            source_id=SIM_ID,
            receipt_id=receipt,
            receiver_name=tx.submitter_name or "SUBMITTER",
            receiver_id=tx.submitter_id or sender,
            batch_trace=tx.batch_reference or tx.control_number,
            received_on=now.date(),
            processed_on=now.date(),
            providers=tuple(
                ProviderClaims(names[npi], npi, tuple(claims)) for npi, claims in providers.items()
            ),
        )
        new_file(
            session,
            direction="out",
            kind="277CA",
            name=f"277CA_{submission.id}_{tx.control_number}.x12",
            text=build_277ca(ack, _envelope(session, sender, now)),
            available_at=ack_at,
            submission_id=submission.id,
        )
    for remit in remits.values():
        _write_835s(session, submission, remit, sender, era_at, later_at)


def _claim(
    session: Session,
    submission: ChsimFile,
    claim: ClaimRead,
    now: dt.datetime,
    ack_at: dt.datetime,
    era_at: dt.datetime,
    later_at: dt.datetime,
    remits: dict[tuple[str, str], _Remit],
) -> ClaimStatus:
    patient = claim.patient or claim.subscriber
    day = claim.service_date or now.date()
    member_key = bidx.compute(
        phi_keyring.installed(), CHSIM_MEMBER_INDEX, claim.payer_id, claim.member_id
    )
    base: dict[str, Any] = {
        "submission_id": submission.id,
        "payer_id": claim.payer_id[:80],
        "billing_npi": claim.billing_provider_npi[:10],
        "patient_control_number": claim.claim_id[:38],
        "member_key": member_key,
        "frequency": claim.frequency[:1],
        "original_claim_number": (claim.original_claim_number or None),
        "service_date": day,
        "charge_minor": claim.charge_minor,
        "acknowledged_at": ack_at,
    }
    rejection = _check_claim(session, claim)
    icn = f"SIM{next_number(session, 'icn'):09d}"
    if rejection is not None:
        status, lines = rejection
        session.add(
            ChsimClaim(
                payer_claim_number=icn,
                status="rejected",
                status_category=status.category,
                status_code=status.code,
                **base,
            )
        )
        return ClaimStatus(
            claim.claim_id,
            claim.charge_minor,
            (status,),
            day,
            claim.service_date_to,
            patient.last_name,
            patient.first_name,
            claim.member_id,
            lines=lines,
        )
    m = _member(session, claim.payer_id, claim.member_id)
    assert m is not None
    remit = remits.setdefault(
        (claim.payer_id, claim.billing_provider_npi),
        _Remit(
            claim.payer_id,
            claim.payer_name,
            claim.billing_provider_npi,
            claim.billing_provider_name,
        ),
    )
    received = now.date()
    ack = ClaimStatus(
        claim.claim_id,
        claim.charge_minor,
        ACCEPTED,
        day,
        claim.service_date_to,
        patient.last_name,
        patient.first_name,
        claim.member_id,
        payer_claim_number=icn,
    )
    if claim.frequency in ("7", "8"):
        original = _original(session, claim)
        assert original is not None
        if original.payment and original.status == "paid":  # a denial moved no money
            remit.first.append(reversal_of(_payment_from_json(original.payment)))
        _give_back(session, original)
        original.status = "voided" if claim.frequency == "8" else "replaced"
        if claim.frequency == "8":
            session.add(
                ChsimClaim(
                    payer_claim_number=icn,
                    status="voided",
                    status_category="F3",
                    status_code="107",
                    adjudicated_at=era_at,
                    **base,
                )
            )
            return ack
    scenario = adj.scenario_of(claim.member_id)
    filing = adj.PRODUCT_FILING.get(m.plan.product_type.lower(), "12")
    year_start = _year_start(day, m.plan.benefit_year_start_month)
    accumulated, sim = _accumulated(session, m, year_start, day)
    digests = _duplicate_digest(claim)
    duplicate = (
        claim.frequency == "1"
        and session.scalar(
            select(func.count()).where(
                ChsimClaim.duplicate_key.in_(digests), ChsimClaim.status.in_(("paid", "denied"))
            )
        )
        != 0
    )
    outcome = adj.adjudicate(
        claim,
        _terms(m),
        accumulated,
        _allowed(session, m, claim),
        received_on=received,
        duplicate=duplicate,
        scenario=scenario,
    )
    payment = adj.payment_out(claim, outcome, icn, received_on=received, filing_indicator=filing)
    if scenario == adj.CROSSOVER and outcome.status_code != "4":
        payment = _cross_over(session, m, claim, payment, outcome, day, remits)
    remit.first.append(payment)
    remit.first_plb.extend(_plb(scenario, icn, outcome.paid_minor))
    sim.deductible_minor += outcome.deductible_minor
    sim.oop_minor += outcome.patient_minor
    row = ChsimClaim(
        payer_claim_number=icn,
        status="paid" if outcome.status_code != "4" else "denied",
        status_category="F1" if outcome.status_code != "4" else "F2",
        status_code="65"
        if outcome.status_code != "4"
        else ("88" if outcome.reason in ("26", "27") else "107"),
        denial_reason=outcome.reason,
        paid_minor=outcome.paid_minor,
        patient_minor=outcome.patient_minor,
        deductible_minor=outcome.deductible_minor,
        coverage_id=m.coverage.id,
        benefit_year_start=year_start,
        payment=_payment_json(payment),
        adjudicated_at=era_at,
        duplicate_key=None if duplicate else digests[0],
        **base,
    )
    session.add(row)
    if scenario == adj.REVERSE and outcome.status_code != "4":
        # The later payment run: the payment reversed, the claim re-adjudicated at a lower rate
        # against the same accumulators (the difference goes back to the member).
        corrected = adj.adjudicate(
            claim,
            _terms(m),
            accumulated,
            _allowed(session, m, claim, adj.REPRICE_RATE),
            received_on=received,
            scenario=None,
        )
        again = adj.payment_out(
            claim, corrected, icn, received_on=received, filing_indicator=filing
        )
        remit.later.extend([reversal_of(payment), again])
        sim.deductible_minor += corrected.deductible_minor - outcome.deductible_minor
        sim.oop_minor += corrected.patient_minor - outcome.patient_minor
        row.paid_minor = corrected.paid_minor
        row.patient_minor = corrected.patient_minor
        row.deductible_minor = corrected.deductible_minor
        row.payment = _payment_json(again)
        row.adjudicated_at = later_at
    if scenario == adj.DUPLICATE and outcome.status_code != "4":
        # The later payment run pays the claim again, under a new claim number and without
        # reversing the first payment: a duplicate payment the provider must not post twice.
        again_icn = f"SIM{next_number(session, 'icn'):09d}"
        remit.again.append(dataclasses.replace(payment, payer_claim_number=again_icn))
    session.flush()
    return ack


def _cross_over(
    session: Session,
    m: _Member,
    claim: ClaimRead,
    payment: ClaimPaymentOut,
    outcome: adj.ClaimOutcome,
    day: dt.date,
    remits: dict[tuple[str, str], _Remit],
) -> ClaimPaymentOut:
    """The XCO scenario: the claim is forwarded to the member's secondary payer (the primary's
    CLP says so), whose answer comes in its own 835 of the later payment run."""
    found = crossover_sim.next_payer(session, m.coverage.patient_id, day)
    if found is None:
        return payment
    payer, coverage = found
    icn = f"SIM{next_number(session, 'icn'):09d}"
    remits.setdefault(
        (payer.edi_payer_id, claim.billing_provider_npi),
        _Remit(
            payer.edi_payer_id,
            payer.name.upper(),
            claim.billing_provider_npi,
            claim.billing_provider_name,
        ),
    ).later.append(crossover_sim.supplemental(payment, outcome, coverage.member_id, icn))
    return crossover_sim.forwarded(payment, payer)


def _tax_id(payer_id: str) -> str:
    digest = int(hashlib.sha256(payer_id.encode()).hexdigest(), 16)
    return f"9{digest % 10**8:08d}"


def _owed(session: Session, payer_id: str, payee: str) -> int:
    """What the payee still owes the payer from forward balances (PLB FB carried)."""
    total = session.scalar(
        select(func.coalesce(func.sum(ChsimFile.forward_balance_minor), 0)).where(
            ChsimFile.kind == "835", ChsimFile.payer_id == payer_id, ChsimFile.payee_npi == payee
        )
    )
    return -int(total or 0)


def _write_835s(
    session: Session,
    submission: ChsimFile,
    remit: _Remit,
    sender: str,
    era_at: dt.datetime,
    later_at: dt.datetime,
) -> None:
    for run, (claims, plb, at) in enumerate(
        (
            (remit.first, remit.first_plb, era_at),
            (remit.later, [], later_at),
            (remit.again, [], later_at),
        ),
        1,
    ):
        if not claims:
            continue
        adjustments = list(plb)
        paid = sum(c.paid_minor for c in claims) - sum(p.amount_minor for p in adjustments)
        fb = 0
        owed = _owed(session, remit.payer_id, remit.payee_npi)
        if owed > 0 and paid > 0:
            fb = min(owed, paid)  # collect an earlier balance
        elif paid < 0:
            fb = paid  # carry the negative balance forward
        if fb:
            adjustments.append(ProviderAdjustmentOut("FB", f"FB{submission.sequence}", fb))
        trace = f"SIMEFT{next_number(session, 'trace'):09d}"
        rem = Remittance835(
            payer_name=remit.payer_name or remit.payer_id,
            payer_id=remit.payer_id,
            payer_tax_id=_tax_id(remit.payer_id),
            payee_name=remit.payee_name or remit.payee_npi,
            payee_npi=remit.payee_npi,
            trace_number=trace,
            payment_date=at.date(),
            claims=tuple(claims),
            provider_adjustments=tuple(adjustments),
        )
        new_file(
            session,
            direction="out",
            kind="835",
            name=f"835_{submission.id}_{remit.payer_id}_{remit.payee_npi}_{run}.x12",
            text=build_835([rem], _envelope(session, sender, at)),
            available_at=at,
            submission_id=submission.id,
            payer_id=remit.payer_id,
            payee_npi=remit.payee_npi,
            forward_balance_minor=fb,
        )


def claims_of(session: Session, member_key_candidates: Sequence[str]) -> list[ChsimClaim]:
    return list(
        session.scalars(
            select(ChsimClaim)
            .where(ChsimClaim.member_key.in_(member_key_candidates))
            .order_by(ChsimClaim.created_at.desc(), ChsimClaim.payer_claim_number.desc())
        )
    )
