"""Limits -> approval request -> approve (executes, re-checked) / reject (nothing); segregation of
duties (not the requester) and the second factor; write-offs through the same flow."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from revcycle.approvals import service as approvals
from revcycle.approvals.models import ApprovalRequest
from revcycle.approvals.schemas import ApprovalReject
from revcycle.auth.principal import Principal
from revcycle.errors import DomainError
from revcycle.invoices import service as invoices_service
from revcycle.invoices.models import Invoice
from revcycle.invoices.schemas import WriteOffCreate
from revcycle.ledger.repository import LedgerRepository
from revcycle.refunds.models import Refund
from revcycle.refunds.service import RefundView
from tests.factories.auth import make_user, principal
from tests.factories.invoices import make_invoice
from tests.factories.practices import SYSTEM, make_practice
from tests.invoices.helpers import World, pay, priced
from tests.refunds.helpers import balances, full_snapshot, limits, refund


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def mfa(p: Principal) -> Principal:
    return dataclasses.replace(p, mfa=True)


@pytest.fixture
def ctx(session: Session, w: World) -> dict[str, Any]:
    """A 300.00 payment: 100.00 to A, 150.00 to B, 50.00 credit; a clerk with a 100.00 refund
    limit asks to refund 120.00."""
    a = make_invoice(session, w.patient, lines=priced("100.00"))
    b = make_invoice(session, w.patient, lines=priced("150.00"))
    payment = pay(session, w.patient, "300.00", [(a, "100.00"), (b, "150.00")]).payment
    clerk = principal(session, w.staff)
    admin = mfa(principal(session, make_user(session, "admin", practices=[w.practice])))
    before = full_snapshot(session, a.id, b.id)
    request = refund(
        session, clerk, payment.id, "120.00", limits=limits(refund="100.00"), reason="Moved away"
    )
    assert isinstance(request, ApprovalRequest)
    return {
        "a": a,
        "b": b,
        "payment": payment,
        "clerk": clerk,
        "admin": admin,
        "req": request,
        "before": before,
    }


def test_above_the_limit_becomes_a_request_and_nothing_moves(
    session: Session, w: World, ctx: dict[str, Any]
) -> None:
    req = ctx["req"]
    assert (req.operation, req.object_type, req.object_id) == (
        "refund",
        "payment",
        ctx["payment"].id,
    )
    assert (req.amount_minor, req.limit_minor, req.currency, req.status) == (
        12000,
        10000,
        "USD",
        "requested",
    )
    assert req.payload == {"amount": "120.00", "reason": "Moved away"}
    assert req.requested_by == w.staff.id
    after = full_snapshot(session, ctx["a"].id, ctx["b"].id)
    assert after["approval_requests"] == ctx["before"]["approval_requests"] + 1
    assert after["audit_events"] == ctx["before"]["audit_events"] + 1  # approval:request
    for key in ("journal_entries", "postings", "refunds", "refund_parts", f"invoice {ctx['a'].id}"):
        assert after[key] == ctx["before"][key], key
    # at or under the limit it just refunds
    done = refund(
        session, ctx["clerk"], ctx["payment"].id, "100.00", limits=limits(refund="100.00")
    )
    assert isinstance(done, RefundView)


def test_approve_executes_the_refund(session: Session, w: World, ctx: dict[str, Any]) -> None:
    req = approvals.approve(session, ctx["admin"], ctx["req"].id)
    assert (req.status, req.decided_by) == ("executed", ctx["admin"].user_id)
    assert req.executed_at is not None
    made = session.get(Refund, req.result_id)
    assert made is not None
    assert (made.amount_minor, made.approval_request_id, made.reason) == (
        12000,
        req.id,
        "Moved away",
    )
    # 50.00 credit, then 70.00 of B (applied last)
    assert balances(session, ctx["a"], ctx["b"]) == [("paid", 0), ("partially_paid", 7000)]
    assert LedgerRepository(session).patient_balances(w.patient.id) == (7000, 0)
    # decided once only
    with pytest.raises(DomainError) as exc:
        approvals.approve(session, ctx["admin"], req.id)
    assert (exc.value.code, exc.value.status) == ("approval.not_pending", 409)


def test_reject_changes_nothing_but_the_request(
    session: Session, w: World, ctx: dict[str, Any]
) -> None:
    req = approvals.reject(session, ctx["admin"], ctx["req"].id, ApprovalReject(reason="No"))
    assert (req.status, req.decision_reason, req.result_id) == ("rejected", "No", None)
    after = full_snapshot(session, ctx["a"].id, ctx["b"].id)
    for key in ("journal_entries", "postings", "refunds", f"invoice {ctx['b'].id}"):
        assert after[key] == ctx["before"][key], key
    with pytest.raises(DomainError) as exc:
        approvals.approve(session, ctx["admin"], req.id)
    assert exc.value.code == "approval.not_pending"


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("requester_admin", 403, "auth.same_approver"),
        ("admin_without_mfa", 403, "auth.mfa_required"),
        ("billing_staff", 403, "auth.forbidden"),
        ("admin_elsewhere", 404, "approval.not_found"),
    ],
)
def test_who_may_not_approve(
    session: Session, w: World, ctx: dict[str, Any], who: str, status: int, code: str
) -> None:
    request_id = ctx["req"].id
    if who == "requester_admin":  # an admin above the admin limit asks, then tries to approve
        approver = ctx["admin"]
        own = pay(session, w.patient, "20.00", []).payment
        request_id = refund(session, approver, own.id, "10.00", limits=limits(refund="0")).id
    elif who == "admin_without_mfa":
        approver = dataclasses.replace(ctx["admin"], mfa=False)
    elif who == "billing_staff":
        approver = mfa(
            principal(session, make_user(session, "billing_staff", practices=[w.practice]))
        )
    else:
        other = make_practice(session, name="Elsewhere")
        approver = mfa(principal(session, make_user(session, "admin", practices=[other])))
    before = full_snapshot(session, ctx["a"].id, ctx["b"].id)
    for decide in (
        lambda: approvals.approve(session, approver, request_id),
        lambda: approvals.reject(session, approver, request_id, ApprovalReject(reason="x")),
    ):
        with pytest.raises(DomainError) as exc:
            decide()
        assert (exc.value.status, exc.value.code) == (status, code)
        assert full_snapshot(session, ctx["a"].id, ctx["b"].id) == before


def test_approval_rechecks_the_refundable_amount(
    session: Session, w: World, ctx: dict[str, Any]
) -> None:
    """Between request and approval another refund took 200.00: 120.00 no longer fits (the
    adapter then rolls the unit of work back: see tests/refunds/test_endpoints.py)."""
    refund(session, SYSTEM, ctx["payment"].id, "200.00")
    with pytest.raises(DomainError) as exc:
        approvals.approve(session, ctx["admin"], ctx["req"].id)
    assert exc.value.code == "refund.exceeds_refundable"
    assert exc.value.data == {"refundable": "100.00"}


def test_write_off_above_the_limit_needs_approval(session: Session, w: World) -> None:
    inv = make_invoice(session, w.patient, lines=priced("250.00"))
    clerk = principal(session, w.staff)
    admin = mfa(principal(session, make_user(session, "admin", practices=[w.practice])))
    data = WriteOffCreate.model_validate({"reason_code": "bad_debt", "memo": "Gone"})
    before = full_snapshot(session, inv.id)
    req = invoices_service.write_off_invoice(
        session, clerk, inv.id, data, limits=limits(write_off="200.00")
    )
    assert isinstance(req, ApprovalRequest)
    assert (req.operation, req.amount_minor, req.limit_minor) == ("write_off", 25000, 20000)
    after = full_snapshot(session, inv.id)
    assert after["journal_entries"] == before["journal_entries"]
    assert after[f"invoice {inv.id}"] == before[f"invoice {inv.id}"]

    # the balance grows? It cannot here; it shrinks: a 100.00 payment -> 150.00 is written off
    pay(session, w.patient, "100.00", [(inv, "100.00")])
    done = approvals.approve(session, admin, req.id)
    assert (done.status, done.result_id) == ("executed", inv.id)
    assert session.scalar(select(Invoice.status).where(Invoice.id == inv.id)) == "written_off"
    assert LedgerRepository(session).invoice_ar_balances([inv.id]) == {inv.id: 0}
    assert session.scalar(select(func.count()).select_from(ApprovalRequest)) == 1


def test_write_off_approval_refused_when_the_balance_grew(session: Session, w: World) -> None:
    inv = make_invoice(session, w.patient, lines=priced("250.00"))
    payment = pay(session, w.patient, "100.00", [(inv, "100.00")]).payment
    clerk = principal(session, w.staff)
    admin = mfa(principal(session, make_user(session, "admin", practices=[w.practice])))
    data = WriteOffCreate.model_validate({"reason_code": "bad_debt"})
    req = invoices_service.write_off_invoice(
        session, clerk, inv.id, data, limits=limits(write_off="100.00")
    )
    assert isinstance(req, ApprovalRequest)
    assert req.amount_minor == 15000
    refund(session, SYSTEM, payment.id, "100.00")  # the balance is 250.00 again
    with pytest.raises(DomainError) as exc:
        approvals.approve(session, admin, req.id)
    assert (exc.value.code, exc.value.status) == ("approval.amount_changed", 409)


def test_one_pending_request_per_payment(session: Session, w: World, ctx: dict[str, Any]) -> None:
    before = full_snapshot(session, ctx["a"].id, ctx["b"].id)
    with pytest.raises(DomainError) as exc:
        refund(session, ctx["clerk"], ctx["payment"].id, "110.00", limits=limits(refund="100.00"))
    assert (exc.value.code, exc.value.status) == ("approval.already_pending", 409)
    assert exc.value.data == {"approval_request_id": str(ctx["req"].id)}
    assert full_snapshot(session, ctx["a"].id, ctx["b"].id) == before
    approvals.reject(session, ctx["admin"], ctx["req"].id, ApprovalReject(reason="Ask again"))
    again = refund(
        session, ctx["clerk"], ctx["payment"].id, "110.00", limits=limits(refund="100.00")
    )
    assert isinstance(again, ApprovalRequest)
