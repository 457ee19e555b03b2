"""The framework floor: what the mandated stack costs before any billing work.

``POST /`` takes the same invoice JSON as the real endpoint, validates it with a Pydantic model
(FastAPI body parsing), opens a SQLAlchemy 2 ``Session`` from an engine built exactly like the
app's (``revcycle.db.make_engine``: same pool, same connection options), runs ONE ``INSERT ...
RETURNING id`` into ``bench_baseline`` and commits, then answers ``201 {"id": n}`` through a
response model. No authentication, no audit, no ledger: only FastAPI + Pydantic + SQLAlchemy +
one write. The endpoint is a ``def`` (anyio's thread pool, like the app's), with the app's
thread limit.

It is not a target; it is printed beside the baseline so the ratio target can be read against
what the stack itself allows (docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from revcycle.config import Settings
from revcycle.db import make_engine, make_session_factory

INSERT = text("INSERT INTO bench_baseline (payload) VALUES (:payload) RETURNING id")


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_code: Annotated[str, Field(min_length=5, max_length=5)]
    units: Annotated[int, Field(ge=1, le=999)]
    unit_price: Annotated[str, Field(pattern=r"^\d{1,9}\.\d{2}$")]
    description: Annotated[str, Field(max_length=200)]
    diagnosis_codes: Annotated[list[str], Field(max_length=4)]
    date_of_service: dt.date


class InvoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: uuid.UUID
    issue: bool
    lines: Annotated[list[Line], Field(min_length=1, max_length=100)]


class Created(BaseModel):
    id: int


def create_app() -> FastAPI:
    settings = Settings(database_url=os.environ["BENCH_FRAMEWORK_URL"])
    factory = make_session_factory(
        make_engine(settings.database_url, pool_size=settings.db_pool_size)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/", status_code=201, response_model=Created)
    def create(body: InvoiceIn) -> Created:
        with Session(bind=factory.kw["bind"]) as session, session.begin():
            new_id = session.execute(INSERT, {"payload": body.model_dump_json()}).scalar_one()
        return Created(id=int(new_id))

    return app
