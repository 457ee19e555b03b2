"""Audit events: who did what to which object, without PHI values. Append-only and hash-chained.

Each event belongs to one chain: its practice's, or the ``global`` chain for events outside any
practice (sign-ins, user management, security events without a practice). Within a chain events
carry a gap-free sequence number and the hash of the previous event; ``audit_chain_heads`` holds
the last sequence number and hash of each chain (see ``revcycle.audit.chain``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from revcycle.db import Base
from revcycle.kit.columns import created_at_column


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("uq_audit_events_chain_seq", "chain_key", "chain_seq", unique=True),
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
        Index("ix_audit_events_category_time", "category", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[dt.datetime] = created_at_column()
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str | None] = mapped_column(String(30))
    practice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # "change" (create/update/delete of financial or patient data), "read" (a patient's
    # financial record was read) or "security" (sign-ins, denials, lockouts...).
    category: Mapped[str] = mapped_column(String(20), server_default="change")
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Non-PHI particulars (an error code, a route template, a count).
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    chain_key: Mapped[str | None] = mapped_column(String(36))
    chain_seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The end of one chain. Its row lock serialises appends to that chain (taken at COMMIT)."""

    __tablename__ = "audit_chain_heads"

    chain_key: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
