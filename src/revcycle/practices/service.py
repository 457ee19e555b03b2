"""Use-cases for practices, providers and the charge master."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.models import UserPractice
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.invoices.models import InvoiceSequence
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import MAX_LIMIT, Page, after_id, page_by_id
from revcycle.kit.patch import apply_changes
from revcycle.kit.uuids import parse_cursor_uuid
from revcycle.ledger import service as ledger
from revcycle.money import Money
from revcycle.practices import errors
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.practices.repository import PracticeRepository
from revcycle.practices.schemas import (
    PracticeCreate,
    PracticeUpdate,
    ProviderCreate,
    ProviderUpdate,
    ServiceItemCreate,
    ServiceItemUpdate,
)


def create_practice(session: Session, actor: Principal, data: PracticeCreate) -> Practice:
    actor.require(Action.PRACTICE_CREATE)
    repo = PracticeRepository(session)
    if repo.by_npi(data.npi) is not None:
        raise errors.DuplicateNpi("A practice with this NPI already exists", npi=data.npi)
    practice = Practice(**data.model_dump())
    if data.default_terms.value == "due_on_receipt":
        practice.default_terms_days = None
    session.add(practice)
    session.flush()
    ledger.create_chart(session, practice.id)
    session.add(InvoiceSequence(practice_id=practice.id, last_number=0))
    if actor.user_id is not None:
        session.add(UserPractice(user_id=actor.user_id, practice_id=practice.id))
    audit.record(
        session,
        actor,
        "practice:create",
        object_type="practice",
        object_id=practice.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
    )
    return practice


def get_practice(session: Session, actor: Principal, practice_id: uuid.UUID) -> Practice:
    actor.require(Action.PRACTICE_READ)
    practice = PracticeRepository(session).get(practice_id)
    if practice is None:
        raise errors.PracticeNotFound("No such practice")
    if not _sees(actor, practice.id):
        raise out_of_scope(errors.PracticeNotFound("No such practice"), "practice", practice.id)
    return practice


def _sees(actor: Principal, practice_id: uuid.UUID) -> bool:
    if actor.is_patient:
        return practice_id in actor.practice_ids if actor.practice_ids is not None else False
    return actor.sees_practice(practice_id)


def list_practices(
    session: Session, actor: Principal, *, cursor: str | None, limit: int
) -> Page[Practice]:
    actor.require(Action.PRACTICE_READ)
    rows = PracticeRepository(session).search(
        actor.practice_ids,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=min(limit, MAX_LIMIT) + 1,
    )
    return page_by_id(list(rows), min(limit, MAX_LIMIT))


def update_practice(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: PracticeUpdate
) -> Practice:
    actor.require(Action.PRACTICE_UPDATE)
    practice = get_practice(session, actor, practice_id)
    changes = data.model_dump(exclude_unset=True)
    apply_changes(practice, changes)
    if practice.default_terms == "net" and practice.default_terms_days is None:
        from revcycle.errors import InvalidInput

        raise InvalidInput("net terms need default_terms_days", code="practice.terms_invalid")
    practice.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "practice:update",
        object_type="practice",
        object_id=practice.id,
        practice_id=practice.id,
        fields=changes,
    )
    return practice


# providers ---------------------------------------------------------------------------------


def create_provider(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: ProviderCreate
) -> Provider:
    actor.require(Action.PROVIDER_WRITE)
    practice = get_practice(session, actor, practice_id)
    repo = PracticeRepository(session)
    if repo.provider_by_npi(practice.id, data.npi) is not None:
        raise errors.DuplicateNpi(
            "This practice already has a provider with this NPI",
            code="provider.npi_taken",
            npi=data.npi,
        )
    provider = Provider(practice_id=practice.id, **data.model_dump())
    session.add(provider)
    session.flush()
    audit.record(
        session,
        actor,
        "provider:create",
        object_type="provider",
        object_id=provider.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
    )
    return provider


def get_provider(session: Session, actor: Principal, provider_id: uuid.UUID) -> Provider:
    actor.require(Action.PROVIDER_READ)
    provider = PracticeRepository(session).get_provider(provider_id)
    if provider is None:
        raise errors.ProviderNotFound("No such provider")
    if not actor.sees_practice(provider.practice_id):
        raise out_of_scope(errors.ProviderNotFound("No such provider"), "provider", provider.id)
    return provider


def update_provider(
    session: Session, actor: Principal, provider_id: uuid.UUID, data: ProviderUpdate
) -> Provider:
    actor.require(Action.PROVIDER_WRITE)
    provider = get_provider(session, actor, provider_id)
    changes = data.model_dump(exclude_unset=True)
    apply_changes(provider, changes)
    provider.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "provider:update",
        object_type="provider",
        object_id=provider.id,
        practice_id=provider.practice_id,
        fields=changes,
    )
    return provider


def list_providers(
    session: Session, actor: Principal, practice_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[Provider]:
    actor.require(Action.PROVIDER_READ)
    practice = get_practice(session, actor, practice_id)
    limit = min(limit, MAX_LIMIT)
    rows = PracticeRepository(session).list_providers(
        practice.id, after=parse_cursor_uuid(after_id(cursor)), limit=limit + 1
    )
    return page_by_id(list(rows), limit)


# charge master -----------------------------------------------------------------------------


def _overlaps(a_from: dt.date, a_to: dt.date | None, b_from: dt.date, b_to: dt.date | None) -> bool:
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


def create_service_item(
    session: Session, actor: Principal, practice_id: uuid.UUID, data: ServiceItemCreate
) -> ServiceItem:
    actor.require(Action.CATALOG_WRITE)
    practice = get_practice(session, actor, practice_id)
    price = Money.parse(data.price, practice.currency)
    key = ":".join(data.modifiers)
    repo = PracticeRepository(session)
    for other in repo.items_for(practice.id, data.code, key):
        if _overlaps(
            data.effective_from, data.effective_to, other.effective_from, other.effective_to
        ):
            raise errors.OverlappingPrice(
                f"{data.code} already has a price effective {other.effective_from} to "
                f"{other.effective_to or 'open-ended'}; close that window first",
                existing_id=str(other.id),
            )
    item = ServiceItem(
        practice_id=practice.id,
        code=data.code,
        modifier_key=key,
        description=data.description,
        price_minor=price.amount_minor,
        currency=price.currency,
        effective_from=data.effective_from,
        effective_to=data.effective_to,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor,
        "catalog:create",
        object_type="service_item",
        object_id=item.id,
        practice_id=practice.id,
        fields=data.model_fields_set,
    )
    return item


def get_service_item(session: Session, actor: Principal, item_id: uuid.UUID) -> ServiceItem:
    actor.require(Action.CATALOG_READ)
    item = PracticeRepository(session).get_item(item_id)
    if item is None:
        raise errors.ServiceItemNotFound("No such service item")
    if not actor.sees_practice(item.practice_id):
        raise out_of_scope(
            errors.ServiceItemNotFound("No such service item"), "service_item", item.id
        )
    return item


def update_service_item(
    session: Session, actor: Principal, item_id: uuid.UUID, data: ServiceItemUpdate
) -> ServiceItem:
    """Prices are never edited in place (history matters); a window can be closed, and the
    description corrected. A new price is a new item with a later ``effective_from``."""
    actor.require(Action.CATALOG_WRITE)
    item = get_service_item(session, actor, item_id)
    changes = data.model_dump(exclude_unset=True)
    if "effective_to" in changes:
        new_to = changes["effective_to"]
        if new_to is not None and new_to < item.effective_from:
            raise errors.PriceChangeRefused(
                "effective_to is before effective_from", code="service_item.window_invalid"
            )
        for other in PracticeRepository(session).items_for(
            item.practice_id, item.code, item.modifier_key
        ):
            if other.id != item.id and _overlaps(
                item.effective_from, new_to, other.effective_from, other.effective_to
            ):
                raise errors.OverlappingPrice(
                    "The new window overlaps another price", existing_id=str(other.id)
                )
    apply_changes(item, changes)
    item.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "catalog:update",
        object_type="service_item",
        object_id=item.id,
        practice_id=item.practice_id,
        fields=changes,
    )
    return item


def list_service_items(
    session: Session,
    actor: Principal,
    practice_id: uuid.UUID,
    *,
    code: str | None,
    active_on: dt.date | None,
    cursor: str | None,
    limit: int,
) -> Page[ServiceItem]:
    actor.require(Action.CATALOG_READ)
    practice = get_practice(session, actor, practice_id)
    limit = min(limit, MAX_LIMIT)
    rows = PracticeRepository(session).list_items(
        practice.id,
        code=code,
        active_on=active_on,
        after=parse_cursor_uuid(after_id(cursor)),
        limit=limit + 1,
    )
    return page_by_id(list(rows), limit)
