"""Shared helpers for the fraud tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from revcycle.auth.principal import Principal
from revcycle.fraud.models import FraudReview
from revcycle.kit.clock import utcnow
from revcycle.patients.models import Patient
from revcycle.payments import service as payments
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from revcycle.refunds.models import Refund

MONEY_TABLES = (
    "payments",
    "payment_allocations",
    "journal_entries",
    "postings",
    "refunds",
    "refund_parts",
)


def counts(session: Session, *tables: str) -> dict[str, int]:
    session.expire_all()
    return {
        t: int(session.execute(text(f"select count(*) from {t}")).scalar_one())
        for t in tables or (*MONEY_TABLES, "fraud_reviews")
    }


def pay(
    session: Session, actor: Principal, patient: Patient, amount: str, method: str = "cash"
) -> Payment:
    body: dict[str, Any] = {"patient_id": patient.id, "amount": amount, "method": method}
    return payments.record_payment(session, actor, PaymentCreate.model_validate(body)).payment


def backdate(session: Session, model: type[Payment] | type[Refund], minutes: float) -> None:
    """Move every existing row of ``model`` ``minutes`` into the past."""
    session.flush()
    at = utcnow() - dt.timedelta(minutes=minutes)
    session.execute(update(model).values(created_at=at))
    session.flush()


def reviews(session: Session) -> list[FraudReview]:
    session.expire_all()
    return list(session.scalars(select(FraudReview).order_by(FraudReview.created_at)))


def review(session: Session, review_id: str | uuid.UUID) -> FraudReview:
    session.expire_all()
    row = session.get(FraudReview, uuid.UUID(str(review_id)))
    assert row is not None
    return row
