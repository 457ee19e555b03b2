"""Shared helpers for refund and approval tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from revcycle.approvals.gate import Limits
from revcycle.approvals.models import ApprovalRequest
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.invoices.models import Invoice
from revcycle.ledger.repository import LedgerRepository
from revcycle.refunds import service
from revcycle.refunds.schemas import RefundCreate
from tests.invoices.helpers import snapshot

KEY = "test-key"


def refund(
    session: Session,
    actor: Principal,
    payment_id: uuid.UUID,
    amount: str,
    *,
    limits: Limits | None = None,
    key: str | None = KEY,
    reason: str | None = None,
) -> Any:
    return service.refund_payment(
        session,
        actor,
        payment_id,
        RefundCreate.model_validate({"amount": amount, "reason": reason}),
        idempotency_key=key,
        limits=limits,
    )


def limits(*, refund: str | None = None, write_off: str | None = None) -> Limits:
    """The same limit for admins and billing staff."""
    return Limits(
        {
            "refund": {Role.ADMIN: refund, Role.BILLING_STAFF: refund},
            "write_off": {Role.ADMIN: write_off, Role.BILLING_STAFF: write_off},
        }
    )


def full_snapshot(session: Session, *invoice_ids: uuid.UUID) -> dict[str, Any]:
    snap = snapshot(session, *invoice_ids)
    for table in ("refunds", "refund_parts", "approval_requests"):
        snap[table] = session.execute(text(f"select count(*) from {table}")).scalar_one()
    snap["approval_statuses"] = sorted(
        (str(r.id), r.status) for r in session.scalars(select(ApprovalRequest))
    )
    return snap


def entry_legs(session: Session, entry_id: uuid.UUID) -> list[tuple[str, int, str | None]]:
    """(account code, amount, 'invoice:<number>' / 'patient' / None) of an entry, sorted."""
    repo = LedgerRepository(session)
    entry = repo.get_entry(entry_id)
    assert entry is not None
    codes = {v: k for k, v in repo.account_ids(entry.practice_id).items()}
    out = []
    for p in repo.postings_of(entry_id):
        if p.invoice_id is not None:
            inv = session.get(Invoice, p.invoice_id)
            assert inv is not None
            dim: str | None = f"invoice:{inv.number}"
        else:
            dim = "patient" if p.patient_id is not None else None
        out.append((codes[p.account_id], p.amount_minor, dim))
    return sorted(out)


def balances(session: Session, *invoices: Invoice) -> list[tuple[str, int]]:
    """(stored status, ledger balance) per invoice."""
    session.flush()
    repo = LedgerRepository(session)
    bal = repo.invoice_ar_balances([i.id for i in invoices])
    out = []
    for inv in invoices:
        status = session.execute(select(Invoice.status).where(Invoice.id == inv.id)).scalar_one()
        out.append((status, bal[inv.id]))
    return out
