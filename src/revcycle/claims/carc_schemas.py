"""Requests and answers of the CARC -> action table routes (docs/denials-appeals.md)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, model_validator
from pydantic_core import PydanticCustomError

from revcycle.kit.schemas import Schema, Text300

CarcActionName = Literal[
    "write_off",
    "patient",
    "correct_resubmit",
    "appeal",
    "check_eligibility",
    "timely_filing",
    "duplicate",
    "coordinate_benefits",
    "review",
]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


GroupCode = Annotated[Literal["CO", "PR", "OA", "PI", "CR"], BeforeValidator(_upper)]


def _code(pattern: str, what: str) -> Callable[[object], object]:
    rx = re.compile(pattern)

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str) and rx.fullmatch(value.strip().upper()):
            return value.strip().upper()
        raise PydanticCustomError("code.invalid", f"not a {what}")

    return check


# CARC: 1-3 digits, or a letter and 1-2 digits (B7, P1); RARC: 1-2 letters and 1-3 digits.
ReasonCode = Annotated[str, BeforeValidator(_code(r"[0-9]{1,3}|[A-Z][0-9]{1,2}", "CARC"))]
RemarkCode = Annotated[str, BeforeValidator(_code(r"[A-Z]{1,2}[0-9]{1,3}", "RARC"))]


class CarcActionPut(Schema):
    """The key (group, reason, remark; null = any) and what to do. At least a group or a reason;
    a remark needs both."""

    group: GroupCode | None = None
    reason: ReasonCode | None = None
    remark: RemarkCode | None = None
    action: CarcActionName
    note: Text300 | None = None

    @model_validator(mode="after")
    def _key(self) -> CarcActionPut:
        if self.group is None and self.reason is None:
            raise PydanticCustomError("carc_action.key", "give a group, a reason, or both")
        if self.remark is not None and (self.group is None or self.reason is None):
            raise PydanticCustomError(
                "carc_action.key", "a remark code needs the group and the reason"
            )
        return self


class CarcActionRead(BaseModel):
    id: uuid.UUID
    practice_id: uuid.UUID | None
    source: Literal["default", "practice"]
    key: str
    group: str | None
    reason: str | None
    remark: str | None
    action: str
    note: str | None
    # A default replaced by the practice's own row for the same key.
    overridden: bool
    created_at: dt.datetime
    updated_at: dt.datetime | None


class CarcActionList(BaseModel):
    items: list[CarcActionRead]


class CarcActionPutRead(CarcActionRead):
    created: bool
