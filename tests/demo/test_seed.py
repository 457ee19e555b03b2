"""The demo-data generator: exact counts and status mix, real service-layer side effects (ledger,
audit, numbers), date rules, determinism across runs and backends, the CLI command."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker
from typer.testing import CliRunner

from revcycle.approvals.models import ApprovalRequest
from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.auth import service as auth_service
from revcycle.auth.models import User, UserPractice
from revcycle.auth.principal import Principal
from revcycle.cash import service as cash_service
from revcycle.cash.models import CashDrawer
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import get_settings
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.demo import seed as demo
from revcycle.fraud import service as fraud_service
from revcycle.fraud.models import FraudReview
from revcycle.fraud.schemas import Decision, ReviewDecide
from revcycle.gateway.testgw.models import TestgwCharge
from revcycle.integrity import service as integrity
from revcycle.invoices.models import Invoice, InvoiceAdjustment, InvoiceLine
from revcycle.kit import codes
from revcycle.kit.clock import today
from revcycle.ledger.models import JournalEntry
from revcycle.ledger.repository import LedgerRepository
from revcycle.patients.models import Patient
from revcycle.payments.models import Payment, PaymentAllocation
from revcycle.practices.models import Practice, Provider, ServiceItem
from revcycle.receipts.models import Receipt
from revcycle.refunds.models import Refund, RefundPart
from tests.factories.auth import HASHER

# A fixed end of the window: the data is then identical whatever day the tests run. The window
# (2024-12-30 .. 2026-06-30) crosses two 1 January price updates.
PINNED = dt.date(2026, 6, 30)


def _fraud_demo_payments(session: Session) -> list[uuid.UUID]:
    """The payments the fraud demo made (docs/fraud.md): its two duplicate cash receipts, the
    admin's prepayment and the card-testing attempts; the rest are the demo's history."""
    admin = session.scalar(select(User.id).where(User.username == "admin"))
    return list(
        session.scalars(
            select(Payment.id).where(
                Payment.reference.like("Receipt D-%")
                | (Payment.created_by == admin)
                | ((Payment.method == "card") & (Payment.gateway_provider == "testgw"))
            )
        )
    )


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _statuses(session: Session) -> dict[str, int]:
    rows = session.execute(select(Invoice.status, func.count()).group_by(Invoice.status)).all()
    return {status: int(n) for status, n in rows}


# a small practice ------------------------------------------------------------------------------


def test_small_seed_counts_statuses_and_integrity(session: Session) -> None:
    result = demo.seed(session, HASHER, patients=30, invoices=150, seed=42, today=PINNED)
    session.flush()

    # Exactly what was asked for, and the status quotas (1.5% draft, 3% written off, 9% open,
    # 6% partially paid, 2.5% void, the rest paid) realised exactly.
    assert _count(session, Practice) == 1
    assert _count(session, Patient) == 30
    assert _count(session, Invoice) == 150
    expected = {
        "paid": 116,
        "partially_paid": 9,
        "open": 14,
        "void": 4,
        "written_off": 5,
        "draft": 2,
    }
    assert _statuses(session) == expected
    assert result.statuses == expected
    assert (result.patients, result.invoices, result.window_start, result.window_end) == (
        30,
        150,
        dt.date(2024, 12, 30),
        PINNED,
    )

    # Providers with valid NPIs; a charge master priced for each of the three calendar years.
    practice = session.scalars(select(Practice)).one()
    assert codes.npi(practice.npi) == practice.npi == result.practice_npi
    npis = session.scalars(select(Provider.npi)).all()
    assert len(npis) == result.providers == 4
    assert all(codes.npi(n) == n for n in npis)
    assert _count(session, ServiceItem) == result.service_items == 3 * len(demo.CHARGE_MASTER)
    assert _count(session, ServiceItem, ServiceItem.effective_to.is_(None)) == len(
        demo.CHARGE_MASTER
    )

    # Dependants: children whose guarantor is a self-responsible adult with the same surname.
    guarantor = aliased(Patient)
    kids = session.execute(
        select(Patient, guarantor).join(guarantor, Patient.guarantor_id == guarantor.id)
    ).all()
    assert len(kids) == result.dependants == 5
    for child, parent in kids:
        assert child.guarantor_relationship == "parent"
        assert parent.guarantor_id is None
        assert parent.guarantor_relationship == "self"
        assert child.last_name == parent.last_name
        assert (child.date_of_birth - parent.date_of_birth).days > 18 * 365
    emails = session.scalars(select(Patient.email).where(Patient.email.is_not(None))).all()
    assert emails
    assert all(str(e).endswith(("@example.org", "@example.com")) for e in emails)

    # Every invoice number is taken once, in issue-date order; drafts have none.
    issued = session.execute(
        select(Invoice.number, Invoice.display_number, Invoice.issue_date)
        .where(Invoice.status != "draft")
        .order_by(Invoice.number)
    ).all()
    assert [r.number for r in issued] == list(range(1, 149))
    assert issued[0].display_number == "CVFM-000001"
    assert [r.issue_date for r in issued] == sorted(r.issue_date for r in issued)
    assert result.window_start < issued[0].issue_date
    assert issued[-1].issue_date <= PINNED
    assert _count(session, Invoice, Invoice.status == "draft", Invoice.number.is_(None)) == 2

    # Dates of service come before the issue date; payments after it, never in the future.
    late_service = _count(
        session,
        InvoiceLine,
        InvoiceLine.invoice_id == Invoice.id,
        Invoice.issue_date.is_not(None),
        InvoiceLine.date_of_service >= Invoice.issue_date,
    )
    assert late_service == 0
    pay_dates = session.execute(
        select(Payment.received_on, Invoice.issue_date)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
    ).all()
    assert pay_dates
    assert all(issue is not None and issue <= paid <= PINNED for paid, issue in pay_dates)

    # Payments by every method; some applied oldest-first, some overpaid into patient credit.
    # (The builder's payments: those the staff logins made are the fraud demo's, below.)
    fraud_demo = _fraud_demo_payments(session)
    payments = session.scalars(
        select(Payment).where(Payment.gateway_provider.is_(None), Payment.id.not_in(fraud_demo))
    ).all()
    assert len(payments) == result.payments
    methods = Counter(p.method for p in payments)
    assert dict(methods) == {m: n for m, n in result.payment_methods.items() if n}
    assert set(methods) == {"cash", "check", "card", "bank_transfer"}
    assert sum(p.amount_minor for p in payments) == result.collected_minor
    credit = [p.unapplied_minor for p in payments if p.unapplied_minor > 0]
    assert len(credit) == result.overpayments >= 1
    assert sum(credit) == result.credit_held_minor
    assert result.auto_applied_payments >= 1

    # Credit notes with reason codes, one write-off per written-off invoice, line discounts.
    adjustments = session.execute(
        select(InvoiceAdjustment.kind, InvoiceAdjustment.reason_code)
    ).all()
    kinds = Counter(kind for kind, _ in adjustments)
    assert kinds == {"credit_note": result.credit_notes, "write_off": 5}
    assert result.credit_notes >= 2
    assert result.write_offs == 5
    assert result.voids == 4
    assert {reason for kind, reason in adjustments if kind == "credit_note"} <= {
        "prompt_pay",
        "courtesy",
        "billing_error",
        "hardship",
        "small_balance",
    }
    assert _count(session, InvoiceLine, InvoiceLine.discount_minor > 0) >= 1

    # The service layer ran: one audit row per issue, per payment, per patient.
    audit.flush_pending(session)  # appended to the chain at COMMIT; the seed only flushes

    def audited(action: str) -> int:
        return _count(session, AuditEvent, AuditEvent.action == action)

    assert audited("invoice:issue") == 148
    # + the two settled bank transfers, the two duplicate cash payments and the prepayment
    assert audited("payment:record") == result.payments + 5
    assert audited("patient:create") == 30
    assert audited("invoice:void") == 4

    # Logins: three staff assigned to the practice, two patients (one a guarantor).
    users = {u.username: u for u in session.scalars(select(User))}
    assert len(users) == 5
    assert {n: users[n].role for n in ("admin", "billing", "insurance")} == {
        "admin": "admin",
        "billing": "billing_staff",
        "insurance": "insurance_specialist",
    }
    assert _count(session, UserPractice, UserPractice.practice_id == practice.id) == 3
    patient_logins = [u for u in users.values() if u.role == "patient"]
    assert len(patient_logins) == 2
    dependants_of = [
        _count(session, Patient, Patient.guarantor_id == u.patient_id) for u in patient_logins
    ]
    assert dependants_of[0] >= 1

    report = integrity.run(session)
    assert report.ok, report.violations
    assert report.checked["invoices"] == 150
    # + the bank transfer still settled, the fraud demo's two cash payments and the prepayment
    assert report.checked["payments"] == result.payments + 4
    assert report.checked["refunds"] == 3  # the fraud demo's, and the refunds demo's two

    # Bank transfers (docs/bank-transfers.md): one settled, one pending, one returned R01 after
    # it had settled (its entry reversed); none changed an invoice's status.
    bank = session.scalars(
        select(Payment).where(
            Payment.gateway_provider == "testgw", Payment.method == "bank_transfer"
        )
    ).all()
    assert sorted((p.method, p.status, p.return_code) for p in bank) == [
        ("bank_transfer", "pending", None),
        ("bank_transfer", "returned", "R01"),
        ("bank_transfer", "succeeded", None),
    ]
    assert all(p.bank_last4 == "6789" or p.bank_last4 == "6661" for p in bank)
    returned = next(p for p in bank if p.status == "returned")
    assert returned.entry_id is not None
    assert _count(session, JournalEntry, JournalEntry.reverses_id == returned.entry_id) == 1
    assert audited("payment:bank_returned_after_settlement") == 1

    # Refunds (docs/refunds-approvals.md): the newest cash overpayment's credit went back in cash,
    # 25.00 of a payment on a partially paid invoice (whose balance grew by exactly that), 600.00
    # of a 650.00 prepayment waits for an administrator: above the clerk's 500.00 limit.
    refunds = session.scalars(
        select(Refund)
        .where(Refund.reason.in_(["Overpayment returned", "Billing error: lab fee charged twice"]))
        .order_by(Refund.created_at, Refund.id)
    ).all()
    assert [r.status for r in refunds] == ["paid", "paid"]
    assert refunds[1].amount_minor == 2500
    credit_refunded = session.get(Payment, refunds[0].payment_id)
    assert credit_refunded is not None
    assert refunds[0].amount_minor == credit_refunded.unapplied_minor
    reopened = session.scalars(
        select(RefundPart.invoice_id).where(RefundPart.refund_id == refunds[1].id)
    ).all()
    assert len(reopened) == 1
    reopened_invoice = session.get(Invoice, reopened[0])
    assert reopened_invoice is not None
    assert reopened_invoice.status == "partially_paid"
    allocated = session.scalars(
        select(func.sum(PaymentAllocation.amount_minor)).where(
            PaymentAllocation.invoice_id == reopened_invoice.id
        )
    ).one()
    balance = LedgerRepository(session).invoice_ar_balances([reopened_invoice.id])
    refunded = 2500
    assert balance[reopened_invoice.id] == reopened_invoice.total_minor - allocated + refunded
    (pending,) = session.scalars(select(ApprovalRequest)).all()
    assert (pending.operation, pending.status, pending.amount_minor) == (
        "refund",
        "requested",
        60000,
    )
    assert users["billing"].id == pending.requested_by
    # Fraud reviews (docs/fraud.md), made by the real rules screening the staff logins' demo
    # activity: a flag, a blocked attempt, a held refund and an after-the-fact flag.
    billing, admin = users["billing"], users["admin"]
    reviews = session.scalars(select(FraudReview).order_by(FraudReview.id)).all()
    assert [(r.rule_code, r.action, r.status, r.subject_type, r.amount_minor) for r in reviews] == [
        ("duplicate_payment", "flag", "open", "payment", 3500),
        ("card_testing", "block", "open", "payment", 100),
        ("refund_just_under_limit", "hold", "held", "refund", 49500),
        ("refund_ratio", "flag", "open", "user", 49000),
    ]
    assert [r.explanation for r in reviews] == [
        "1 other cash payment of 35.00 for this patient in 10 minutes (limit 1)",
        "3 declines for small amounts (up to 10.00) on this card fingerprint in 10 minutes "
        "(limit 3)",
        "2 refunds by this user within 5% below the 500.00 approval limit in 7 days (limit 2); "
        "this one is 495.00",
        "This user refunded 490.00 against 70.00 collected in 7 days: 700% (limit 50%, from "
        "100.00 refunded)",
    ]
    assert all(r.actor_user_id == billing.id for r in reviews)
    duplicate, blocked, held, ratio = reviews
    # Two cash payments of the same amount by the billing login on one partially paid invoice,
    # which stays partially paid; the second is flagged.
    staff = session.scalars(
        select(Payment).where(Payment.id.in_(_fraud_demo_payments(session))).order_by(Payment.id)
    ).all()
    assert [
        (p.created_by, p.method, p.status, p.amount_minor, p.unapplied_minor) for p in staff
    ] == [
        (billing.id, "cash", "succeeded", 3500, 0),
        (billing.id, "cash", "succeeded", 3500, 0),
        (billing.id, "card", "declined", 100, 0),
        (billing.id, "card", "declined", 200, 0),
        (billing.id, "card", "declined", 300, 0),
        (admin.id, "cash", "succeeded", 100000, 100000),
    ]
    assert duplicate.subject_id == duplicate.payment_id == staff[1].id
    dup_invoices = session.scalars(
        select(Invoice.status)
        .join(PaymentAllocation, PaymentAllocation.invoice_id == Invoice.id)
        .where(PaymentAllocation.payment_id.in_([staff[0].id, staff[1].id]))
    ).all()
    assert dup_invoices == ["partially_paid", "partially_paid"]
    # Three small declines on one test card through the test gateway, then the fourth attempt
    # refused before the charge: only its review remains (no payment, no charge).
    declined = staff[2:5]
    assert {p.decline_code for p in declined} == {"generic_decline"}
    assert len({p.card_fingerprint for p in declined} - {None}) == 1
    assert _count(session, TestgwCharge) == 3
    assert (blocked.subject_id, blocked.payment_id) == (None, None)
    assert audited("payment:card_attempt") == audited("payment:card_declined") == 3
    # A prepayment of 1,000.00 (twice the billing staff's 500.00 limit) refunded by the billing
    # login in two parts just under the limit: 490.00 paid, 495.00 held (not executed).
    prepayment = staff[5]
    refunds = session.scalars(select(Refund).where(Refund.payment_id == prepayment.id)).all()
    assert [(r.payment_id, r.amount_minor, r.status, r.created_by) for r in refunds] == [
        (prepayment.id, 49000, "paid", billing.id)
    ]
    assert (held.subject_id, held.payment_id) == (None, prepayment.id)
    assert held.payload == {
        "payment_id": str(prepayment.id),
        "refund": {"amount": "495.00", "reason": "Procedure cancelled: prepayment returned"},
    }
    assert (ratio.subject_id, ratio.payment_id) == (billing.id, None)
    assert {a: audited(f"fraud:{a}") for a in ("flag", "block", "hold")} == {
        "flag": 2,
        "block": 1,
        "hold": 1,
    }
    assert audited("payment:refund") == 3

    text = result.summary()
    for login in result.logins:
        assert f"{login.username} " in text
        assert login.password in text
    assert "demo-admin-password" in text
    assert "demo-patient-password" in text
    assert "30 patients (5 dependants" in text
    assert "150 invoices: 116 paid, 9 partially paid, 14 open, 4 void, 5 written off, 2 draft" in (
        text
    )

    # The front desk: every payment has its receipt; today's drawer closed 0.50 short and
    # deposited, a second one open; the day's report reconciles to the ledger.
    # + the two bank transfers that settled (one later returned), the fraud demo's three cash
    # payments, and the three paid refunds (the fraud demo's one, the refunds demo's two)
    assert _count(session, Receipt) == result.payments + 2 + 3 + 3
    drawers = session.scalars(select(CashDrawer).order_by(CashDrawer.opened_at)).all()
    assert [(d.status, d.over_short_minor, d.deposit_id is not None) for d in drawers] == [
        ("closed", -50, True),
        ("open", None, False),
    ]
    report = cash_service.daily_report(session, Principal.system(), result.practice_id, today())
    assert report.reconciled
    assert (report.totals.deposits, report.totals.over_short) == (11700, -50)


def test_demo_fraud_queue_is_listed_and_decided(session: Session, client: TestClient) -> None:
    """The demo's review queue through the API (billing staff may read it), and an admin's
    decisions on it: approving the held refund executes it, exactly as asked for."""
    demo.seed(session, HASHER, patients=12, invoices=60, seed=7, today=PINNED)
    session.flush()
    token = auth_service.login(
        session, "billing", "demo-billing-password", HASHER, ttl_minutes=60
    ).token
    session.flush()
    r = client.get("/api/v1/fraud/reviews", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    listed = {i["rule_code"]: i for i in r.json()["items"]}
    assert {code: (i["action"], i["status"]) for code, i in listed.items()} == {
        "refund_ratio": ("flag", "open"),
        "refund_just_under_limit": ("hold", "held"),
        "card_testing": ("block", "open"),
        "duplicate_payment": ("flag", "open"),
    }
    assert listed["refund_just_under_limit"]["amount"] == "495.00"

    admin_user = session.scalars(select(User).where(User.username == "admin")).one()
    admin = auth_service.principal_for(session, admin_user, mfa=True)
    held = uuid.UUID(listed["refund_just_under_limit"]["id"])
    approved = fraud_service.decide(
        session, admin, held, ReviewDecide(decision=Decision.APPROVE), idempotency_key="k1"
    )
    assert approved.status == "approved"
    refund = session.get(Refund, approved.result_id)
    assert refund is not None
    assert (refund.amount_minor, refund.status, refund.payment_id, refund.created_by) == (
        49500,
        "paid",
        approved.payment_id,
        admin_user.id,
    )
    blocked = uuid.UUID(listed["card_testing"]["id"])
    confirmed = fraud_service.decide(
        session, admin, blocked, ReviewDecide(decision=Decision.CONFIRM), idempotency_key="k2"
    )
    assert confirmed.status == "confirmed"
    assert integrity.run(session).ok


@pytest.mark.parametrize(
    ("patients", "invoices", "statuses"),
    [
        (1, 1, {"paid": 1}),
        (2, 5, {"paid": 1, "open": 1, "partially_paid": 1, "void": 1, "written_off": 1}),
        (
            3,
            12,
            {"paid": 6, "open": 2, "partially_paid": 1, "void": 1, "written_off": 1, "draft": 1},
        ),
    ],
)
def test_tiny_seeds_still_work(
    session: Session, patients: int, invoices: int, statuses: dict[str, int]
) -> None:
    result = demo.seed(session, HASHER, patients=patients, invoices=invoices, seed=1, today=PINNED)
    session.flush()
    assert _count(session, Patient) == patients
    assert _statuses(session) == statuses
    assert integrity.run(session).ok
    staff = {"admin", "billing", "insurance"}
    assert staff <= {lg.username for lg in result.logins}
    # Patient logins go to adults: with a single adult there is one.
    assert len(result.logins) == 3 + min(2, patients - result.dependants)


def test_has_data_and_refusals(session: Session) -> None:
    assert demo.has_data(session) is False
    with pytest.raises(ValueError, match="at least one patient"):
        demo.seed(session, HASHER, patients=0, invoices=10, seed=1)
    with pytest.raises(ValueError, match="future"):
        demo.seed(session, HASHER, patients=5, invoices=10, seed=1, today=today() + dt.timedelta(1))
    session.flush()
    assert demo.has_data(session) is False  # refused before anything was written
    demo.seed(session, HASHER, patients=3, invoices=6, seed=1, today=PINNED)
    session.flush()
    assert demo.has_data(session) is True


# determinism -----------------------------------------------------------------------------------


def fingerprint(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a person would see, without the random ids and timestamps."""
    acct = {p.id: p.account_number for p in session.scalars(select(Patient))}
    inv = {i.id: i for i in session.scalars(select(Invoice))}

    def label(invoice_id: uuid.UUID) -> str:
        i = inv[invoice_id]
        return i.display_number or f"draft of {acct[i.patient_id]} {i.total_minor}"

    return {
        "patients": sorted(
            (
                p.account_number,
                p.first_name,
                p.last_name,
                p.date_of_birth,
                p.sex,
                p.address_line1,
                p.city,
                p.email,
                acct.get(p.guarantor_id) if p.guarantor_id else None,
            )
            for p in session.scalars(select(Patient))
        ),
        "invoices": sorted(
            (
                label(i.id),
                i.status,
                i.total_minor,
                i.discount_minor,
                i.issue_date,
                i.due_date,
                acct[i.patient_id],
            )
            for i in inv.values()
        ),
        "lines": sorted(
            (
                label(ln.invoice_id),
                ln.position,
                ln.service_code,
                tuple(ln.modifiers),
                ln.units,
                ln.unit_price_minor,
                ln.discount_minor,
                tuple(ln.diagnosis_codes),
                ln.date_of_service,
            )
            for ln in session.scalars(select(InvoiceLine))
        ),
        "payments": sorted(
            (
                acct[p.patient_id],
                p.received_on,
                p.method,
                p.amount_minor,
                p.unapplied_minor,
                p.reference or "",
            )
            for p in session.scalars(select(Payment))
        ),
        "adjustments": sorted(
            (label(a.invoice_id), a.kind, a.reason_code, a.amount_minor)
            for a in session.scalars(select(InvoiceAdjustment))
        ),
        "users": sorted(
            (u.username, u.role, acct.get(u.patient_id) if u.patient_id else None)
            for u in session.scalars(select(User))
        ),
        "fraud_reviews": sorted(
            (r.rule_code, r.action, r.status, r.amount_minor, r.explanation)
            for r in session.scalars(select(FraudReview))
        ),
    }


def _seed_fresh_sqlite(path: Path, seed: int) -> tuple[demo.SeedResult, dict[str, Any]]:
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        with unit_of_work(factory) as s:
            result = demo.seed(s, HASHER, patients=12, invoices=60, seed=seed, today=PINNED)
        with factory() as s:
            return result, fingerprint(s)
    finally:
        engine.dispose()


def _without_id(result: demo.SeedResult) -> demo.SeedResult:
    return dataclasses.replace(result, practice_id=uuid.UUID(int=0))


def test_same_seed_same_data(session: Session, tmp_path: Path) -> None:
    """Seeded here (SQLite or PostgreSQL, inside the test transaction) and again into a fresh,
    committed SQLite database: the same patients, invoice numbers, totals, statuses, lines,
    payments and logins. Another seed gives other data."""
    first = demo.seed(session, HASHER, patients=12, invoices=60, seed=20261126, today=PINNED)
    session.flush()
    here = fingerprint(session)

    again, there = _seed_fresh_sqlite(tmp_path / "again.db", 20261126)
    assert there == here
    assert _without_id(again) == _without_id(first)
    assert len(here["invoices"]) == 60
    assert len(here["patients"]) == 12
    assert len(here["fraud_reviews"]) == 4

    _, other = _seed_fresh_sqlite(tmp_path / "other.db", 20261127)
    assert other["patients"] != here["patients"]
    assert other["invoices"] != here["invoices"]


# the full demo ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_default_demo(session: Session) -> None:
    """What `revcycle demo seed` builds by default (about 15-25 s on SQLite)."""
    result = demo.seed(session, HASHER, patients=220, invoices=2200, seed=20261126)
    session.flush()
    assert _count(session, Patient) == result.patients == 220
    # 2,200 invoices, and the visit an EHR sent as FHIR ChargeItems (docs/charges.md)
    assert result.invoices == 2200
    assert _count(session, Invoice) == result.invoices + 1
    assert result.charges_import is not None
    assert (
        result.charges_import.charges,
        result.charges_import.invoices,
        result.charges_import.claims,
        result.charges_import.resent_created,
    ) == (2, 1, 1, 0)
    assert result.charges_import.issued_minor == 19500
    # (the quotas, then the demo payment plans: the completed one paid an open invoice; then the
    # demo claims, built from open invoices, which the payer's 835 paid in part or in full;
    # then the imported visit, issued and open)
    from revcycle.claims.models import Claim

    claimed = select(Claim.invoice_id).where(Claim.status != "void")
    moved = {
        status: _count(session, Invoice, Invoice.id.in_(claimed), Invoice.status == status)
        for status in ("paid", "partially_paid")
    }
    assert (
        _statuses(session)
        == result.statuses
        == {
            "paid": 1717 + moved["paid"],
            "partially_paid": 132 + moved["partially_paid"],
            "open": 197 + 1 - moved["paid"] - moved["partially_paid"],
            "void": 55,
            "written_off": 66,
            "draft": 33,
        }
    )
    issue_dates = session.scalars(select(Invoice.issue_date).where(Invoice.issue_date.is_not(None)))
    months = {(d.year, d.month) for d in issue_dates if d is not None}
    assert len(months) >= 18
    assert result.window_end == today()
    assert min(months) == (result.window_start.year, result.window_start.month)
    assert 0 < result.overdue < result.statuses["open"] + result.statuses["partially_paid"]
    assert result.auto_applied_payments > 0
    assert result.multi_invoice_payments > 0
    assert result.overpayments > 0
    assert result.credit_notes > 0
    report = integrity.run(session)
    assert report.ok, report.violations
    assert report.checked["invoices"] == 2201

    # The claim cycle ran through the real parts (docs/claims.md, "Demo"): every status of the
    # claim state model, and every kind of 835 event, made by the payer simulator's answers.
    from revcycle.appeals.models import Appeal
    from revcycle.claims import denials, states, submission
    from revcycle.claims.models import Claim
    from revcycle.remittances import queries as remittances
    from revcycle.remittances.models import (
        Remittance,
        RemittanceClaim,
        RemittanceUnmatched,
        Underpayment,
    )

    statuses = Counter(session.scalars(select(Claim.status)))
    assert dict(statuses) == result.claims
    assert list(result.claims) == [st for st in states.TRANSITIONS if st in statuses]
    assert set(statuses) == set(states.TRANSITIONS)  # at least one claim in every status
    # drafts: the claims demo's, and the visit an EHR sent (docs/charges.md)
    assert statuses["draft"] == 2
    one_each = (
        "scrubbed",
        "submitted",
        "rejected",
        "denied",
        "appealed",
        "closed",
        "void",
    )
    assert {st: statuses[st] for st in one_each} == dict.fromkeys(one_each, 1)
    assert statuses["accepted"] == 2  # a primary and the secondary claim, their 835 in 2 weeks
    assert statuses["held"] >= 1
    assert statuses["adjudicated"] >= 5
    assert _count(session, Claim, Claim.sequence == "secondary") == 1
    assert _count(session, Appeal) == 1
    # one reversal (XRV) and its corrected claim; provider adjustments L6 (XIT), WO (XWO) and
    # the negative run carried forward (FB)
    assert _count(session, RemittanceClaim, RemittanceClaim.outcome == "reversal") == 1
    assert _count(session, RemittanceClaim, RemittanceClaim.status_code == "22") == 1
    plb = Counter(
        p["reason"]
        for summary in session.scalars(select(Remittance.summary))
        for p in summary["provider_adjustments"]
    )
    # FB twice: XRV's negative run carried forward, then collected by the XDP duplicate's run
    assert plb == {"L6": 1, "WO": 1, "FB": 2}
    assert _count(session, Underpayment) >= 1
    # every claim that reached the payer's adjudication was posted once (XRV twice more); the
    # XDP claim's duplicate payment is held for review, not posted
    decided = sum(statuses[st] for st in ("adjudicated", "denied", "appealed", "closed"))
    assert _count(session, RemittanceClaim) == decided + 3
    [(held_reason, held_minor, held_pcn)] = session.execute(
        select(
            RemittanceUnmatched.reason,
            RemittanceUnmatched.held_minor,
            RemittanceClaim.patient_control_number,
        )
        .join(RemittanceClaim, RemittanceClaim.id == RemittanceUnmatched.remittance_claim_id)
        .where(RemittanceUnmatched.status == "open")
    ).all()
    assert "already settled by this payer" in held_reason
    [first_paid] = session.scalars(
        select(RemittanceClaim.paid_minor).where(
            RemittanceClaim.patient_control_number == held_pcn,
            RemittanceClaim.outcome == "adjudicated",
        )
    ).all()
    assert held_minor == first_paid > 0  # the same payment again, held
    cycle = result.claim_cycle
    assert cycle is not None
    assert (cycle.reversals, cycle.provider_adjustments, cycle.appeals) == (
        1,
        {"L6": 1, "WO": 1, "FB": 2},
        1,
    )
    assert (cycle.secondary_claims, cycle.underpayments, cycle.remittance_sets) == (
        1,
        _count(session, Underpayment),
        _count(session, Remittance),
    )
    summary = result.summary()
    assert f"{sum(statuses.values())} insurance claims: " in summary
    assert "1 reversal, provider adjustments (PLB) FB 2, L6 1, WO 1; " in summary
    assert ", 1 remittance claim held for review" in summary
    assert cycle.held_for_review == 1

    # What the insurance specialist's login sees: the rejection with where the 277CA says the
    # error is, the denial (XDN, CO-50) in the denial queue, the underpayments.
    insurance = session.scalars(select(User).where(User.username == "insurance")).one()
    specialist = auth_service.principal_for(session, insurance, mfa=True)
    (rejection,) = submission.list_rejections(session, specialist).items
    assert rejection.event is not None
    assert rejection.event.detail["codes"] == ["A7:158:IL"]
    assert (
        rejection.event.detail["loop"],
        rejection.event.detail["segment"],
        rejection.event.detail["element"],
    ) == ("2010BA", "DMG", 2)
    queue = denials.queue(session, specialist)
    denied = [d for d in queue.items if d.claim.status == "denied"]
    assert [[(a.group, a.reason) for a in d.lines[0].adjustments] for d in denied] == [
        [("CO", "50")]
    ]
    listed = remittances.list_underpayments(
        session, specialist, practice_id=None, status="open", cursor=None, limit=50
    )
    assert len(listed.items) == _count(session, Underpayment) >= 1


# the command -----------------------------------------------------------------------------------


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    monkeypatch.setenv("REVCYCLE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("REVCYCLE_ARGON2_MEMORY_KIB", "8")
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_cli_demo_seed(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]], tmp_path: Path
) -> None:
    r = cli.invoke(app, ["demo", "seed", "--patients", "6", "--invoices", "24", "--seed", "5"])
    assert r.exit_code == 0, r.output
    r_first = r.output
    assert "6 patients" in r.output
    assert "24 invoices" in r.output
    for username, password in [
        ("admin", "demo-admin-password"),
        ("billing", "demo-billing-password"),
        ("insurance", "demo-insurance-password"),
    ]:
        assert username in r.output
        assert password in r.output
    assert r.output.count("demo-patient-password") == 2

    r = cli.invoke(app, ["demo", "seed", "--if-empty"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "demo data already present; nothing to do"
    with committed_db[2]() as s:
        # committed once, not twice: the 24 made, and the visit an EHR sent (docs/charges.md)
        assert _count(s, Invoice) == 24 + 1
    assert "1 visit imported from an EHR as FHIR ChargeItems (2 charges, $195.00)" in r_first

    r = cli.invoke(app, ["check"])
    assert r.exit_code == 0, r.output
    assert "ledger balanced; no drift" in r.output

    # A demo payment's receipt, printed to a PDF file.
    with committed_db[2]() as s:
        payment_id = s.scalars(select(Receipt.payment_id).where(Receipt.series == "R")).first()
    out = tmp_path / "receipt.pdf"
    r = cli.invoke(app, ["receipts", "print", str(payment_id), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")
    r = cli.invoke(app, ["receipts", "print", "nope", "--out", str(out)])
    assert r.exit_code != 0


def test_demo_payment_plans(session: Session) -> None:
    """The demo has an active plan on autopay from a stored card, a completed and a defaulted
    plan (docs/payment-plans.md). Only a window ending today gets them: plan dates and desk
    payments are real dates, never after the window."""
    from revcycle.paymethods.models import StoredPaymentMethod
    from revcycle.plans.models import PaymentPlan

    demo.seed(session, HASHER, patients=12, invoices=60, seed=20261126)
    session.flush()
    plans = {p.status: p for p in session.scalars(select(PaymentPlan))}
    assert sorted(plans) == ["active", "completed", "defaulted"]
    assert plans["active"].method_id is not None
    assert plans["defaulted"].missed_count == 3
    card = session.get(StoredPaymentMethod, plans["active"].method_id)
    assert card is not None
    assert (card.kind, card.brand, card.last4, card.status) == ("card", "visa", "4242", "active")
    report = integrity.run(session)
    assert report.ok, report.violations
