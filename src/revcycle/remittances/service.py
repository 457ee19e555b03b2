"""Posting 835 remittances (docs/remittance-posting.md).

:func:`post_file` streams a file with :class:`~revcycle.x12.remittance.Reader835` and posts each
transaction set **atomically in its own transaction** and **idempotently**:

* identity = (practice, payer id, payee id, TRN02, BPR02, BPR16), UNIQUE in ``remittances``,
  plus the set's SHA-256: same identity and digest -> ``duplicate`` (nothing happens); same
  identity, other digest -> ``quarantined`` (kept whole with the reason, nothing posted);
* a set that is unbalanced, unreadable or without a payment date is ``refused`` (nothing
  posted or stored; the difference is in the message);
* each CLP is matched to our claim (CLP01 = ``claims.control_number``, same payer, latest
  non-void), its lines by REF*6R (``claim_lines.line_control_number``), falling back to procedure
  + date + position; what matches nothing goes to the unmatched queue with its money held in 2300
  payer offsets until a person matches it (:func:`match_unmatched`).

Lock order (extends docs/architecture.md): remittance identity (unique insert) -> invoice ->
claim. Callers of :func:`post_file` pass a session factory (one transaction per set) or a
session (one SAVEPOINT per set, for tests and for callers already in a unit of work).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from revcycle.appeals import matching as appeal_matching
from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import service as claims_service
from revcycle.claims import states
from revcycle.claims.models import Claim
from revcycle.claims.repository import ClaimRepository
from revcycle.db import unit_of_work
from revcycle.errors import out_of_scope
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.kit import bulkwrite
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.ledger.repository import LedgerRepository
from revcycle.money import Money
from revcycle.remittances import (
    crossovers,
    errors,
    predeterminations,
)
from revcycle.remittances.bulk import Immediate, SetBatch, lock_claim
from revcycle.remittances.claim_rules import (
    ERA_ACTOR,
    all_adjustments,
    already_settled,
    apply_to_claim,
    claim_detail,
    match_lines,
    may_have_answers,
    split,
    unpostable,
)
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceQuarantine,
    RemittanceUnmatched,
)
from revcycle.remittances.repository import RemittanceRepository
from revcycle.x12.core import X12Error
from revcycle.x12.remittance import (
    ClaimPayment,
    Reader835,
    RemittanceFailure,
    remittance_json,
)
from revcycle.x12.remittance import Remittance as Parsed835

REVERSAL_CODE = "22"
CHEQUE = "CHK"


# -- results -----------------------------------------------------------------------------------
@dataclass
class SetOutcome:
    control_number: str
    outcome: str  # posted | duplicate | quarantined | refused
    message: str
    remittance_id: uuid.UUID | None = None
    trace_number: str = ""
    payment_minor: int = 0
    currency: str = "USD"
    claims: int = 0
    unmatched: int = 0
    code: str | None = None


@dataclass
class PostResult:
    sets: list[SetOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # file-level reading problems

    @property
    def ok(self) -> bool:
        return not self.errors and all(s.outcome in ("posted", "duplicate") for s in self.sets)


class _Quarantine(Exception):  # noqa: N818 - a control-flow signal, not an error of the caller
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def fmt(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}"


# -- transactions ------------------------------------------------------------------------------
Target = Session | sessionmaker[Session]


@contextmanager
def _transaction(target: Target) -> Iterator[Session]:
    """One transaction per set: a unit of work from a factory, a SAVEPOINT in a session."""
    if isinstance(target, Session):
        with target.begin_nested():
            yield target
    else:
        with unit_of_work(target) as session:
            yield session


# -- the file ----------------------------------------------------------------------------------
def post_file(
    target: Target,
    actor: Principal,
    src: Path | str | bytes,
    *,
    practice_id: uuid.UUID,
) -> PostResult:
    """Post every 835 set of ``src`` (a path, or the file's bytes/text) for ``practice_id``."""
    check_can_post(actor, practice_id)
    result = PostResult()
    if isinstance(src, Path):
        with src.open("rb") as fh:
            _post_stream(target, actor, Reader835(fh), practice_id, result)
    else:
        data = src.encode("utf-8") if isinstance(src, str) else src
        _post_stream(target, actor, Reader835(io.BytesIO(data)), practice_id, result)
    return result


def post_upload(
    target: Target, actor: Principal, content: str, *, practice_id: uuid.UUID
) -> PostResult:
    """Post an uploaded 835 (the API): like :func:`post_file`, but an upload holding no readable
    transaction set at all is refused as bad input (nothing was posted) instead of answered with
    an empty list of outcomes."""
    result = post_file(target, actor, content, practice_id=practice_id)
    if not result.sets and result.errors:
        raise errors.UnreadableRemittance(
            "The file holds no readable 835 transaction set: " + result.errors[0]
        )
    return result


def check_can_post(actor: Principal, practice_id: uuid.UUID) -> None:
    """The permission and the practice (404 outside the caller's practices)."""
    actor.require(Action.REMITTANCE_POST)
    actor.check_practice(practice_id)


def _post_stream(
    target: Target, actor: Principal, reader: Reader835, practice_id: uuid.UUID, out: PostResult
) -> None:
    try:
        for item in reader:
            if isinstance(item, RemittanceFailure):
                out.sets.append(
                    SetOutcome(
                        item.control_number,
                        "refused",
                        f"unreadable: {item.error.message}",
                        code=item.error.code,
                    )
                )
                continue
            out.sets.append(post_set(target, actor, item, practice_id=practice_id))
    except X12Error as exc:  # the file cannot be read further: what was posted stays posted
        out.errors.append(exc.message)
    seen = set(out.errors)
    out.errors += [e.message for e in reader.errors if e.message not in seen]


def refusal(rem: Parsed835) -> tuple[str, str] | None:
    """Why a set must not be posted at all (code, message), or None."""
    problems = rem.data_errors + rem.envelope_errors
    if problems:
        return problems[0].code, "; ".join(p.message for p in problems[:5])
    if not rem.balanced:
        # The set's own equation (with its difference) first, then the claims and lines.
        ordered = sorted(rem.balance_errors, key=lambda b: b.level != "transaction")
        return "remittance.unbalanced", "unbalanced: " + "; ".join(b.message for b in ordered[:10])
    if rem.payment_date is None:
        return "remittance.no_payment_date", "no payment date (BPR16): cannot identify the set"
    if rem.credit_debit not in ("C", ""):
        return "remittance.debit", f"BPR03 {rem.credit_debit!r}: only credits are posted"
    return None


def post_set(
    target: Target, actor: Principal, rem: Parsed835, *, practice_id: uuid.UUID
) -> SetOutcome:
    """Post one set in its own transaction (retried once when a concurrent import of the same
    identity won the race: then it is a duplicate or a quarantine)."""
    base = SetOutcome(
        rem.control_number,
        "refused",
        "",
        trace_number=rem.trace_number,
        payment_minor=rem.payment_minor,
        currency=rem.currency,
        claims=len(rem.claims),
    )
    refused = refusal(rem)
    if refused is not None:
        base.code, base.message = refused
        return base
    for attempt in range(2):
        try:
            with _transaction(target) as session:
                return _post_set(session, actor, rem, practice_id, base)
        except _Quarantine as q:
            return _store_quarantine(target, rem, practice_id, base, None, q.code, q.reason)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _identity(rem: Parsed835) -> tuple[str, str, str, int, dt.date]:
    assert rem.payment_date is not None
    return (rem.payer_id, rem.payee_id, rem.trace_number, rem.payment_minor, rem.payment_date)


def _store_quarantine(
    target: Target,
    rem: Parsed835,
    practice_id: uuid.UUID,
    base: SetOutcome,
    remittance_id: uuid.UUID | None,
    code: str,
    reason: str,
) -> SetOutcome:
    base.outcome, base.code, base.message = "quarantined", code, reason
    base.remittance_id = remittance_id
    try:
        with _transaction(target) as session:
            _add_quarantine(session, rem, practice_id, remittance_id, code, reason)
    except IntegrityError:
        pass  # a concurrent import stored the same content: it is quarantined once
    return base


def _add_quarantine(
    session: Session,
    rem: Parsed835,
    practice_id: uuid.UUID,
    remittance_id: uuid.UUID | None,
    code: str,
    reason: str,
) -> None:
    if RemittanceRepository(session).quarantined(practice_id, rem.sha256) is not None:
        return
    payer, payee, trace, amount, day = _identity(rem)
    session.add(
        RemittanceQuarantine(
            practice_id=practice_id,
            remittance_id=remittance_id,
            payer_identifier=payer[:80],
            payee_identifier=payee[:80],
            trace_number=trace[:80],
            payment_minor=amount,
            payment_date=day,
            sha256=rem.sha256,
            code=code,
            reason=reason[:500],
            summary=remittance_json(rem),
        )
    )
    session.flush()


def _post_set(
    session: Session, actor: Principal, rem: Parsed835, practice_id: uuid.UUID, out: SetOutcome
) -> SetOutcome:
    repo = RemittanceRepository(session)
    payer_ident, payee, trace, amount, day = _identity(rem)
    existing = repo.by_identity(practice_id, payer_ident[:80], payee[:80], trace[:80], amount, day)
    if existing is not None:
        out.remittance_id = existing.id
        if existing.sha256 == rem.sha256:
            out.outcome, out.message = "duplicate", "already posted: nothing changed"
            return out
        reason = (
            f"a remittance with this identity (payer {payer_ident}, payee {payee}, trace {trace},"
            f" {fmt(amount)} on {day.isoformat()}) was posted with other content "
            f"(sha256 {existing.sha256[:12]}... vs {rem.sha256[:12]}...)"
        )
        _add_quarantine(
            session, rem, practice_id, existing.id, "remittance.identity_reused", reason
        )
        out.outcome, out.code, out.message = "quarantined", "remittance.identity_reused", reason
        return out
    payer = repo.payer_by_edi_id(practice_id, payer_ident)
    remittance = Remittance(
        id=uuid7(),
        practice_id=practice_id,
        payer_identifier=payer_ident[:80],
        payer_name=rem.payer_name[:100],
        payee_identifier=payee[:80],
        payee_name=rem.payee_name[:100],
        trace_number=trace[:80],
        payment_minor=amount,
        payment_date=day,
        payment_method=rem.payment_method[:3],
        currency=rem.currency,
        set_control_number=rem.control_number[:9],
        sha256=rem.sha256,
        payer_id=payer.id if payer is not None else None,
        claim_count=len(rem.claims),
        unmatched_count=0,
        provider_adjustment_minor=sum(p.amount_minor for p in rem.provider_adjustments),
        summary=remittance_json(rem),
        posted_by=actor.user_id,
    )
    session.add(remittance)
    session.flush()  # the identity is claimed here (UNIQUE): a concurrent twin waits, then fails
    with SetBatch.load(
        session,
        practice_id,
        payer.id if payer is not None else None,
        (cp.patient_control_number for cp in rem.claims if cp.status_code != REVERSAL_CODE),
    ) as batch:
        poster = _Poster(session, actor, remittance, rem, payer, batch)
        for position, cp in enumerate(rem.claims, start=1):
            poster.post_claim(position, cp)
        poster.post_provider_adjustments()
        batch.drain()
    remittance.unmatched_count = poster.unmatched
    audit.record(
        session,
        actor,
        "remittance.post",
        object_type="remittance",
        object_id=remittance.id,
        practice_id=practice_id,
        detail={
            "claims": len(rem.claims),
            "unmatched": poster.unmatched,
            "payment": fmt(amount),
            "sha256": rem.sha256,
        },
    )
    session.flush()
    out.outcome = "posted"
    out.remittance_id = remittance.id
    out.unmatched = poster.unmatched
    out.message = (
        f"posted {len(rem.claims) - poster.unmatched} claims"
        + (f", {poster.unmatched} unmatched (held in 2300)" if poster.unmatched else "")
        + (
            f", {len(rem.provider_adjustments)} provider adjustments"
            if rem.provider_adjustments
            else ""
        )
    )
    return out


# -- per claim ---------------------------------------------------------------------------------
def cash_account(payment_method: str) -> AccountCode:
    return AccountCode.CASH if payment_method == CHEQUE else AccountCode.BANK_OPERATING


class _Poster:
    """Posts the claims of one set inside its transaction, their writes gathered in ``batch``
    (remittances/bulk.py) until the set ends."""

    def __init__(
        self,
        session: Session,
        actor: Principal,
        remittance: Remittance,
        rem: Parsed835,
        payer: Any,
        batch: SetBatch,
    ) -> None:
        self.session = session
        self.actor = actor
        self.remittance = remittance
        self.rem = rem
        self.payer = payer
        self.batch = batch
        self.repo = RemittanceRepository(session)
        self.claims = ClaimRepository(session)
        self.cash = cash_account(rem.payment_method)
        self.unmatched = 0

    def _row(self, position: int, cp: ClaimPayment, detail: dict[str, Any]) -> RemittanceClaim:
        parts = split(detail)
        return bulkwrite.new_row(
            RemittanceClaim,
            id=uuid7(),
            remittance_id=self.remittance.id,
            practice_id=self.remittance.practice_id,
            position=position,
            claim_id=None,
            patient_control_number=cp.patient_control_number[:38],
            payer_claim_number=cp.payer_claim_number[:50],
            status_code=cp.status_code[:2],
            outcome="unmatched",
            currency=self.rem.currency,
            charge_minor=cp.charge_minor,
            paid_minor=cp.paid_minor,
            adjustment_minor=0,
            patient_responsibility_minor=parts.patient,
            deductible_minor=parts.buckets["deductible"],
            coinsurance_minor=parts.buckets["coinsurance"],
            copay_minor=parts.buckets["copay"],
            other_patient_minor=parts.buckets["other"],
            entry_ids=[],
            detail=detail,
        )

    def find_claim(self, cp: ClaimPayment) -> tuple[Claim | None, str]:
        if self.payer is None:
            return None, f"payer {self.rem.payer_id!r} is not one of the practice's payers"
        candidates = [
            c
            for c in self.batch.claims_by_control_number(cp.patient_control_number)
            if c.payer_id == self.payer.id and c.status != "void"
        ]
        if not candidates:
            # The next payer's answer to a claim the primary payer forwarded (crossover).
            forwarded = crossovers.find_forwarded(
                self.session, self.remittance.practice_id, cp.patient_control_number, self.payer.id
            )
            if forwarded is not None:
                return forwarded, ""
            return None, f"no claim {cp.patient_control_number!r} to this payer"
        return candidates[-1], ""

    def post_claim(self, position: int, cp: ClaimPayment) -> None:
        detail = claim_detail(cp, self.rem, self.remittance.id)
        row = self._row(position, cp, detail)
        if cp.status_code == REVERSAL_CODE:
            self.batch.drain()  # it reads the original posting's entries
            self._reverse(row, cp)
            return
        claim, reason = self.find_claim(cp)
        if claim is not None and predeterminations.applies(cp):
            match_lines(detail, self.claims.lines_of([claim.id])[claim.id])
            predeterminations.record(self.session, ERA_ACTOR, claim, row, detail)
            return
        if claim is not None:
            reason = unpostable(self.session, claim, cp.status_code)
        if claim is not None and not reason and may_have_answers(claim):
            self.batch.drain()  # the answers this set already posted are read back
            reason = already_settled(self.session, claim, detail, self.batch.lines_of(claim))
        if claim is None or reason:
            self._hold(row, reason)
            return
        self.session.add(row)
        writes: SetBatch | Immediate = self.batch
        if claim.sequence != "primary":  # it reads the invoice's ledger balance
            self.batch.drain()
            writes = Immediate(self.session)
        apply_to_claim(
            self.session,
            self.actor,
            claim,
            row,
            funding=self.cash,
            effective_date=self.remittance.payment_date,
            memo=f"835 {self.rem.trace_number} claim {cp.patient_control_number}",
            writes=writes,
        )

    def _hold(self, row: RemittanceClaim, reason: str) -> None:
        """An unmatched claim: its payment waits in 2300 payer offsets."""
        self.unmatched += 1
        self.session.add(row)
        if row.paid_minor:
            amount = Money(row.paid_minor, row.currency)
            entry = self.batch.post(
                ledger.EntrySpec(
                    practice_id=row.practice_id,
                    kind=EntryKind.CLAIM_PAYMENT.value,
                    legs=[
                        ledger.debit(self.cash, amount),
                        ledger.credit(AccountCode.PAYER_OFFSETS, amount),
                    ],
                    effective_date=self.remittance.payment_date,
                    memo=f"835 {self.rem.trace_number} unmatched claim "
                    f"{row.patient_control_number}: held until matched",
                    created_by=self.actor.user_id,
                    source_type="remittance_claim",
                    source_id=row.id,
                ),
            )
            row.entry_ids = [str(entry)]
        self.session.add(
            RemittanceUnmatched(
                practice_id=row.practice_id,
                remittance_claim_id=row.id,
                reason=reason[:300],
                status="open",
                held_minor=row.paid_minor,
                currency=row.currency,
            )
        )

    def _reverse(self, row: RemittanceClaim, cp: ClaimPayment) -> None:
        """CLP02=22: the exact reversal of the original posting of this payer claim."""
        practice_id = self.remittance.practice_id
        payer_ident = self.remittance.payer_identifier
        original = None
        if cp.payer_claim_number:
            original = self.repo.original_posting(practice_id, payer_ident, cp.payer_claim_number)
        else:
            original = self.repo.original_by_control_number(
                practice_id, payer_ident, cp.patient_control_number, cp.charge_minor, cp.paid_minor
            )
        if original is None:
            raise _Quarantine(
                "remittance.reversal_unmatched",
                f"claim {cp.patient_control_number} (payer claim {cp.payer_claim_number or '-'}) "
                "reverses a payment that was never posted here",
            )
        # 4010 reversals may put everything under CR: then only the amounts are compared.
        uses_cr = any(a["group"] == "CR" for a in all_adjustments(row.detail))
        if (
            original.charge_minor != -cp.charge_minor
            or original.paid_minor != -cp.paid_minor
            or (
                not uses_cr
                and original.patient_responsibility_minor != -row.patient_responsibility_minor
            )
        ):
            raise _Quarantine(
                "remittance.reversal_mismatch",
                f"claim {cp.patient_control_number}: the reversal (charge {fmt(cp.charge_minor)},"
                f" paid {fmt(cp.paid_minor)}) does not negate the original posting (charge "
                f"{fmt(original.charge_minor)}, paid {fmt(original.paid_minor)})",
            )
        row.outcome = "reversal"
        row.claim_id = original.claim_id
        row.reverses_id = original.id
        row.adjustment_minor = -original.adjustment_minor
        self.session.add(row)
        self.session.flush()
        claim: Claim | None = None
        invoice: Invoice | None = None
        if original.claim_id is not None:
            claim, invoice = lock_claim(self.session, original.claim_id)
        lrepo = LedgerRepository(self.session)
        reversed_ids: list[str] = []
        for entry_id in original.entry_ids:
            entry = lrepo.get_entry(uuid.UUID(entry_id))
            assert entry is not None
            reversed_ids.append(
                str(
                    ledger.reverse_entry(
                        self.session,
                        entry.id,
                        kind=entry.kind,
                        effective_date=self.remittance.payment_date,
                        created_by=self.actor.user_id,
                        memo=f"835 {self.rem.trace_number} reversal (CLP02 22) of "
                        f"{original.payer_claim_number or original.patient_control_number}",
                    )
                )
            )
        row.entry_ids = reversed_ids
        appeal_matching.on_posting_reversed(self.session, ERA_ACTOR, original, row)
        held = self.repo.unmatched_of_claim(original.id)
        if held is not None and held.status == "open":
            held.status = "reversed"
        under = self.repo.underpayment_of(original.id)
        if under is not None:
            under.status = "reversed"
        if claim is not None and invoice is not None:
            detail = copy.deepcopy(row.detail)  # nested: a JSON column sees only new values
            match_lines(detail, ClaimRepository(self.session).lines_of([claim.id])[claim.id])
            row.detail = detail
            states.note(
                self.session,
                claim,
                "reversal",
                actor=ERA_ACTOR,
                actor_kind="payer",
                reason=f"payer reversed its payment {original.payer_claim_number}",
                detail=detail,
            )
            invoices_service.refresh_status(self.session, invoice)
        self.session.flush()

    def post_provider_adjustments(self) -> None:
        """PLB: L6 interest to 4500, everything else to 2300 payer offsets; the cash side is
        the bank (or cash for a cheque). A positive amount reduced the payment."""
        for plb in self.rem.provider_adjustments:
            if plb.amount_minor == 0:
                continue
            account = (
                AccountCode.PAYER_INTEREST if plb.reason == "L6" else AccountCode.PAYER_OFFSETS
            )
            amount = Money(plb.amount_minor, self.rem.currency)
            self.batch.post(
                ledger.EntrySpec(
                    practice_id=self.remittance.practice_id,
                    kind=EntryKind.REMITTANCE_PROVIDER_ADJUSTMENT.value,
                    legs=[ledger.debit(account, amount), ledger.credit(self.cash, amount)],
                    effective_date=self.remittance.payment_date,
                    memo=f"835 {self.rem.trace_number} PLB {plb.reason} {plb.reference}".strip(),
                    created_by=self.actor.user_id,
                    source_type="remittance",
                    source_id=self.remittance.id,
                ),
            )


# -- the unmatched queue -----------------------------------------------------------------------
def match_unmatched(
    session: Session, actor: Principal, unmatched_id: uuid.UUID, claim_id: uuid.UUID
) -> RemittanceUnmatched:
    """A person says which claim a held remittance claim pays: the held money moves from 2300
    onto the claim's insurance receivable and the claim is posted as if it had matched."""
    actor.require(Action.REMITTANCE_POST)
    repo = RemittanceRepository(session)
    held = repo.unmatched_for_update(unmatched_id)
    if held is None:
        raise errors.UnmatchedNotFound("No such unmatched remittance claim")
    if not actor.sees_practice(held.practice_id):
        raise out_of_scope(
            errors.UnmatchedNotFound("No such unmatched remittance claim"),
            "remittance_unmatched",
            held.id,
        )
    if held.status != "open":
        raise errors.AlreadyMatched(
            f"This remittance claim is already {held.status}", current=held.status
        )
    claim = claims_service.access_claim(session, actor, claim_id, Action.REMITTANCE_POST)
    if claim.practice_id != held.practice_id:
        raise errors.CannotMatch("The claim belongs to another practice")
    row = repo.get_claim(held.remittance_claim_id)
    assert row is not None
    remittance = repo.get(row.remittance_id)
    assert remittance is not None
    if claim.currency != row.currency:
        raise errors.CannotMatch(f"The claim is in {claim.currency}, the payment in {row.currency}")
    reason = unpostable(session, claim, row.status_code) or already_settled(
        session, claim, row.detail, ClaimRepository(session).lines_of([claim.id])[claim.id]
    )
    if reason:
        raise errors.CannotMatch(reason)
    apply_to_claim(
        session,
        actor,
        claim,
        row,
        funding=AccountCode.PAYER_OFFSETS,
        effective_date=remittance.payment_date,
        memo=f"835 {remittance.trace_number} claim {row.patient_control_number} matched by hand",
    )
    held.status = "matched"
    held.matched_claim_id = claim.id
    held.matched_by = actor.user_id
    held.matched_at = utcnow()
    audit.record(
        session,
        actor,
        "remittance.match",
        object_type="remittance_unmatched",
        object_id=held.id,
        practice_id=held.practice_id,
        fields=["status", "matched_claim_id"],
        detail={"claim_id": str(claim.id)},
    )
    session.flush()
    return held
