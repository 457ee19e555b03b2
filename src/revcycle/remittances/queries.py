"""Reading remittances (docs/remittance-posting.md, "API"): one posted 835 set with its claims,
and the lists of sets, the unmatched-claim queue and underpayments, each limited to the caller's
practices. Posting lives in :mod:`revcycle.remittances.service`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.claims.models import Claim
from revcycle.errors import out_of_scope
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.remittances import errors
from revcycle.remittances.models import (
    Remittance,
    RemittanceClaim,
    RemittanceUnmatched,
    Underpayment,
)
from revcycle.remittances.repository import RemittanceRepository


@dataclass(frozen=True)
class RemittanceView:
    remittance: Remittance
    claims: list[RemittanceClaim]


def get_remittance(session: Session, actor: Principal, remittance_id: uuid.UUID) -> RemittanceView:
    actor.require(Action.REMITTANCE_READ)
    repo = RemittanceRepository(session)
    rem = repo.get(remittance_id)
    if rem is None:
        raise errors.RemittanceNotFound("No such remittance")
    if not actor.sees_practice(rem.practice_id):
        raise out_of_scope(errors.RemittanceNotFound("No such remittance"), "remittance", rem.id)
    audit.record_read(
        session,
        actor,
        "remittance:read",
        object_type="remittance",
        object_id=rem.id,
        practice_id=rem.practice_id,
    )
    return RemittanceView(rem, repo.claims_of(rem.id))


def _scope(actor: Principal) -> None:
    """Lists are filtered to the caller's practices (another practice's id lists nothing)."""
    actor.require(Action.REMITTANCE_READ)


def list_remittances(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> Page[Remittance]:
    _scope(actor)
    limit = min(limit, MAX_LIMIT)
    rows = RemittanceRepository(session).search(
        practice_ids=actor.practice_ids,
        practice_id=practice_id,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    return page_by_id(list(rows), limit)


def list_unmatched(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[tuple[RemittanceUnmatched, RemittanceClaim]]:
    _scope(actor)
    limit = min(limit, MAX_LIMIT)
    rows = RemittanceRepository(session).unmatched(
        practice_ids=actor.practice_ids,
        practice_id=practice_id,
        status=status,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    return page_by_id(list(rows), limit, key=lambda r: r[0].id)


def list_underpayments(
    session: Session,
    actor: Principal,
    *,
    practice_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Underpayment]:
    _scope(actor)
    limit = min(limit, MAX_LIMIT)
    rows = RemittanceRepository(session).underpayments(
        practice_ids=actor.practice_ids,
        practice_id=practice_id,
        status=status,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    page = page_by_id(list(rows), limit)
    if page.items:
        claims = {
            c.id: c
            for c in session.scalars(
                select(Claim).where(Claim.id.in_([u.claim_id for u in page.items]))
            )
        }
        audit.record_list_read(
            session,
            actor,
            "remittance:underpayments",
            ((u.practice_id, claims[u.claim_id].patient_id) for u in page.items),
        )
    return page
