"""Settlement reconciliation: the gateway's day (charges, refunds, fees) against card clearing,
differences listed with references, the payout posted once (clearing -> bank, fees -> 6200)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.principal import Principal
from revcycle.gateway.base import SettlementLine, SettlementReport
from revcycle.gateway.testgw.service import TestGateway
from revcycle.gateway.testgw.settlement import fee_minor, payout_id
from revcycle.integrity import service as integrity
from revcycle.kit.clock import utcnow
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import Account, Posting
from revcycle.reconciliation import calc, service
from tests.gateway.helpers import APPROVED, tokenize
from tests.invoices.helpers import World, count
from tests.refunds.helpers import entry_legs

OPERATOR = Principal.system(username="reconciliation")


def balance(session: Session, code: AccountCode) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(Account, Account.id == Posting.account_id)
            .where(Account.code == code.value)
        )
        or 0
    )


@pytest.fixture
def w(session: Session) -> World:
    world = World.build(session)
    world.extra["a"] = world.invoice("open", "125.00")
    world.extra["b"] = world.invoice("open", "40.00")
    session.commit()
    return world


def _pay(client: TestClient, w: World, invoice: Any, amount: str, key: str) -> Any:
    body = {
        "patient_id": str(w.patient.id),
        "amount": amount,
        "method": "card",
        "token": tokenize(client, APPROVED),
        "allocations": [{"invoice_id": str(invoice.id), "amount": amount}],
    }
    r = client.post("/api/v1/payments", json=body, headers=w.headers | {"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_day_reconciled_and_its_payout_posted_once(
    client: TestClient, session: Session, w: World, factory: sessionmaker[Session]
) -> None:
    day = utcnow().date()
    p1 = _pay(client, w, w.extra["a"], "125.00", "s1")
    _pay(client, w, w.extra["b"], "40.00", "s2")
    r = client.post(
        f"/api/v1/payments/{p1['id']}/refunds",
        json={"amount": "25.00"},
        headers=w.headers | {"Idempotency-Key": "s3"},
    )
    assert r.status_code == 201, r.text
    gw = TestGateway(factory)
    dash = gw.refund(p1["gateway_charge_id"], 1000, "dashboard-x")  # not made by revcycle

    report = gw.settlement_report(day)
    assert (report.payout_id, report.gross_minor, report.refunded_minor, report.fees_minor) == (
        payout_id(day),
        16500,
        3500,
        fee_minor(12500) + fee_minor(4000),
    )
    assert report.fees_minor == 393 + 146
    assert report.net_minor == 16500 - 3500 - 539

    view = service.reconcile_settlement(session, OPERATOR, gw.provider, report)
    run = view.run
    assert (
        run.status,
        run.difference_count,
        run.ledger_charges_minor,
        run.ledger_refunds_minor,
    ) == (
        "differences",
        1,
        16500,
        2500,
    )
    assert [
        (d.kind, d.item, d.reference, d.charge_id, d.gateway_minor, d.ledger_minor, d.practice_id)
        for d in view.differences
    ] == [
        (
            "missing_in_ledger",
            "refund",
            dash.id,
            p1["gateway_charge_id"],
            1000,
            None,
            w.practice.id,
        )
    ]
    (payout,) = view.payouts
    assert (payout.cleared_minor, payout.fees_minor, payout.practice_id) == (
        14000,
        539,
        w.practice.id,
    )
    assert entry_legs(session, payout.entry_id) == [
        (AccountCode.CARD_CLEARING.value, -14000, None),
        (AccountCode.BANK_OPERATING.value, 13461, None),
        (AccountCode.CARD_FEES.value, 539, None),
    ]
    # matched money has left clearing for the bank; the dashboard refund's 10.00 is not in the
    # ledger at all (it is the listed difference, for staff to resolve)
    assert balance(session, AccountCode.CARD_CLEARING) == 0
    assert balance(session, AccountCode.BANK_OPERATING) == 13461

    # a re-run stores a new run but posts nothing twice
    entries = count(session, "journal_entries")
    again = service.reconcile_settlement(session, OPERATOR, gw.provider, report)
    assert (again.run.difference_count, again.payouts) == (1, [])
    assert count(session, "journal_entries") == entries
    assert count(session, "settlement_payouts") == 1
    assert count(session, "reconciliation_runs") == 2
    session.commit()
    session.expire_all()
    assert integrity.run(session).violations == []

    listed = client.get(
        "/api/v1/reconciliation/settlements", params={"date": str(day)}, headers=w.headers
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [str(again.run.id), str(run.id)]
    first = items[1]
    assert (first["gateway_gross"], first["gateway_refunded"], first["gateway_fees"]) == (
        "165.00",
        "35.00",
        "5.39",
    )
    assert (first["gateway_net"], first["ledger_charges"], first["ledger_refunds"]) == (
        "124.61",
        "165.00",
        "25.00",
    )
    assert first["differences"] == [
        {
            "kind": "missing_in_ledger",
            "item": "refund",
            "reference": dash.id,
            "charge_id": p1["gateway_charge_id"],
            "practice_id": str(w.practice.id),
            "source_id": None,
            "gateway_amount": "10.00",
            "ledger_amount": None,
        }
    ]
    assert first["payouts"] == [
        {
            "practice_id": str(w.practice.id),
            "payout_id": payout_id(day),
            "cleared": "140.00",
            "fees": "5.39",
            "net": "134.61",
            "entry_id": str(payout.entry_id),
        }
    ]
    other_day = client.get(
        "/api/v1/reconciliation/settlements", params={"date": "2001-01-01"}, headers=w.headers
    )
    assert other_day.json() == {"items": []}
    bad = client.get(
        "/api/v1/reconciliation/settlements", params={"date": "yesterday"}, headers=w.headers
    )
    assert bad.status_code == 422


def test_compare_lists_every_kind_of_difference() -> None:
    practice = uuid.uuid4()
    src = uuid.uuid4()
    lines = [
        SettlementLine("charge", "ch_1", "ch_1", 1000, 59),
        SettlementLine("charge", "ch_2", "ch_2", 2000, 88),
        SettlementLine("refund", "re_1", "ch_1", 300),
    ]
    ours = [
        calc.LedgerItem("charge", "ch_1", "ch_1", 1000, practice, src),
        calc.LedgerItem("charge", "ch_2", "ch_2", 1999, practice, src),
        calc.LedgerItem("charge", "ch_3", "ch_3", 500, practice, src),
    ]
    diffs, matched = calc.compare(lines, ours, {"ch_1": practice})
    assert [(d.kind, d.reference, d.gateway_minor, d.ledger_minor) for d in diffs] == [
        ("amount_mismatch", "ch_2", 2000, 1999),
        ("missing_in_ledger", "re_1", 300, None),
        ("missing_at_gateway", "ch_3", None, 500),
    ]
    assert [(line.id, mine.reference) for line, mine in matched] == [("ch_1", "ch_1")]
    report = SettlementReport(utcnow().date(), "po_x", "USD", 3000, 300, 147, tuple(lines))
    assert report.net_minor == 2553
