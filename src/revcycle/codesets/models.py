"""Loaded code-set releases and their codes (read-only reference data, shared by all practices)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base, UTCDateTime
from revcycle.kit.clock import utcnow
from revcycle.kit.columns import UUIDPk


class CodeRelease(Base):
    """One publisher release of a code set, e.g. ICD-10-CM "2026-04" effective 2026-04-01. The
    release in force on a date is the one with the latest ``effective_from`` on or before it."""

    __tablename__ = "code_releases"
    __table_args__ = (
        UniqueConstraint("system", "label"),
        UniqueConstraint("system", "effective_from"),
    )

    id: Mapped[UUIDPk]
    system: Mapped[str] = mapped_column(String(20))  # "icd10cm"
    label: Mapped[str] = mapped_column(String(40))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    source_version: Mapped[str] = mapped_column(String(20))  # the file's own <version>
    source_sha256: Mapped[str] = mapped_column(String(64))
    code_count: Mapped[int] = mapped_column(Integer)
    billable_count: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Icd10cmCode(Base):
    __tablename__ = "icd10cm_codes"

    release_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("code_releases.id"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(7), primary_key=True)  # undotted, upper case
    description: Mapped[str] = mapped_column(Text)
    billable: Mapped[bool] = mapped_column(Boolean)
