"""What happened after a primary claim was adjudicated, once per primary claim: a secondary
claim was built (with the primary payer's adjudication saved for the 837's COB loops), the
primary payer forwards it itself (crossover), or (the worker) there was nothing to build.
UNIQUE(primary_claim_id) makes building idempotent (docs/denials-appeals.md, "Secondary claims")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import UUIDPk, created_at_column


class ClaimCob(Base):
    __tablename__ = "claim_cob"
    __table_args__ = (
        UniqueConstraint("primary_claim_id"),
        UniqueConstraint("secondary_claim_id"),
        CheckConstraint("outcome IN ('secondary', 'crossover', 'none')", name="outcome_known"),
    )

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    primary_claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("claims.id"))
    secondary_claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("claims.id"))
    # secondary | crossover | none (the worker found nothing to build: no secondary coverage or
    # no patient responsibility left; building by hand replaces it)
    outcome: Mapped[str] = mapped_column(String(20))
    # The primary payer's adjudication (the 835 detail of the primary's adjudicated event:
    # payer_claim_number, adjudicated_on, paid_minor, adjustments, lines ...).
    prior_adjudication: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The crossover carrier the primary's 835 named (NM1*TT name and id), when it came from one.
    crossover_payer_name: Mapped[str | None] = mapped_column(String(100))
    crossover_payer_identifier: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
