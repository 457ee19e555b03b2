"""Shared helpers for the invoice and payment tests: a snapshot of every table a money path writes
(to prove refusals change nothing), problem+json assertions, JSON bodies and a small world."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from revcycle.audit import service as audit
from revcycle.auth.models import User
from revcycle.invoices import service as invoices
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import InvoiceVoid, WriteOffCreate
from revcycle.ledger.models import JournalEntry
from revcycle.patients.models import Patient
from revcycle.payments import service as payments
from revcycle.payments.schemas import PaymentCreate
from revcycle.practices.models import Practice
from tests.factories.auth import auth_header, make_user
from tests.factories.invoices import line, make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import SYSTEM, make_practice

COUNTED_TABLES = (
    "invoices",
    "invoice_lines",
    "journal_entries",
    "postings",
    "payments",
    "payment_allocations",
    "invoice_adjustments",
)


def snapshot(session: Session, *invoice_ids: uuid.UUID) -> dict[str, Any]:
    """Row counts of every table a money path writes, the numbers taken, and each named invoice's
    status/number/void reason as stored (read with SQL, never from the identity map)."""
    session.flush()
    audit.flush_pending(session)  # buffered audit events count too (they are appended at COMMIT)
    snap: dict[str, Any] = {
        t: session.execute(text(f"select count(*) from {t}")).scalar_one() for t in COUNTED_TABLES
    }
    # The audit trail: changes and reads, and separately the security events (a denied request
    # writes exactly one, in a transaction of its own; see security_events()).
    snap["audit_events"] = session.execute(
        text("select count(*) from audit_events where category <> 'security'")
    ).scalar_one()
    snap["security_events"] = session.execute(
        text("select count(*) from audit_events where category = 'security'")
    ).scalar_one()
    snap["numbers_taken"] = session.execute(
        text("select coalesce(sum(last_number), 0) from invoice_sequences")
    ).scalar_one()
    for iid in invoice_ids:
        row = session.execute(
            select(
                Invoice.status,
                Invoice.number,
                Invoice.display_number,
                Invoice.void_reason,
                Invoice.updated_at,
            ).where(Invoice.id == iid)
        ).one()
        snap[f"invoice {iid}"] = tuple(row)
    return snap


def security_events(session: Session, after: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """(action, role, detail) of the security events written since the snapshot ``after``."""
    audit.flush_pending(session)
    rows = session.execute(
        text(
            "select action, actor_role, detail from audit_events where category = 'security' "
            "order by id"
        )
    ).all()
    decoded = [(r[0], r[1], r[2] if isinstance(r[2], dict) else json.loads(r[2])) for r in rows]
    return decoded[after["security_events"] :]


def denial(role: str, method: str, route: str, status: int, code: str, **extra: str) -> Any:
    """The security event a denied request writes."""
    return (
        "security:access_denied",
        role,
        {"code": code, "status": status, "method": method, "route": route, **extra},
    )


def count(session: Session, table: str) -> int:
    session.flush()
    audit.flush_pending(session)
    return int(session.execute(text(f"select count(*) from {table}")).scalar_one())


def stored_status(session: Session, invoice_id: uuid.UUID) -> str:
    session.flush()
    return str(session.execute(select(Invoice.status).where(Invoice.id == invoice_id)).scalar_one())


def entries_of(session: Session, invoice_id: uuid.UUID) -> list[JournalEntry]:
    """Journal entries whose source is this invoice, oldest first."""
    return list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.source_id == invoice_id)
            .order_by(JournalEntry.created_at, JournalEntry.id)
        )
    )


PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json", r.headers
    body = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:revcycle:problem:{code}"
    assert body.keys() >= PROBLEM_KEYS
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3"):
        assert leak not in r.text, r.text
    return body


# JSON bodies -------------------------------------------------------------------------------------


def line_json(
    code: str = "99213",
    price: str | None = "125.00",
    units: int = 1,
    dos: str = "2026-01-05",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_code": code,
        "units": units,
        "date_of_service": dos,
        "description": "Office visit",
        "diagnosis_codes": ["E11.9"],
    }
    if price is not None:
        body["unit_price"] = price
    body.update(extra)
    return body


def invoice_json(
    patient_id: uuid.UUID, lines: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"patient_id": str(patient_id), "lines": lines or [line_json()]}
    body.update(extra)
    return body


# service-level builders --------------------------------------------------------------------------


def pay(
    session: Session,
    patient: Patient,
    amount: str,
    allocations: list[tuple[Invoice, str]] | None = None,
    *,
    method: str = "cash",
    **extra: Any,
) -> payments.PaymentView:
    body: dict[str, Any] = {"patient_id": patient.id, "amount": amount, "method": method}
    if allocations is not None:
        body["allocations"] = [{"invoice_id": i.id, "amount": a} for i, a in allocations]
    body.update(extra)
    return payments.record_payment(session, SYSTEM, PaymentCreate.model_validate(body))


def priced(price: str, dos: dt.date = dt.date(2026, 1, 5)) -> list[dict[str, Any]]:
    return [line(price=price, dos=dos)]


@dataclass
class World:
    """One practice, one patient and a billing clerk with a token, plus invoices in any state."""

    session: Session
    practice: Practice
    patient: Patient
    staff: User
    headers: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, session: Session) -> World:
        practice = make_practice(session)
        patient = make_patient(session, practice)
        staff = make_user(session, "billing_staff", practices=[practice])
        return cls(session, practice, patient, staff, auth_header(session, staff))

    def invoice(self, state: str, price: str = "125.00", patient: Patient | None = None) -> Invoice:
        """An invoice of ``price`` in ``state``; partially paid means 50.00 paid."""
        s, who = self.session, patient or self.patient
        inv = make_invoice(s, who, lines=priced(price), issue=state != "draft")
        s.flush()  # create_invoice leaves the lines pending (autoflush is off)
        if state in {"draft", "open"}:
            return inv
        if state == "partially_paid":
            pay(s, who, "50.00", [(inv, "50.00")])
        elif state == "paid":
            pay(s, who, price, [(inv, price)])
        elif state == "void":
            invoices.void_invoice(s, SYSTEM, inv.id, InvoiceVoid(reason="Entered twice"))
        elif state == "written_off":
            invoices.write_off_invoice(
                s, SYSTEM, inv.id, WriteOffCreate.model_validate({"reason_code": "bad_debt"})
            )
        else:  # pragma: no cover - a typo in a test
            raise AssertionError(state)
        s.flush()
        assert stored_status(s, inv.id) == state
        return inv
