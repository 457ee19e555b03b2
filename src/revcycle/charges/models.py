"""Which integration charge became which invoice line (docs/charges.md).

``UNIQUE(practice_id, source_system, source_id)`` is the idempotency of the import: a charge an
EHR sends twice (a retry, a resend of the whole encounter) finds its row and creates nothing; two
concurrent imports of one charge cannot both insert it. ``digest`` is the sha256 of the
ChargeItem as first received: the same identifier with other content is refused, not silently
ignored (the EHR must void and re-send a corrected charge under a new identifier).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import UUIDPk, created_at_column


class ChargeImport(Base):
    __tablename__ = "charge_imports"
    __table_args__ = (UniqueConstraint("practice_id", "source_system", "source_id"),)

    id: Mapped[UUIDPk]
    practice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("practices.id"))
    source_system: Mapped[str] = mapped_column(String(255))
    source_id: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    # Set in the transaction that claimed the key (the key row is inserted first, so a
    # concurrent import of the same charge waits on it, then finds it taken).
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("invoices.id"), index=True
    )
    line_position: Mapped[int | None] = mapped_column(Integer)  # 1-based, on that invoice
    encounter: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = created_at_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
