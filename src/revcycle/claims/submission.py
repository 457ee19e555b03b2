"""837P submission and acknowledgements (docs/claim-submission.md).

Submitting is a short saga around the clearinghouse call, like card payments and eligibility:

1. :func:`build_batch` (one transaction): the practice's scrubbed claims row-locked (``SKIP
   LOCKED`` on PostgreSQL, so concurrent submitters take different claims), mapped to 837P
   (:mod:`revcycle.claims.mapping`); a claim the 837P rules refuse goes back to ``draft`` with
   the reason and the rest continue. A fresh ISA13 from the practice's counter (GS06 = ISA13,
   ST02 0001.. per payer, BHT03 the batch reference), the interchange built and stored sealed
   with its SHA-256 (:class:`ClaimBatch`, status ``built``), one :class:`ClaimSubmission` per
   claim (attempt n, its set and segment range), each claim ``scrubbed -> submitted``, and the
   first submission of an original claim billed to the payer in the ledger. It commits before
   the clearinghouse is called: no lock is held across the network.
2. ``client.submit_file(content, kind="837P", idempotency_key=batch.idempotency_key)``.
3. :func:`record_receipt` (one transaction, the batch's row lock): ``submitted`` with the
   clearinghouse's file id, or ``failed`` when the clearinghouse refused the interchange (its
   claims become ``rejected``), or left ``built`` with the error after a timeout.

A crash or timeout between 1 and 3 leaves the batch ``built``: :func:`resend_unsent` (the
``claims.submit`` worker task) sends the *stored* bytes again with the *same* key, so the
clearinghouse, which answers a known key with its first receipt, never receives it twice.

Acknowledgements (:func:`process_inbound`): 999 and 277CA files polled from the clearinghouse,
applied per file in one transaction, then acknowledged. They are recorded as claim events that
name the file (``detail.file_id``), under each claim's row lock: a file already applied to a
claim is skipped, so processing a file twice changes nothing. An acknowledgement only moves a
claim whose latest submission is the one it answers (an old batch's 999 does not reject the
corrected claim sent since). 835 files are never polled here: remittance posting reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import errors, mapping, states
from revcycle.claims import service as claims_service
from revcycle.claims.models import Claim, ClaimBatch, ClaimEvent, ClaimSubmission
from revcycle.claims.repository import ClaimRepository
from revcycle.clearinghouse.base import (
    ClearinghouseClient,
    ClearinghouseError,
    ClearinghouseRejected,
    InboundFile,
    SubmittedFile,
)
from revcycle.config import Settings, get_settings
from revcycle.db import unit_of_work
from revcycle.errors import out_of_scope
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.practices.errors import PracticeNotFound
from revcycle.practices.models import Practice
from revcycle.x12 import acks
from revcycle.x12 import claim837 as x
from revcycle.x12.core import X12Error, read_transactions
from revcycle.x12.writer import Envelope

log = logging.getLogger(__name__)

ACK_KINDS = ("999", "277CA")
KIND_837P = "837P"


def _actor_kind(actor: Principal) -> states.ActorKind:
    return "user" if actor.user_id is not None else "system"


def _lock_claim(session: Session, claim_id: uuid.UUID) -> Claim:
    """The claim row-locked and re-read (a copy loaded earlier in this session may be stale)."""
    claim = session.scalar(
        select(Claim)
        .where(Claim.id == claim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert claim is not None
    return claim


# -- phase 1: build and store -----------------------------------------------------------------
@dataclass(frozen=True)
class Returned:
    """A claim the 837P rules refused: back to draft with the reason."""

    claim_id: uuid.UUID
    control_number: str
    reason: str


@dataclass
class BuildResult:
    batch: ClaimBatch | None
    claim_ids: list[uuid.UUID] = field(default_factory=list)
    returned: list[Returned] = field(default_factory=list)


def idempotency_key_of(batch_id: uuid.UUID) -> str:
    """The clearinghouse submit key of a batch: derived from its id, so every resend of the
    batch carries the same key."""
    return f"837p-{batch_id.hex}"


def _return_to_draft(
    session: Session, actor: Principal, claim: Claim, exc: x.ClaimBuildError
) -> Returned:
    reason = f"837P: {exc.detail}"[:300]
    states.transition(
        session,
        claim,
        "draft",
        actor=actor,
        actor_kind=_actor_kind(actor),
        reason=reason,
        detail={"source": "837P", "field": exc.field_name, "message": exc.detail},
    )
    return Returned(claim.id, claim.control_number, reason)


def access_practice(session: Session, actor: Principal, practice_id: uuid.UUID) -> Practice:
    actor.require(Action.CLAIM_SUBMIT)
    practice = session.get(Practice, practice_id)
    if practice is None:
        raise PracticeNotFound("No such practice")
    actor.check_practice(practice.id)
    return practice


def build_batch(  # noqa: C901, PLR0912, PLR0915 - one saga phase, kept in one place
    session: Session,
    actor: Principal,
    settings: Settings,
    *,
    practice_id: uuid.UUID,
    clearinghouse: str,
    claim_ids: Sequence[uuid.UUID] | None = None,
    limit: int | None = None,
) -> BuildResult:
    """Phase 1 (docstring of the module). Returns no batch when no scrubbed claim was free."""
    practice = access_practice(session, actor, practice_id)
    repo = ClaimRepository(session)
    claims = repo.scrubbed_for_submission(
        practice.id, claim_ids, min(limit or settings.claims_batch_size, 5000)
    )
    result = BuildResult(None)
    if not claims:
        return result
    now = utcnow()
    bp = mapping.billing_provider(practice)
    sub = mapping.submitter(practice, settings)
    rec = mapping.receiver(settings)
    try:
        x.check_batch(x.Batch(sub, rec, bp, (), now))
    except x.ClaimBuildError as exc:
        raise errors.CannotSubmit(
            f"The practice's billing provider cannot be sent on an 837P: {exc.detail}",
            field=exc.field_name,
        ) from None
    lines = repo.lines_of([c.id for c in claims])
    mapped: list[mapping.Mapped837] = []
    by_control: dict[str, Claim] = {}
    for claim in claims:
        try:
            if claim.control_number in by_control:
                raise x.ClaimBuildError(
                    claim.control_number, "claim_id", "another claim in this batch has this CLM01"
                )
            m = mapping.map_claim(session, claim, lines[claim.id], bp.npi)
            x.check_batch(mapping.single_claim_batch(m, bp, sub, rec, now))
        except x.ClaimBuildError as exc:
            result.returned.append(_return_to_draft(session, actor, claim, exc))
            continue
        mapped.append(m)
        by_control[claim.control_number] = claim
    if not mapped:
        session.flush()
        return result
    icn = repo.take_interchange_number(practice.id)
    batch_id = uuid7()
    reference = f"{practice.npi}-{icn:09d}"
    envelope = Envelope(
        sender_id=practice.npi,
        receiver_id=settings.claims_receiver_id,
        interchange_control_number=icn,
        group_control_number=icn,
        created_at=now,
        usage=settings.claims_x12_usage,
    )
    while True:
        try:
            built = x.build_837p(
                x.Batch(sub, rec, bp, mapping.transactions(mapped, reference), now), envelope
            )
            break
        except x.ClaimBuildError as exc:
            bad = by_control.pop(exc.claim_id or "", None)
            if bad is None:
                raise errors.CannotSubmit(f"The 837P cannot be built: {exc.detail}") from None
            result.returned.append(_return_to_draft(session, actor, bad, exc))
            mapped = [m for m in mapped if m.claim_db_id != bad.id]
            if not mapped:
                session.flush()
                return result
        except X12Error as exc:
            raise errors.CannotSubmit(f"The 837P cannot be built: {exc.detail}") from None
    content = built.text
    sent = [by_control[loc.claim_id] for loc in built.claims]
    batch = ClaimBatch(
        id=batch_id,
        practice_id=practice.id,
        interchange_control_number=icn,
        batch_reference=reference,
        idempotency_key=idempotency_key_of(batch_id),
        status="built",
        claim_count=len(sent),
        total_charge_minor=sum(c.charge_minor for c in sent),
        currency=practice.currency,
        content_sha256=hashlib.sha256(content.encode()).hexdigest(),
        content=content,
        clearinghouse=clearinghouse,
        created_at=now,
        created_by=actor.user_id,
    )
    session.add(batch)
    session.flush()
    attempts = repo.last_attempts([c.id for c in sent])
    for loc in built.claims:
        claim = by_control[loc.claim_id]
        attempt = attempts.get(claim.id, 0) + 1
        session.add(
            ClaimSubmission(
                claim_id=claim.id,
                batch_id=batch.id,
                attempt=attempt,
                set_control_number=loc.set_control_number,
                first_segment=loc.first_segment,
                last_segment=loc.last_segment,
            )
        )
        states.transition(
            session,
            claim,
            "submitted",
            actor=actor,
            actor_kind=_actor_kind(actor),
            reason=f"sent in 837P interchange {icn:09d}",
            detail={
                "batch_id": str(batch.id),
                "interchange_control_number": icn,
                "attempt": attempt,
                "set_control_number": loc.set_control_number,
            },
        )
        claim.submitted_at = now
        if claim.frequency_code == "1":
            # A replacement (7) or void (8) re-bills lines the original already moved to the
            # payer's receivable: only an original claim is billed, once.
            claims_service.bill_to_payer(session, claim, actor)
        result.claim_ids.append(claim.id)
    audit.record(
        session,
        actor,
        "claim_batch.create",
        object_type="claim_batch",
        object_id=batch.id,
        practice_id=practice.id,
        fields=["content"],
        detail={"interchange_control_number": icn, "claims": len(sent)},
    )
    session.flush()
    result.batch = batch
    return result


# -- phases 2 and 3: send and record ----------------------------------------------------------
def record_receipt(
    session: Session,
    actor: Principal,
    batch_id: uuid.UUID,
    *,
    receipt: SubmittedFile | None,
    failure: ClearinghouseError | None = None,
) -> ClaimBatch:
    """Phase 3 under the batch's row lock; a batch already submitted or failed is left as is."""
    repo = ClaimRepository(session)
    batch = repo.batch_for_update(batch_id)
    if batch is None:
        raise errors.BatchNotFound("No such claim batch")
    if batch.status != "built":
        return batch
    if receipt is not None:
        batch.status = "submitted"
        batch.file_id = receipt.file_id[:100]
        batch.submitted_at = receipt.received_at
        batch.error = None
    elif isinstance(failure, ClearinghouseRejected):
        batch.status = "failed"
        batch.error = f"{failure.code}: {failure.message}"[:300]
        for _, claim in repo.submissions_in_batch(batch.id):
            locked = _lock_claim(session, claim.id)
            if locked.status == "submitted":
                states.transition(
                    session,
                    locked,
                    "rejected",
                    actor=actor,
                    actor_kind=_actor_kind(actor),
                    reason=f"the clearinghouse refused the interchange: {failure.message}"[:300],
                    detail={
                        "source": "clearinghouse",
                        "codes": [failure.code],
                        "message": failure.message,
                        "segment": None,
                        "position": None,
                        "batch_id": str(batch.id),
                    },
                )
    else:
        code = failure.code if failure is not None else "clearinghouse.error"
        batch.error = f"{code}: {failure.message if failure else 'no receipt'}"[:300]
    session.flush()
    audit.record(
        session,
        actor,
        "claim_batch.sent" if batch.status != "built" else "claim_batch.send_failed",
        object_type="claim_batch",
        object_id=batch.id,
        practice_id=batch.practice_id,
        fields=["status"],
        detail={"status": batch.status},
    )
    return batch


def _send(
    client: ClearinghouseClient, content: str, key: str
) -> tuple[SubmittedFile | None, ClearinghouseError | None]:
    try:
        return client.submit_file(content.encode(), kind=KIND_837P, idempotency_key=key), None
    except ClearinghouseError as exc:
        return None, exc


def send_batch(
    factory: sessionmaker[Session],
    client: ClearinghouseClient,
    actor: Principal,
    batch_id: uuid.UUID,
) -> ClaimBatch:
    """Phases 2 and 3 for a stored batch: the stored bytes, the stored key (a resend is the same
    request)."""
    with unit_of_work(factory) as s:
        batch = ClaimRepository(s).batch(batch_id)
        if batch is None:
            raise errors.BatchNotFound("No such claim batch")
        if batch.status != "built":
            return batch
        content, key = batch.content, batch.idempotency_key
    receipt, failure = _send(client, content, key)
    if failure is not None:
        log.warning("837P batch %s not sent: %s", batch_id, failure.code)
    with unit_of_work(factory) as s:
        return record_receipt(s, actor, batch_id, receipt=receipt, failure=failure)


@dataclass
class SubmitResult:
    batch: ClaimBatch | None
    claim_ids: list[uuid.UUID]
    returned: list[Returned]


def submit_claims(
    session_factory: sessionmaker[Session],
    actor: Principal,
    client: ClearinghouseClient,
    *,
    practice_id: uuid.UUID,
    claim_ids: Sequence[uuid.UUID] | None = None,
    settings: Settings | None = None,
    limit: int | None = None,
) -> SubmitResult:
    """Phases 1-3, each in a transaction of its own (module docstring)."""
    settings = settings or get_settings()
    with unit_of_work(session_factory) as s:
        built = build_batch(
            s,
            actor,
            settings,
            practice_id=practice_id,
            clearinghouse=client.name,
            claim_ids=claim_ids,
            limit=limit,
        )
    if built.batch is None:
        return SubmitResult(None, [], built.returned)
    batch = send_batch(session_factory, client, actor, built.batch.id)
    return SubmitResult(batch, built.claim_ids, built.returned)


def resend_unsent(
    factory: sessionmaker[Session],
    client: ClearinghouseClient,
    actor: Principal,
    *,
    older_than: dt.timedelta = dt.timedelta(seconds=60),
    limit: int = 20,
) -> list[ClaimBatch]:
    """Batches stored but never confirmed sent (a crash or a timeout after phase 1), sent again
    with the same bytes and key. Only batches older than ``older_than``, so a submission still in
    flight is not raced."""
    with unit_of_work(factory) as s:
        ids = ClaimRepository(s).unsent_batches(utcnow() - older_than, limit)
    return [send_batch(factory, client, actor, bid) for bid in ids]


def practices_with_scrubbed_claims(session: Session) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Claim.practice_id).where(Claim.status == "scrubbed").distinct()
        ).all()
    )


# -- reads ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchView:
    batch: ClaimBatch
    submissions: list[tuple[ClaimSubmission, Claim]]


def get_batch(session: Session, actor: Principal, batch_id: uuid.UUID) -> BatchView:
    actor.require(Action.CLAIM_WRITE)
    repo = ClaimRepository(session)
    batch = repo.batch(batch_id)
    if batch is None:
        raise errors.BatchNotFound("No such claim batch")
    if not actor.sees_practice(batch.practice_id):
        raise out_of_scope(errors.BatchNotFound("No such claim batch"), "claim_batch", batch.id)
    audit.record_read(
        session,
        actor,
        "claim_batch:read",
        object_type="claim_batch",
        object_id=batch.id,
        practice_id=batch.practice_id,
    )
    return BatchView(batch, repo.submissions_in_batch(batch.id))


@dataclass(frozen=True)
class Rejection:
    claim: Claim
    event: ClaimEvent | None


def list_rejections(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None = None,
    payer_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Rejection]:
    """The rejection work queue: rejected claims with the latest rejection's reason and where
    in the file it was (segment, position), oldest claim first."""
    actor.require(Action.CLAIM_WRITE)
    limit = min(limit, MAX_LIMIT)
    repo = ClaimRepository(session)
    rows = repo.search(
        practice_ids=actor.practice_ids,
        practice_id=practice_id,
        statuses=["rejected"],
        payer_id=payer_id,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "claim:rejections", ((c.practice_id, c.patient_id) for c in page.items)
    )
    out = []
    for c in page.items:
        event = next(
            (
                e
                for e in reversed(repo.events_of(c.id))
                if e.kind == "transition" and e.to_status == "rejected"
            ),
            None,
        )
        out.append(Rejection(c, event))
    return Page(out, page.next_cursor)


# -- corrected and void claims ----------------------------------------------------------------
PAYER_HAS_IT = frozenset({"accepted", "adjudicated", "denied"})


def correct_claim(
    session: Session, actor: Principal, claim_id: uuid.UUID, *, frequency: str
) -> claims_service.ClaimView:
    """A replacement (frequency 7: the same lines, to be edited and sent) or a void (8) of a
    claim the payer has, as a new draft claim: ``replaces_claim_id`` the original, its own claim
    number, CLM01 and line control numbers, the original's lines. The original keeps its status
    until the payer answers (the 835 reverses and re-adjudicates)."""
    assert frequency in ("7", "8")
    original = claims_service.access_claim(
        session, actor, claim_id, Action.CLAIM_WRITE, for_update=True
    )
    what = "corrected" if frequency == "7" else "voided"
    if original.status not in PAYER_HAS_IT:
        raise errors.NotCorrectable(
            f"A {original.status} claim is not the payer's to replace: only accepted, "
            f"adjudicated or denied claims are {what} by a frequency-{frequency} claim",
            current=original.status,
        )
    if not original.payer_claim_number:
        raise errors.NotCorrectable(
            "The payer's claim number is not known yet (277CA REF*1K or 835 CLP07)",
            current=original.status,
        )
    repo = ClaimRepository(session)
    other = repo.live_replacement_of(original.id)
    if other is not None:
        raise errors.NotCorrectable(
            f"Claim {other.number} ({other.status}) already replaces this claim",
            claim_id=str(other.id),
        )
    made = claims_service.copy_claim(
        session,
        actor,
        original,
        frequency=frequency,
        primary_claim_id=original.primary_claim_id,
        replaces_claim_id=original.id,
        prior_authorization=original.prior_authorization,
        reason=f"frequency {frequency}: {what} claim {original.number}",
        detail={"replaces_claim_id": str(original.id), "frequency_code": frequency},
    )
    copy, lines, number = made.claim, made.lines, made.claim.number
    states.note(
        session,
        original,
        "replaced" if frequency == "7" else "voided_by",
        actor=actor,
        actor_kind=_actor_kind(actor),
        reason=f"claim {number} ({what}, frequency {frequency})",
        detail={"claim_id": str(copy.id), "frequency_code": frequency},
    )
    audit.record(
        session,
        actor,
        "claim.correct" if frequency == "7" else "claim.void_request",
        object_type="claim",
        object_id=copy.id,
        practice_id=copy.practice_id,
        detail={"replaces_claim_id": str(original.id), "frequency_code": frequency},
    )
    session.flush()
    return claims_service.ClaimView(copy, lines)


# -- acknowledgements ---------------------------------------------------------------------------
@dataclass
class InboundResult:
    files: int = 0
    acknowledged: int = 0
    accepted: int = 0
    rejected: int = 0
    noted: int = 0
    unmatched: int = 0
    unreadable: list[str] = field(default_factory=list)  # file ids left unacknowledged


@dataclass
class _Apply:
    session: Session
    actor: Principal
    file: InboundFile
    result: InboundResult

    @property
    def repo(self) -> ClaimRepository:
        return ClaimRepository(self.session)

    def _current(self, claim_id: uuid.UUID, submission_id: uuid.UUID) -> Claim | None:
        """The claim, locked, when this file was not applied to it yet and the submission it
        answers is its latest one."""
        repo = self.repo
        claim = _lock_claim(self.session, claim_id)
        latest = repo.latest_submission(claim.id)
        if latest is None or latest.id != submission_id:
            return None
        if any(e.detail.get("file_id") == self.file.file_id for e in repo.events_of(claim.id)):
            return None
        return claim

    def move(
        self,
        claim_id: uuid.UUID,
        submission_id: uuid.UUID,
        target: str | None,
        detail: dict[str, Any],
        reason: str,
        payer_claim_number: str | None = None,
    ) -> None:
        claim = self._current(claim_id, submission_id)
        if claim is None:
            return
        detail = {**detail, "file_id": self.file.file_id}
        if payer_claim_number:
            claim.payer_claim_number = payer_claim_number[:50]
        if target is not None and states.can_move(claim.status, target):
            states.transition(
                self.session,
                claim,
                target,
                actor=self.actor,
                actor_kind="payer",
                reason=reason[:300],
                detail=detail,
            )
            if target == "rejected":
                self.result.rejected += 1
            else:
                self.result.accepted += 1
        else:
            states.note(
                self.session,
                claim,
                "acknowledgement",
                actor=self.actor,
                actor_kind="payer",
                reason=reason[:300],
                detail=detail,
            )
            self.result.noted += 1


def _practice_of(session: Session, receiver_id: str) -> Practice | None:
    """Our ISA06 is the practice's NPI: the acknowledgement's ISA08 names it."""
    return session.scalar(select(Practice).where(Practice.npi == receiver_id.strip()))


def _set_rejection(s: acks.SetAck, sub: ClaimSubmission) -> tuple[dict[str, Any], str]:
    """The 999 detail for one claim of a rejected set: its own IK3 errors (by segment range or
    CTX CLM01), else the set's verdict."""
    mine = [e for e in s.segment_errors if sub.first_segment <= e.position <= sub.last_segment]
    codes = [f"IK5:{s.status}", *(f"IK5:{c}" for c in s.codes)]
    for e in mine:
        codes.append(f"IK3:{e.code}")
        codes.extend(f"IK4:{el.code}" for el in e.elements)
    first = mine[0] if mine else None
    if first is not None:
        parts = [f"{first.segment_id} at position {first.position}: {first.description}"]
        parts += [
            f"element {el.position}: {el.description}"
            + (f" ({el.bad_value!r})" if el.bad_value else "")
            for el in first.elements
        ]
        message = "; ".join(parts)
    else:
        verdict = acks.describe(acks.ACK_CODES, s.status)
        why = ", ".join(acks.describe(acks.SET_ERRORS, c) for c in s.codes)
        message = f"transaction set {s.control_number} {verdict.lower()}" + (
            f": {why}" if why else ""
        )
    detail = {
        "source": "999",
        "codes": codes,
        "message": message,
        "segment": first.segment_id if first else None,
        "position": first.position if first else None,
        "set_control_number": s.control_number,
    }
    return detail, f"999: {message}"


def _apply_999(a: _Apply, ack: acks.Ack999, receiver_id: str) -> None:
    practice = _practice_of(a.session, receiver_id)
    for g in ack.groups:
        batch = None
        if (
            practice is not None
            and g.group_control_number.isascii()
            and g.group_control_number.isdigit()
        ):
            batch = a.repo.batch_by_control_number(practice.id, int(g.group_control_number))
        if batch is None:
            a.result.unmatched += 1
            continue
        subs = a.repo.submissions_in_batch(batch.id)
        sets = g.sets or [
            acks.SetAck("837", sub.set_control_number, x.VERSION, g.status, list(g.codes))
            for sub in {s.set_control_number: s for s, _ in subs}.values()
        ]
        for s in sets:
            mine = [(sub, c) for sub, c in subs if sub.set_control_number == s.control_number]
            if not mine:
                a.result.unmatched += 1
            for sub, claim in mine:
                if s.accepted:
                    a.move(
                        claim.id,
                        sub.id,
                        None,
                        {"source": "999", "status": s.status},
                        f"999: transaction set {s.control_number} accepted",
                    )
                else:
                    detail, reason = _set_rejection(s, sub)
                    a.move(claim.id, sub.id, "rejected", detail, reason)


def _status_codes(statuses: Sequence[acks.Status]) -> list[str]:
    return [":".join(p for p in (st.category, st.code, st.entity) if p) for st in statuses]


def _status_message(statuses: Sequence[acks.Status]) -> str:
    parts = []
    for st in statuses:
        text = st.category_description
        if st.entity:
            text += f" ({st.entity_description or st.entity})"
        if st.message:
            text += f": {st.message}"
        parts.append(text)
    return "; ".join(parts)


# STC12 text that starts with where the error is in our 837: loop, segment and element
# ("2010BA DMG02 ..."), as clearinghouses write it.
_LOCATION = re.compile(r"(\d{4}[A-E]{0,2}) ([A-Z][A-Z0-9]{1,2})(\d{2})\b")


def _location(statuses: Sequence[acks.Status]) -> dict[str, Any]:
    """Where a 277CA rejection points: the 837 loop, segment and element named at the start of
    an STC12 text, else the STC segment itself (no position: a 277CA has no 837 positions)."""
    for st in statuses:
        m = _LOCATION.match(st.message or "")
        if m is not None:
            return {
                "segment": m.group(2),
                "position": None,
                "loop": m.group(1),
                "element": int(m.group(3)),
            }
    return {"segment": "STC", "position": None}


def _apply_277ca(a: _Apply, ack: acks.Ack277, receiver_id: str) -> None:
    batch = a.repo.batch_by_reference(ack.batch_trace) if ack.batch_trace else None
    practice_id = batch.practice_id if batch is not None else None
    if practice_id is None:
        practice = _practice_of(a.session, receiver_id)
        practice_id = practice.id if practice is not None else None
    in_batch = (
        {c.control_number: (sub, c) for sub, c in a.repo.submissions_in_batch(batch.id)}
        if batch is not None
        else {}
    )
    for c in ack.claims:
        found = in_batch.get(c.patient_control_number)
        if found is None and practice_id is not None:
            for claim in reversed(a.repo.by_control_number(practice_id, c.patient_control_number)):
                latest = a.repo.latest_submission(claim.id)
                if latest is not None:
                    found = (latest, claim)
                    break
        if found is None:
            a.result.unmatched += 1
            continue
        sub, claim = found
        codes = _status_codes(c.statuses)
        message = _status_message(c.statuses)
        outcome = c.outcome
        base = {"source": "277CA", "codes": codes, "message": message}
        if outcome == "rejected":
            detail = {**base, **_location(c.statuses)}
            a.move(claim.id, sub.id, "rejected", detail, f"277CA: {message}")
        elif outcome == "accepted":
            a.move(
                claim.id,
                sub.id,
                "accepted",
                {**base, "payer_claim_number": c.payer_claim_number},
                f"277CA: {message}",
                payer_claim_number=c.payer_claim_number,
            )
        else:
            a.move(claim.id, sub.id, None, {**base, "outcome": outcome}, f"277CA: {message}")


def apply_file(
    session: Session, actor: Principal, file: InboundFile, result: InboundResult
) -> None:
    """Apply one acknowledgement file in the caller's transaction. Raises :class:`X12Error` for
    a file that cannot be read (nothing applied)."""
    read = read_transactions(file.content)
    if read.errors:
        raise read.errors[0]
    a = _Apply(session, actor, file, result)
    parsed: list[tuple[str, acks.Ack999 | acks.Ack277]] = []
    for tx in read.transactions:
        receiver = tx.interchange.receiver_id
        if tx.set_id == "999":
            parsed.append((receiver, acks.parse_999_set(tx)))
        elif tx.set_id == "277":
            parsed.append((receiver, acks.parse_277ca_set(tx)))
    for receiver, ack in parsed:
        if isinstance(ack, acks.Ack999):
            _apply_999(a, ack, receiver)
        else:
            _apply_277ca(a, ack, receiver)
    session.flush()


def process_inbound(
    session_factory: sessionmaker[Session],
    client: ClearinghouseClient,
    *,
    actor: Principal | None = None,
    limit: int = 50,
) -> InboundResult:
    """Poll 999 and 277CA files, apply each in its own transaction, then acknowledge it. A file
    that cannot be read is left unacknowledged (listed in ``unreadable``, no PHI logged) for a
    person to look at; 835 files are not asked for."""
    actor = actor or Principal.system(username="clearinghouse")
    result = InboundResult()
    for file in client.poll_files(kinds=ACK_KINDS, limit=limit):
        if file.kind not in ACK_KINDS:
            continue
        result.files += 1
        try:
            with unit_of_work(session_factory) as s:
                apply_file(s, actor, file, result)
        except X12Error as exc:
            log.warning("acknowledgement file %s unreadable: %s", file.file_id, exc.code)
            result.unreadable.append(file.file_id)
            continue
        client.acknowledge_file(file.file_id)
        result.acknowledged += 1
    return result
