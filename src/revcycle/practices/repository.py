"""All SQL for practices, providers and the charge master."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from revcycle.practices.models import Practice, Provider, ServiceItem


class PracticeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, practice_id: uuid.UUID) -> Practice | None:
        return self.session.get(Practice, practice_id)

    def by_npi(self, npi: str) -> Practice | None:
        return self.session.scalar(select(Practice).where(Practice.npi == npi))

    def search(
        self, practice_ids: frozenset[uuid.UUID] | None, *, after: uuid.UUID | None, limit: int
    ) -> Sequence[Practice]:
        q = select(Practice).order_by(Practice.id).limit(limit)
        if practice_ids is not None:
            q = q.where(Practice.id.in_(practice_ids))
        if after is not None:
            q = q.where(Practice.id > after)
        return self.session.scalars(q).all()

    def get_provider(self, provider_id: uuid.UUID) -> Provider | None:
        return self.session.get(Provider, provider_id)

    def provider_by_npi(self, practice_id: uuid.UUID, npi: str) -> Provider | None:
        return self.session.scalar(
            select(Provider).where(Provider.practice_id == practice_id, Provider.npi == npi)
        )

    def list_providers(
        self, practice_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> Sequence[Provider]:
        q = (
            select(Provider)
            .where(Provider.practice_id == practice_id)
            .order_by(Provider.id)
            .limit(limit)
        )
        if after is not None:
            q = q.where(Provider.id > after)
        return self.session.scalars(q).all()

    def get_item(self, item_id: uuid.UUID) -> ServiceItem | None:
        return self.session.get(ServiceItem, item_id)

    def items_for(
        self, practice_id: uuid.UUID, code: str, modifier_key: str
    ) -> Sequence[ServiceItem]:
        return self.session.scalars(
            select(ServiceItem).where(
                ServiceItem.practice_id == practice_id,
                ServiceItem.code == code,
                ServiceItem.modifier_key == modifier_key,
            )
        ).all()

    def price_on(
        self, practice_id: uuid.UUID, code: str, modifier_key: str, on: dt.date
    ) -> ServiceItem | None:
        return self.session.scalar(
            select(ServiceItem).where(
                ServiceItem.practice_id == practice_id,
                ServiceItem.code == code,
                ServiceItem.modifier_key == modifier_key,
                ServiceItem.effective_from <= on,
                or_(ServiceItem.effective_to.is_(None), ServiceItem.effective_to >= on),
            )
        )

    def list_items(
        self,
        practice_id: uuid.UUID,
        *,
        code: str | None,
        active_on: dt.date | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> Sequence[ServiceItem]:
        q = (
            select(ServiceItem)
            .where(ServiceItem.practice_id == practice_id)
            .order_by(ServiceItem.id)
            .limit(limit)
        )
        if code is not None:
            q = q.where(ServiceItem.code == code)
        if active_on is not None:
            q = q.where(
                ServiceItem.effective_from <= active_on,
                or_(ServiceItem.effective_to.is_(None), ServiceItem.effective_to >= active_on),
            )
        if after is not None:
            q = q.where(ServiceItem.id > after)
        return self.session.scalars(q).all()
