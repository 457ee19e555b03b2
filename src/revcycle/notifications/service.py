"""The patient-notification outbox: ``enqueue`` in the same transaction as the event, ``list``
for staff (patients: their own). Sending is out of scope; a sender marks rows ``sent``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.kit.ids import uuid7
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.notifications.models import Notification

PayloadValue = str | int | bool | None


def enqueue(
    session: Session,
    *,
    practice_id: uuid.UUID,
    patient_id: uuid.UUID,
    kind: str,
    dedupe_key: str,
    payload: Mapping[str, PayloadValue],
) -> Notification:
    """One notification per ``dedupe_key`` (the event's identity): enqueuing twice is a no-op.
    ``payload`` carries ids, amounts, dates and codes only -- never names or contact details."""
    existing = session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    row = Notification(
        id=uuid7(),
        practice_id=practice_id,
        patient_id=patient_id,
        kind=kind,
        template=f"{kind}.v1",
        payload=dict(payload),
        status="pending",
        dedupe_key=dedupe_key,
    )
    session.add(row)
    session.flush()
    return row


def list_notifications(
    session: Session,
    actor: Principal,
    *,
    patient_id: uuid.UUID | None,
    practice_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Notification]:
    actor.require(Action.PLAN_READ)
    limit = min(limit, MAX_LIMIT)
    q = select(Notification).order_by(Notification.id.desc()).limit(limit + 1)
    if actor.is_patient:
        q = q.where(Notification.patient_id.in_(actor.patient_ids))
    elif actor.practice_ids is not None:
        q = q.where(Notification.practice_id.in_(actor.practice_ids))
    if patient_id is not None:
        q = q.where(Notification.patient_id == patient_id)
    if practice_id is not None:
        q = q.where(Notification.practice_id == practice_id)
    if status is not None:
        q = q.where(Notification.status == status)
    before = parse_cursor_uuid(after_id(cursor))
    if before is not None:
        q = q.where(Notification.id < before)
    rows: Sequence[Notification] = session.scalars(q).all()
    page = page_by_id(list(rows), limit)
    audit.record_list_read(
        session, actor, "notification:list", ((n.practice_id, n.patient_id) for n in page.items)
    )
    return page
