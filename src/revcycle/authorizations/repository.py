"""All SQL for prior authorisations, their services and usages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from revcycle.authorizations.models import Authorization, AuthorizationService, AuthorizationUsage


class AuthorizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, auth_id: uuid.UUID, *, for_update: bool = False) -> Authorization | None:
        q = select(Authorization).where(Authorization.id == auth_id)
        return self.session.scalar(q.with_for_update() if for_update else q)

    def services_of(
        self, auth_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[AuthorizationService]]:
        out: dict[uuid.UUID, list[AuthorizationService]] = {a: [] for a in auth_ids}
        if auth_ids:
            rows = self.session.scalars(
                select(AuthorizationService)
                .where(AuthorizationService.authorization_id.in_(auth_ids))
                .order_by(AuthorizationService.code)
            )
            for row in rows:
                out[row.authorization_id].append(row)
        return out

    def usages_of(self, auth_id: uuid.UUID) -> Sequence[AuthorizationUsage]:
        return self.session.scalars(
            select(AuthorizationUsage)
            .where(AuthorizationUsage.authorization_id == auth_id)
            .order_by(AuthorizationUsage.id)
        ).all()

    def search(
        self,
        *,
        practice_ids: frozenset[uuid.UUID] | None,
        practice_id: uuid.UUID | None,
        patient_id: uuid.UUID | None,
        statuses: Sequence[str] | None,
        after: uuid.UUID | None,
        limit: int | None,
    ) -> Sequence[Authorization]:
        q = select(Authorization).order_by(Authorization.id)
        if practice_ids is not None:
            q = q.where(Authorization.practice_id.in_(practice_ids))
        if practice_id is not None:
            q = q.where(Authorization.practice_id == practice_id)
        if patient_id is not None:
            q = q.where(Authorization.patient_id == patient_id)
        if statuses is not None:
            q = q.where(Authorization.status.in_(statuses))
        if after is not None:
            q = q.where(Authorization.id > after)
        if limit is not None:
            q = q.limit(limit)
        return self.session.scalars(q).all()

    def candidates(
        self, patient_id: uuid.UUID, code: str, *, lock: bool
    ) -> Sequence[tuple[AuthorizationService, Authorization]]:
        """The patient's authorisation services for ``code``; with ``lock``, only approved ones,
        locked (service and authorisation rows) in service-id order."""
        q = (
            select(AuthorizationService, Authorization)
            .join(Authorization, Authorization.id == AuthorizationService.authorization_id)
            .where(Authorization.patient_id == patient_id, AuthorizationService.code == code)
            .order_by(AuthorizationService.id)
        )
        if lock:
            q = q.where(Authorization.status == "approved").with_for_update()
        return [(row[0], row[1]) for row in self.session.execute(q)]

    def usage_by_ref(
        self, charge_ref: str, *, for_update: bool = False
    ) -> AuthorizationUsage | None:
        q = select(AuthorizationUsage).where(AuthorizationUsage.charge_ref == charge_ref)
        return self.session.scalar(q.with_for_update() if for_update else q)

    def get_service(
        self, service_id: uuid.UUID, *, for_update: bool = False
    ) -> AuthorizationService | None:
        q = select(AuthorizationService).where(AuthorizationService.id == service_id)
        return self.session.scalar(q.with_for_update() if for_update else q)
