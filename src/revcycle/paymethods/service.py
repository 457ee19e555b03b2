"""Stored payment methods: storing a gateway token with the patient's consent, listing, removing
(a status change; the row stays). Staff of the patient's practice, or the patient themself
(ownership-checked; someone else's method answers 404)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.permissions import Action
from revcycle.auth.principal import Principal
from revcycle.errors import out_of_scope
from revcycle.gateway.base import BankAccountDetails, CardDetails
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7
from revcycle.patients import service as patients_service
from revcycle.paymethods.models import StoredPaymentMethod
from revcycle.paymethods.repository import PaymentMethodRepository
from revcycle.paymethods.schemas import PaymentMethodCreate
from revcycle.plans import errors


def access_method(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    method_id: uuid.UUID,
    action: Action,
    *,
    lock: bool = False,
) -> StoredPaymentMethod:
    patients_service.access_patient(session, actor, patient_id, action)
    repo = PaymentMethodRepository(session)
    method = repo.get_for_update(method_id) if lock else repo.get(method_id)
    if method is None or method.patient_id != patient_id:
        raise out_of_scope(
            errors.PaymentMethodNotFound("No such payment method"), "payment_method", method_id
        )
    return method


def store_method(
    session: Session,
    actor: Principal,
    patient_id: uuid.UUID,
    data: PaymentMethodCreate,
    *,
    card: CardDetails | None,
    provider: str,
    bank: BankAccountDetails | None = None,
) -> StoredPaymentMethod:
    """``card`` (a ``tok_``) or ``bank`` (a ``btok_``) is what the gateway says about the token
    (None: unknown token -> refused)."""
    patient = patients_service.access_patient(
        session, actor, patient_id, Action.PAYMENT_METHOD_WRITE
    )
    exp: tuple[int | None, int | None]
    if data.token.startswith("btok_"):
        if bank is None:
            raise errors.TokenRefused("The gateway does not know this token")
        # a bank account: its bank's name and the account's last 4 (never the number)
        kind, brand, last4, exp = "bank", bank.bank_name, bank.last4, (None, None)
    else:
        if card is None:
            raise errors.TokenRefused("The gateway does not know this token")
        kind, brand, last4 = "card", card.brand, card.last4
        exp = (card.exp_month, card.exp_year)
    now = utcnow()
    method = StoredPaymentMethod(
        id=uuid7(),
        practice_id=patient.practice_id,
        patient_id=patient.id,
        kind=kind,
        status="active",
        gateway_provider=provider,
        token=data.token,
        brand=brand,
        last4=last4,
        exp_month=exp[0],
        exp_year=exp[1],
        consent_text=data.consent_text,
        consented_at=now,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(method)
    session.flush()
    audit.record(
        session,
        actor,
        "payment_method:store",
        object_type="payment_method",
        object_id=method.id,
        practice_id=method.practice_id,
        fields=["kind", "brand", "last4", "expiry", "consent"],
    )
    return method


def list_methods(
    session: Session, actor: Principal, patient_id: uuid.UUID
) -> list[StoredPaymentMethod]:
    patient = patients_service.access_patient(session, actor, patient_id, Action.PAYMENT_READ)
    rows = list(PaymentMethodRepository(session).for_patient(patient.id, include_removed=True))
    audit.record_read(
        session,
        actor,
        "payment_method:list",
        object_type="patient",
        object_id=patient.id,
        practice_id=patient.practice_id,
    )
    return rows


def remove_method(
    session: Session, actor: Principal, patient_id: uuid.UUID, method_id: uuid.UUID
) -> StoredPaymentMethod:
    """Removal is a status change; plans paying with it lose autopay (staff are told via the
    plan's history) -- see plans.service.detach_method."""
    method = access_method(
        session, actor, patient_id, method_id, Action.PAYMENT_METHOD_WRITE, lock=True
    )
    if method.status == "removed":
        raise errors.MethodNotUsable("This payment method was already removed")
    method.status = "removed"
    method.removed_at = utcnow()
    method.removed_by = actor.user_id
    session.flush()
    audit.record(
        session,
        actor,
        "payment_method:remove",
        object_type="payment_method",
        object_id=method.id,
        practice_id=method.practice_id,
        fields=["status"],
    )
    return method
