"""The test gateway's bank side: routing-number checksums (python-stdnum us.rtn), account
checks, bank tokens that keep no account number, debits that answer processing and settle or
come back returned on the banking days they are due, late returns, idempotent debits."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.gateway.base import ChargeStatus, GatewayRefused, GatewayTimeout, ReturnCode
from revcycle.gateway.testgw import ach, bank
from revcycle.gateway.testgw.models import TestgwBankDebit, TestgwBankToken, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway
from revcycle.kit.clock import today
from tests.gateway.bank_helpers import ACCOUNTS, BANK_TOKENS, ROUTING, bank_body, bank_tokenize
from tests.invoices.helpers import count


@pytest.mark.parametrize(
    ("routing", "ok"),
    [
        ("110000000", True),  # the test routing number
        ("011000015", True),  # Federal Reserve Bank of Boston
        ("021000021", True),  # JPMorgan Chase
        ("026009593", True),  # Bank of America
        ("122105278", True),
        ("021000022", False),  # last digit off: checksum
        ("123456789", False),  # checksum
        ("110000001", False),  # checksum
        ("011000016", False),  # checksum
        ("02100002", False),  # 8 digits
        ("0210000210", False),  # 10 digits
        ("02100002a", False),
        ("", False),
        ("٠٢١٠٠٠٠٢١", False),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_routing_numbers(routing: str, ok: bool) -> None:
    assert ach.routing_ok(routing) is ok


def test_banking_days_skip_weekends() -> None:
    friday = dt.date(2026, 11, 27)
    assert ach.add_banking_days(friday, 2) == dt.date(2026, 12, 1)  # Tuesday
    assert ach.add_banking_days(dt.date(2026, 11, 24), 2) == dt.date(2026, 11, 26)
    assert ach.add_banking_days(friday, 0) == friday


def test_a_bank_token_keeps_no_account_number(client: TestClient, session: Session) -> None:
    r = client.post(BANK_TOKENS, json=bank_body("0001234-56789", routing_number="110 000 000"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("btok_")
    assert body["bank_account"] == {
        "last4": "6789",
        "routing_number": ROUTING,
        "account_type": "checking",
        "bank_name": "Test Bank",
    }
    assert r.headers["cache-control"] == "no-store"
    token = session.get(TestgwBankToken, body["id"])
    assert token is not None
    assert (token.last4, token.scenario, len(token.fingerprint)) == ("6789", "settle", 64)
    savings = client.post(
        BANK_TOKENS, json=bank_body(routing_number="021000021") | {"account_type": "savings"}
    )
    assert savings.json()["bank_account"]["bank_name"] == "JPMorgan Chase Bank"
    unknown_bank = client.post(BANK_TOKENS, json=bank_body(routing_number="122105278"))
    assert unknown_bank.json()["bank_account"]["bank_name"] is None
    for row in session.execute(select(TestgwBankToken.__table__)):
        assert "000123456789" not in " ".join(str(v) for v in row)
        assert "Pat Example" not in " ".join(str(v) for v in row)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"routing_number": "123456789"}, 422, "routing_number_invalid"),
        ({"routing_number": "021000022"}, 422, "routing_number_invalid"),
        ({"routing_number": "11000000"}, 422, "routing_number_invalid"),
        ({"account_number": "123"}, 422, "account_number_invalid"),
        ({"account_number": "123456789012345678"}, 422, "account_number_invalid"),
        ({"account_number": "12345x"}, 422, "account_number_invalid"),
        ({"account_type": "brokerage"}, 422, "account_type_invalid"),
        ({"account_holder_name": "   "}, 422, "account_holder_name_missing"),
        ({"account_holder_name": None}, 400, "invalid_request"),
        ({"extra": "x"}, 400, "invalid_request"),
    ],
)
def test_bank_token_refusals(
    client: TestClient, session: Session, change: dict[str, object], status: int, code: str
) -> None:
    r = client.post(BANK_TOKENS, json=bank_body() | change)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    for value in change.values():
        if isinstance(value, str) and value.strip():
            assert value not in r.text
    assert count(session, "testgw_bank_tokens") == 0


def _debits(session: Session) -> list[TestgwBankDebit]:
    session.expire_all()
    return list(session.scalars(select(TestgwBankDebit).order_by(TestgwBankDebit.created_at)))


def _events(session: Session) -> list[tuple[str, str, str | None]]:
    rows = session.scalars(select(TestgwWebhook).order_by(TestgwWebhook.created_at))
    out = []
    for row in rows:
        obj = json.loads(row.payload)["data"]["object"]
        out.append((row.type, obj["status"], obj["return_code"]))
    return out


def test_debits_settle_on_their_banking_day(
    client: TestClient, session: Session, factory: sessionmaker[Session]
) -> None:
    gw = TestGateway(factory)
    token = bank_tokenize(client)
    charge = gw.debit(token, 2500, "USD", "k1", {"payment_id": "p1"})
    assert (charge.status, charge.captured_minor, charge.return_code) == (
        ChargeStatus.PROCESSING,
        0,
        None,
    )
    assert charge.id.startswith("py_")
    assert charge.bank is not None
    assert charge.bank.last4 == "6789"
    assert gw.debit(token, 2500, "USD", "k1") == charge  # same key, same debit
    with pytest.raises(GatewayRefused) as exc:
        gw.debit(token, 2600, "USD", "k1")
    assert exc.value.code == "idempotency_key_reused"
    due = ach.add_banking_days(today(), 2)
    assert bank.settle(factory, due - dt.timedelta(days=1)) == {}  # not due yet
    assert bank.settle(factory, due) == {"succeeded": 1}
    assert bank.settle(factory, due + dt.timedelta(days=30)) == {}  # nothing more
    got = gw.retrieve_debit(charge.id)
    assert (got.status, got.captured_minor) == (ChargeStatus.SUCCEEDED, 2500)
    assert gw.find_debit_by_idempotency_key("k1") == got
    assert gw.find_debit_by_idempotency_key("nope") is None
    assert _events(session) == [
        ("bank_debit.processing", "processing", None),
        ("bank_debit.succeeded", "succeeded", None),
    ]


@pytest.mark.parametrize("code", ["R01", "R02", "R03", "R04"])
def test_return_accounts_fail_at_settlement(
    client: TestClient, session: Session, factory: sessionmaker[Session], code: str
) -> None:
    gw = TestGateway(factory)
    charge = gw.debit(bank_tokenize(client, code), 1000, "USD", f"k-{code}")
    assert charge.status is ChargeStatus.PROCESSING
    assert bank.settle(factory, today() + dt.timedelta(days=7)) == {"failed": 1}
    got = gw.retrieve_debit(charge.id)
    assert (got.status, got.return_code, got.captured_minor) == (ChargeStatus.FAILED, code, 0)
    assert _events(session)[-1] == ("bank_debit.failed", "failed", code)


def test_a_late_return_after_settlement(
    client: TestClient, session: Session, factory: sessionmaker[Session]
) -> None:
    gw = TestGateway(factory)
    charge = gw.debit(bank_tokenize(client, "return_after_settlement"), 1000, "USD", "late")
    settles = ach.add_banking_days(today(), 2)
    assert bank.settle(factory, settles) == {"succeeded": 1}
    returns = ach.add_banking_days(settles, 2)
    assert bank.settle(factory, returns - dt.timedelta(days=1)) == {}
    assert bank.settle(factory, returns) == {"returned": 1}
    got = gw.retrieve_debit(charge.id)
    assert (got.status, got.return_code) == (ChargeStatus.RETURNED, "R01")
    assert [e[0] for e in _events(session)] == [
        "bank_debit.processing",
        "bank_debit.succeeded",
        "bank_debit.returned",
    ]
    with pytest.raises(GatewayRefused):
        bank.return_debit(factory, charge.id, ReturnCode.ACCOUNT_CLOSED)


def test_refused_debits_and_the_timeout_account(
    client: TestClient, session: Session, factory: sessionmaker[Session]
) -> None:
    gw = TestGateway(factory)
    token = bank_tokenize(client)
    for args, code in [
        (("btok_unknown00000", 100, "USD", "a"), "resource_missing"),
        ((token, 100, "EUR", "b"), "currency_unsupported"),
        ((token, 0, "USD", "c"), "amount_invalid"),
    ]:
        with pytest.raises(GatewayRefused) as exc:
            gw.debit(*args)  # type: ignore[arg-type]
        assert exc.value.code == code
    with pytest.raises(GatewayRefused):
        gw.retrieve_bank_token("btok_unknown00000")
    assert count(session, "testgw_bank_debits") == 0
    with pytest.raises(GatewayTimeout):
        gw.debit(bank_tokenize(client, "timeout"), 100, "USD", "t")
    found = gw.find_debit_by_idempotency_key("t")
    assert found is not None
    assert found.status is ChargeStatus.PROCESSING
    assert ACCOUNTS["timeout"][-4:] == found.bank.last4  # type: ignore[union-attr]
