"""All SQL of the code-set tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from revcycle.codesets.models import CodeRelease, Icd10cmCode

ICD10CM = "icd10cm"


def release_by_label(session: Session, system: str, label: str) -> CodeRelease | None:
    return session.scalar(
        select(CodeRelease).where(CodeRelease.system == system, CodeRelease.label == label)
    )


def release_by_effective(session: Session, system: str, day: dt.date) -> CodeRelease | None:
    return session.scalar(
        select(CodeRelease).where(CodeRelease.system == system, CodeRelease.effective_from == day)
    )


def release_on(session: Session, system: str, day: dt.date) -> CodeRelease | None:
    """The release in force on ``day``: the latest one effective on or before it."""
    return session.scalar(
        select(CodeRelease)
        .where(CodeRelease.system == system, CodeRelease.effective_from <= day)
        .order_by(CodeRelease.effective_from.desc())
        .limit(1)
    )


def releases(session: Session, system: str) -> Sequence[CodeRelease]:
    return session.scalars(
        select(CodeRelease).where(CodeRelease.system == system).order_by(CodeRelease.effective_from)
    ).all()


def insert_icd10cm(
    session: Session, release_id: uuid.UUID, rows: Iterable[tuple[str, str, bool]]
) -> None:
    session.execute(
        insert(Icd10cmCode),
        [
            {"release_id": release_id, "code": c, "description": d, "billable": b}
            for c, d, b in rows
        ],
    )


def icd10cm_code(session: Session, release_id: uuid.UUID, code: str) -> Icd10cmCode | None:
    return session.get(Icd10cmCode, (release_id, code))


def icd10cm_children(
    session: Session, release_id: uuid.UUID, prefix: str, limit: int
) -> Sequence[Icd10cmCode]:
    return session.scalars(
        select(Icd10cmCode)
        .where(
            Icd10cmCode.release_id == release_id,
            Icd10cmCode.code.startswith(prefix, autoescape=True),
            Icd10cmCode.code != prefix,
            Icd10cmCode.billable.is_(True),
        )
        .order_by(Icd10cmCode.code)
        .limit(limit)
    ).all()
