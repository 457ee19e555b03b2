"""Column helpers shared by every domain's models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from sqlalchemy import BigInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import UTCDateTime
from revcycle.kit.clock import utcnow
from revcycle.kit.ids import uuid7

UUIDPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=uuid7)]
Minor = Annotated[int, mapped_column(BigInteger)]
Currency = Annotated[str, mapped_column(String(3))]


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)
