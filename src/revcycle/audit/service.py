"""audit.record(): one row per change (and per read of a patient's financial record), written in
the caller's transaction. Field names only, never PHI values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from revcycle.audit.models import AuditEvent
from revcycle.auth.principal import Principal


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    object_type: str,
    object_id: uuid.UUID | str | None,
    practice_id: uuid.UUID | None,
    fields: Iterable[str] = (),
) -> None:
    session.add(
        AuditEvent(
            actor_user_id=actor.user_id,
            actor_role=actor.role.value,
            practice_id=practice_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id is not None else None,
            fields=sorted(set(fields)),
            request_id=actor.request_id,
            client_addr=actor.client_addr,
        )
    )
