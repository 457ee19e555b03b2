"""JSON routes for patients and their account statement."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.invoices import statements
from revcycle.invoices.schemas import StatementLine, StatementRead
from revcycle.kit.clock import utcnow
from revcycle.kit.pagination import DEFAULT_LIMIT
from revcycle.kit.render import amount
from revcycle.kit.schemas import PageRead
from revcycle.patients import service
from revcycle.patients.schemas import PatientCreate, PatientRead, PatientSearch, PatientUpdate

router = APIRouter(tags=["patients"])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("/practices/{practice_id}/patients", status_code=201, response_model=PatientRead)
def create_patient(practice_id: uuid.UUID, body: PatientCreate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: PatientRead.model_validate(service.create_patient(s, p, practice_id, body)),
        status_code=201,
    )


@router.get("/patients", response_model=PageRead[PatientRead])
def list_patients(
    ctx: CtxDep,
    practice_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        page = service.list_patients(s, p, practice_id=practice_id, cursor=cursor, limit=limit)
        return PageRead[PatientRead](
            items=[PatientRead.model_validate(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.post("/patients/search", response_model=PageRead[PatientRead])
def search_patients(body: PatientSearch, ctx: CtxDep) -> object:
    """Exact name / date-of-birth lookup (case, Unicode compatibility forms and spacing are
    normalised). The terms go in the body, never in the URL (no PHI in URLs or access logs)."""

    def work(s: Session, p: Principal) -> BaseModel:
        page = service.search_patients(s, p, body)
        return PageRead[PatientRead](
            items=[PatientRead.model_validate(x) for x in page.items], next_cursor=page.next_cursor
        )

    return ctx.read(work)


@router.get("/patients/{patient_id}", response_model=PatientRead)
def get_patient(patient_id: uuid.UUID, ctx: CtxDep) -> object:
    return ctx.read(lambda s, p: PatientRead.model_validate(service.get_patient(s, p, patient_id)))


@router.patch("/patients/{patient_id}", response_model=PatientRead)
def update_patient(patient_id: uuid.UUID, body: PatientUpdate, ctx: CtxDep) -> Response:
    return ctx.write(
        lambda s, p: PatientRead.model_validate(service.update_patient(s, p, patient_id, body))
    )


@router.get("/patients/{patient_id}/statement", response_model=StatementRead)
def get_statement(
    patient_id: uuid.UUID,
    ctx: CtxDep,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> object:
    def work(s: Session, p: Principal) -> BaseModel:
        st = statements.patient_statement(s, p, patient_id, date_from=date_from, date_to=date_to)
        cur = st.currency
        return StatementRead(
            patient_id=st.patient_id,
            account_number=st.account_number,
            currency=cur,
            generated_at=utcnow(),
            date_from=st.date_from,
            date_to=st.date_to,
            opening_balance=amount(st.opening_minor, cur),
            lines=[
                StatementLine(
                    date=ln.date,
                    kind=ln.kind,
                    description=ln.description,
                    invoice_id=ln.invoice_id,
                    invoice_number=ln.invoice_number,
                    charges=amount(ln.charges_minor, cur),
                    credits=amount(ln.credits_minor, cur),
                    balance=amount(ln.balance_minor, cur),
                )
                for ln in st.lines
            ],
            total_charges=amount(st.total_charges_minor, cur),
            total_credits=amount(st.total_credits_minor, cur),
            amount_due=amount(st.amount_due_minor, cur),
            credit_balance=amount(st.credit_balance_minor, cur),
            closing_balance=amount(st.closing_minor, cur),
            overdue_amount=amount(st.overdue_minor, cur),
        )

    return ctx.read(work)
