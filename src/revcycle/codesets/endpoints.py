"""JSON routes for code-set lookups."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from revcycle.api.context import CtxDep
from revcycle.auth.principal import Principal
from revcycle.codesets import service
from revcycle.codesets.schemas import DiagnosisCodeRead
from revcycle.kit.clock import today

router = APIRouter(tags=["code sets"])


@router.get("/code-sets/icd10cm/{code}", response_model=DiagnosisCodeRead)
def get_icd10cm(
    code: Annotated[str, Path(min_length=1, max_length=10)],
    ctx: CtxDep,
    on: Annotated[dt.date | None, Query(description="Date of service (default: today)")] = None,
) -> object:
    """Whether an ICD-10-CM code is billable on a date of service, with its description; a
    header (category) answers ``billable: false`` with examples of its billable codes."""

    def work(s: Session, p: Principal) -> DiagnosisCodeRead:
        v = service.lookup_icd10cm(s, p, code, on or today())
        return DiagnosisCodeRead(
            code=v.code,
            billable=v.ok,
            description=v.description,
            release=v.release,
            message=v.message,
        )

    return ctx.read(work)
