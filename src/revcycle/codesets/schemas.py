"""Response shapes of the code-set routes."""

from __future__ import annotations

from pydantic import BaseModel


class DiagnosisCodeRead(BaseModel):
    code: str  # dotted (E11.65)
    billable: bool
    description: str | None
    release: str | None
    message: str
