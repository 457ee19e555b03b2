"""Demo front desk (``revcycle demo seed``): the billing clerk's drawer of the day, counted 0.50
short and deposited, and a second drawer still open with one payment in it. Every payment of the
demo has its receipt (numbers are taken as payments are recorded)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from revcycle.auth import service as auth_service
from revcycle.auth.repository import AuthRepository
from revcycle.cash import service
from revcycle.cash.schemas import DepositCreate, DrawerClose, DrawerOpen
from revcycle.patients.repository import PatientRepository
from revcycle.payments import service as payments_service
from revcycle.payments.schemas import PaymentCreate

CLERK = "billing"
# (method, amount, cheque number) taken into the first drawer, then into the open one.
CLOSED_DAY = (("cash", "40.00", None), ("check", "65.00", "2051"), ("cash", "12.50", None))
OPEN_DAY = (("cash", "25.00", None),)
FLOAT = "150.00"


@dataclass(frozen=True)
class DeskResult:
    payments: int
    collected_minor: int
    methods: dict[str, int]


def seed(session: Session, practice_id: uuid.UUID) -> DeskResult:
    """Today's front desk (drawers live on the clock's day, whatever window the demo covers)."""
    user = AuthRepository(session).by_username(CLERK)
    assert user is not None
    clerk = auth_service.principal_for(session, user)
    everyone = PatientRepository(session).search(
        practice_ids=None, patient_ids=None, practice_id=practice_id, after=None, limit=100_000
    )
    patients = sorted(everyone, key=lambda p: p.account_number)[:4]
    methods: dict[str, int] = {}
    collected = 0

    def take(i: int, method: str, amount: str, cheque: str | None) -> None:
        nonlocal collected
        view = payments_service.record_payment(
            session,
            clerk,
            PaymentCreate.model_validate(
                {
                    "patient_id": patients[i % len(patients)].id,
                    "amount": amount,
                    "method": method,
                    "reference": cheque,
                    "allocations": [],  # kept as credit: the demo's invoices stay as built
                }
            ),
        )
        methods[method] = methods.get(method, 0) + 1
        collected += view.payment.amount_minor

    key = "demo-front-desk"
    opened = service.open_drawer(
        session,
        clerk,
        practice_id,
        DrawerOpen.model_validate({"location": "Front desk", "opening_float": FLOAT}),
        idempotency_key=key,
    ).drawer
    for i, (method, amount, cheque) in enumerate(CLOSED_DAY):
        take(i, method, amount, cheque)
    # 150.00 float + 52.50 cash taken = 202.50 expected; 202.00 counted: 0.50 short.
    service.close_drawer(
        session,
        clerk,
        opened.id,
        DrawerClose.model_validate(
            {
                "denominations": [
                    {"value": "50.00", "count": 2},
                    {"value": "20.00", "count": 4},
                    {"value": "10.00", "count": 2},
                    {"value": "1.00", "count": 2},
                ],
                "note": "Counted with the office manager",
            }
        ),
        idempotency_key=key,
    )
    service.deposit(
        session,
        clerk,
        practice_id,
        DepositCreate.model_validate({"drawer_ids": [opened.id], "bank_reference": "DEP-0001"}),
        idempotency_key=key,
    )
    service.open_drawer(
        session,
        clerk,
        practice_id,
        DrawerOpen.model_validate({"location": "Front desk", "opening_float": FLOAT}),
        idempotency_key=key,
    )
    for i, (method, amount, cheque) in enumerate(OPEN_DAY):
        take(i + len(CLOSED_DAY), method, amount, cheque)
    return DeskResult(len(CLOSED_DAY) + len(OPEN_DAY), collected, methods)
