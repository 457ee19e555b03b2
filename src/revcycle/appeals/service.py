"""Use-cases for appeals: open one from a denial, send it, record the payer's decision (and
post the money a lost appeal moves), attach files, read them (docs/denials-appeals.md).

Lock order (extends docs/claims.md): invoice -> claim -> appeal. Opening an appeal locks the
claim (its status moves to ``appealed``); recording an outcome locks the invoice first because a
lost appeal may post to its receivables and refresh its status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from revcycle.appeals import errors
from revcycle.appeals.models import Appeal, AppealAttachment, AppealEvent
from revcycle.appeals.repository import AppealRepository
from revcycle.appeals.schemas import AppealCreate, AppealOutcomeIn, AttachmentCreate
from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims import denials, states
from revcycle.claims.models import Claim, ClaimEvent
from revcycle.claims.repository import ClaimRepository
from revcycle.claims.service import access_claim
from revcycle.errors import out_of_scope
from revcycle.insurance.models import Payer
from revcycle.invoices import service as invoices_service
from revcycle.kit.clock import today, utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode, EntryKind
from revcycle.money import Money

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024
MAX_ATTACHMENTS = 20
# The first bytes each accepted type must start with (the declared type is checked, not trusted).
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}
DECIDED = frozenset({"won", "lost", "partially_won"})
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class AppealView:
    appeal: Appeal
    attachments: list[AppealAttachment]
    events: list[AppealEvent]


def view(session: Session, appeal: Appeal) -> AppealView:
    repo = AppealRepository(session)
    return AppealView(appeal, repo.attachments_of(appeal.id), repo.events_of(appeal.id))


def access_appeal(
    session: Session,
    actor: Principal,
    appeal_id: uuid.UUID,
    action: Action = Action.CLAIM_READ,
    *,
    for_update: bool = False,
) -> Appeal:
    actor.require(action)
    appeal = AppealRepository(session).get(appeal_id, for_update=for_update)
    if appeal is None:
        raise errors.AppealNotFound("No such appeal")
    if not actor.sees_patient(appeal.practice_id, appeal.patient_id):
        raise out_of_scope(errors.AppealNotFound("No such appeal"), "appeal", appeal.id)
    return appeal


def _event(
    session: Session,
    appeal: Appeal,
    kind: str,
    actor: Principal,
    *,
    from_status: str | None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AppealEvent:
    event = AppealEvent(
        appeal_id=appeal.id,
        kind=kind,
        from_status=from_status,
        to_status=appeal.status,
        actor_user_id=actor.user_id,
        actor_kind="user" if actor.user_id else "system",
        note=note,
        detail=detail or {},
        at=utcnow(),
    )
    session.add(event)
    return event


def _denial_for_level(session: Session, claim: Claim, level: int) -> denials.Denial:
    """The denial a new appeal at ``level`` appeals (refusing what cannot be appealed)."""
    repo = AppealRepository(session)
    existing = {a.level: a for a in repo.of_claim(claim.id)}
    if level in existing:
        raise errors.AppealExists(
            f"This claim already has a level {level} appeal",
            appeal_id=str(existing[level].id),
            status_now=existing[level].status,
        )
    if level == 2 and (1 not in existing or existing[1].status != "lost"):
        raise errors.LevelOrder(
            "A second-level appeal follows a lost first-level appeal",
            level=level,
        )
    denial = denials.denial_of(session, claim)
    if denial is None:
        raise errors.ClaimNotDenied(
            f"A claim that is {claim.status} has no denial to appeal (denied claims, and "
            "adjudicated claims with denied lines, can be appealed)",
            claim_status=claim.status,
        )
    if level == 1 and denial.appeal_decided_on is not None:
        raise errors.LevelOrder("This denial was already appealed once", level=level)
    return denial


def create_appeal(session: Session, actor: Principal, data: AppealCreate) -> AppealView:
    """Open an appeal of a denied claim: the claim moves to ``appealed``. The deadline is the
    adjudication date (a lost first level's decision date for level 2) plus the payer's appeal
    window; after it the appeal needs a ``late_reason``."""
    claim = access_claim(session, actor, data.claim_id, Action.APPEAL_WRITE, for_update=True)
    denial = _denial_for_level(session, claim, data.level)
    day = today()
    if day > denial.deadline and not data.late_reason:
        raise errors.PastDeadline(
            f"The payer's appeal window closed on {denial.deadline.isoformat()}; give a "
            "late_reason to file anyway",
            deadline=denial.deadline.isoformat(),
        )
    appeal = Appeal(
        practice_id=claim.practice_id,
        patient_id=claim.patient_id,
        claim_id=claim.id,
        payer_id=claim.payer_id,
        level=data.level,
        status="draft",
        denial_event_id=denial.event.id,
        claim_status_before=claim.status,
        adjudicated_on=denial.adjudicated_on,
        deadline=denial.deadline,
        late_reason=data.late_reason,
        argument=data.argument,
        currency=claim.currency,
        at_stake_minor=denial.at_stake_minor,
        created_by=actor.user_id,
    )
    session.add(appeal)
    session.flush()
    states.transition(
        session,
        claim,
        "appealed",
        actor=actor,
        actor_kind="user",
        reason=f"level {data.level} appeal opened",
        detail={"appeal_id": str(appeal.id), "level": data.level},
    )
    _event(
        session,
        appeal,
        "created",
        actor,
        from_status=None,
        detail={"level": data.level, "late": day > denial.deadline},
    )
    audit.record(
        session,
        actor,
        "appeal.create",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        detail={"claim_id": str(claim.id), "level": str(data.level)},
    )
    session.flush()
    return view(session, appeal)


def get_appeal(session: Session, actor: Principal, appeal_id: uuid.UUID) -> AppealView:
    appeal = access_appeal(session, actor, appeal_id)
    audit.record_read(
        session,
        actor,
        "appeal:read",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
    )
    return view(session, appeal)


def list_appeals(
    session: Session,
    actor: Principal,
    *,
    claim_id: uuid.UUID | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AppealView]:
    actor.require(Action.CLAIM_READ)
    limit = min(limit, MAX_LIMIT)
    rows = AppealRepository(session).search(
        practice_ids=actor.practice_ids,
        patient_ids=actor.patient_ids if actor.is_patient else None,
        claim_id=claim_id,
        status=status,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "appeal:list", ((a.practice_id, a.patient_id) for a in page.items)
    )
    return Page([view(session, a) for a in page.items], page.next_cursor)


def send_appeal(session: Session, actor: Principal, appeal_id: uuid.UUID) -> AppealView:
    """Mark the appeal sent to the payer (the letter and attachments went out)."""
    appeal = access_appeal(session, actor, appeal_id, Action.APPEAL_WRITE, for_update=True)
    if appeal.status != "draft":
        raise errors.IllegalAppealStatus(
            f"An appeal that is {appeal.status} cannot be sent", status_now=appeal.status
        )
    appeal.status = "sent"
    appeal.sent_on = today()
    appeal.updated_at = utcnow()
    _event(session, appeal, "status", actor, from_status="draft")
    audit.record(
        session,
        actor,
        "appeal.send",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        fields=["status"],
    )
    session.flush()
    return view(session, appeal)


def _expected(appeal: Appeal, data: AppealOutcomeIn) -> int | None:
    if data.outcome == "lost":
        if data.expected_amount is not None:
            raise errors.InvalidAppeal("A lost appeal has no expected amount")
        return None
    if data.lost_action != "none":
        raise errors.InvalidAppeal("lost_action applies to lost appeals only")
    if data.expected_amount is None:
        if data.outcome == "partially_won":
            raise errors.InvalidAppeal("A partially won appeal needs the expected amount")
        return appeal.at_stake_minor
    expected = Money.parse(data.expected_amount, appeal.currency).amount_minor
    stake = Money(appeal.at_stake_minor, appeal.currency)
    if data.outcome == "won" and expected != appeal.at_stake_minor:
        raise errors.InvalidAppeal(
            f"A won appeal expects the amount at stake ({stake.format()}); record a partial win "
            "for less",
            at_stake=stake.format(),
        )
    if data.outcome == "partially_won" and not 0 < expected < appeal.at_stake_minor:
        raise errors.InvalidAppeal(
            f"A partial win expects more than nothing and less than {stake.format()}",
            at_stake=stake.format(),
        )
    return expected


def _post_lost(
    session: Session, actor: Principal, appeal: Appeal, claim: Claim, action: str
) -> tuple[uuid.UUID | None, int]:
    """A lost appeal's money: what is still in insurance receivables for the amount at stake
    goes to contractual adjustments (write_off) or to the patient (patient)."""
    available = AppealRepository(session).insurance_ar(claim.invoice_id)
    amount_minor = max(min(appeal.at_stake_minor, available), 0)
    if amount_minor == 0:
        return None, 0
    amount = Money(amount_minor, claim.currency)
    dims = {"patient_id": claim.patient_id, "invoice_id": claim.invoice_id}
    if action == "write_off":
        kind = EntryKind.CLAIM_ADJUSTMENT.value
        target = AccountCode.CONTRACTUAL_ADJUSTMENTS
        debit = ledger.debit(target, amount)
    else:
        kind = EntryKind.CLAIM_PATIENT_RESPONSIBILITY.value
        debit = ledger.debit(AccountCode.PATIENT_AR, amount, **dims)
    entry_id = ledger.post_entry(
        session,
        ledger.EntrySpec(
            practice_id=claim.practice_id,
            kind=kind,
            legs=[debit, ledger.credit(AccountCode.INSURANCE_AR, amount, **dims)],
            effective_date=today(),
            memo=f"claim {claim.control_number} appeal lost ({action})",
            created_by=actor.user_id,
            source_type="appeal",
            source_id=appeal.id,
        ),
    )
    return entry_id, amount_minor


def record_outcome(
    session: Session, actor: Principal, appeal_id: uuid.UUID, data: AppealOutcomeIn
) -> AppealView:
    """The payer's decision. Won / partially won: the claim goes back to ``adjudicated`` to
    await the payer's new 835, with the expected amount recorded. Lost: the claim goes back to
    where it was, ``denied`` or ``adjudicated`` (a second level may follow), or is ``closed``
    with the amount at stake written off (``claim.adjustment``) or moved to the patient
    (``claim.patient_responsibility``)."""
    first = access_appeal(session, actor, appeal_id, Action.APPEAL_WRITE)
    claim_peek = ClaimRepository(session).get(first.claim_id)
    assert claim_peek is not None
    invoice = invoices_service.access_invoice(
        session, actor, claim_peek.invoice_id, Action.APPEAL_WRITE, for_update=True
    )
    claim = ClaimRepository(session).get(first.claim_id, for_update=True)
    assert claim is not None
    appeal = access_appeal(session, actor, appeal_id, Action.APPEAL_WRITE, for_update=True)
    if appeal.status != "sent":
        raise errors.IllegalAppealStatus(
            f"An appeal that is {appeal.status} cannot take an outcome (send it first; a "
            "decided appeal stays decided)",
            status_now=appeal.status,
        )
    if claim.status != "appealed":
        raise errors.IllegalAppealStatus(
            f"The claim is {claim.status}, not appealed", claim_status=claim.status
        )
    expected = _expected(appeal, data)
    day = today()
    entry_id: uuid.UUID | None = None
    moved = 0
    detail: dict[str, Any] = {
        "appeal_id": str(appeal.id),
        "level": appeal.level,
        "outcome": data.outcome,
    }
    if data.outcome in ("won", "partially_won"):
        assert expected is not None
        detail.update({"expected_minor": expected, "awaiting": "835"})
        states.transition(
            session,
            claim,
            "adjudicated",
            actor=actor,
            actor_kind="user",
            reason=f"appeal {data.outcome.replace('_', ' ')}: awaiting the payer's new 835",
            detail=detail,
        )
    elif data.lost_action == "none":
        # The decision stands: the claim goes back where it was (denied, or adjudicated with
        # denied lines) and the queue shows it again, with the second level's window.
        original = session.get(ClaimEvent, appeal.denial_event_id)
        assert original is not None
        copy = {k: v for k, v in (original.detail or {}).items() if k not in ("appeal_decided_on",)}
        copy.update(detail)
        copy["appeal_decided_on"] = day.isoformat()
        states.transition(
            session,
            claim,
            appeal.claim_status_before,
            actor=actor,
            actor_kind="user",
            reason=f"level {appeal.level} appeal lost",
            detail=copy,
        )
    else:
        entry_id, moved = _post_lost(session, actor, appeal, claim, data.lost_action)
        detail.update(
            {
                "lost_action": data.lost_action,
                "amount_minor": moved,
                "entry_id": None if entry_id is None else str(entry_id),
            }
        )
        states.transition(
            session,
            claim,
            "closed",
            actor=actor,
            actor_kind="user",
            reason=f"level {appeal.level} appeal lost ({data.lost_action.replace('_', ' ')})",
            detail=detail,
        )
        if entry_id is not None:
            invoices_service.refresh_status(session, invoice)
    before = appeal.status
    appeal.status = data.outcome
    appeal.expected_minor = expected
    appeal.lost_action = data.lost_action if data.outcome == "lost" else None
    appeal.outcome_entry_id = entry_id
    appeal.decided_on = day
    appeal.updated_at = utcnow()
    _event(
        session,
        appeal,
        "status",
        actor,
        from_status=before,
        note=data.note,
        detail={
            "expected_minor": expected,
            "lost_action": appeal.lost_action,
            "amount_moved_minor": moved,
        },
    )
    audit.record(
        session,
        actor,
        f"appeal.{data.outcome}",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        fields=["status"],
        detail={"claim_id": str(claim.id)},
    )
    session.flush()
    return view(session, appeal)


# -- attachments -----------------------------------------------------------------------------------
def _decode(data: AttachmentCreate) -> bytes:
    try:
        content = base64.b64decode(data.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidAttachment("content_base64 is not valid base64") from None
    if not content:
        raise errors.InvalidAttachment("The file is empty")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise errors.InvalidAttachment(
            f"The file is {len(content)} bytes; attachments are at most {MAX_ATTACHMENT_BYTES}",
            size_bytes=len(content),
            limit=MAX_ATTACHMENT_BYTES,
        )
    magic = MAGIC.get(data.content_type)
    if magic is not None and not content.startswith(magic):
        raise errors.InvalidAttachment(
            f"The file is not a {data.content_type} (its first bytes do not match)"
        )
    if data.content_type == "text/plain":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidAttachment("A text/plain file must be UTF-8 text") from None
        if CONTROL.search(text):
            raise errors.InvalidAttachment("A text/plain file must not hold control characters")
    return content


def add_attachment(
    session: Session, actor: Principal, appeal_id: uuid.UUID, data: AttachmentCreate
) -> AppealAttachment:
    """Attach a small file to an undecided appeal. The same bytes twice are one attachment (the
    first one is answered)."""
    appeal = access_appeal(session, actor, appeal_id, Action.APPEAL_WRITE, for_update=True)
    if appeal.status in DECIDED:
        raise errors.IllegalAppealStatus(
            f"An appeal that is {appeal.status} takes no more attachments",
            status_now=appeal.status,
        )
    content = _decode(data)
    digest = hashlib.sha256(content).hexdigest()
    repo = AppealRepository(session)
    existing = repo.attachment_by_hash(appeal.id, digest)
    if existing is not None:
        return existing
    if repo.attachment_count(appeal.id) >= MAX_ATTACHMENTS:
        raise errors.InvalidAttachment(
            f"An appeal has at most {MAX_ATTACHMENTS} attachments", limit=MAX_ATTACHMENTS
        )
    row = AppealAttachment(
        appeal_id=appeal.id,
        filename=data.filename,
        content_type=data.content_type,
        size_bytes=len(content),
        sha256=digest,
        content=base64.b64encode(content).decode("ascii"),
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    _event(
        session,
        appeal,
        "attachment",
        actor,
        from_status=appeal.status,
        detail={"attachment_id": str(row.id), "sha256": digest, "size_bytes": len(content)},
    )
    audit.record(
        session,
        actor,
        "appeal.attach",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        detail={"attachment_id": str(row.id)},
    )
    session.flush()
    return row


def get_attachment(
    session: Session, actor: Principal, appeal_id: uuid.UUID, attachment_id: uuid.UUID
) -> tuple[AppealAttachment, bytes]:
    appeal = access_appeal(session, actor, appeal_id)
    row = AppealRepository(session).attachment(attachment_id)
    if row is None or row.appeal_id != appeal.id:
        raise errors.AttachmentNotFound("No such attachment on this appeal")
    audit.record_read(
        session,
        actor,
        "appeal:attachment",
        object_type="appeal",
        object_id=appeal.id,
        practice_id=appeal.practice_id,
        detail={"attachment_id": str(row.id)},
    )
    return row, base64.b64decode(row.content)


def payer_of(session: Session, appeal: Appeal) -> Payer:
    payer = session.get(Payer, appeal.payer_id)
    assert payer is not None
    return payer
