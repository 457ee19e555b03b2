"""Bank-account helpers: tokenise through the test gateway's own endpoint, the test accounts."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

BANK_TOKENS = "/testgw/v1/bank-tokens"
ROUTING = "110000000"
ACCOUNTS = {
    "settles": "000123456789",
    "R01": "000222222227",
    "R02": "000111111113",
    "R03": "000111111116",
    "R04": "000444444440",
    "return_after_settlement": "000666666661",
    "timeout": "000888888885",
}


def bank_body(account: str = ACCOUNTS["settles"], **extra: Any) -> dict[str, Any]:
    return {
        "routing_number": ROUTING,
        "account_number": account,
        "account_type": "checking",
        "account_holder_name": "Pat Example",
    } | extra


def bank_tokenize(client: TestClient, scenario: str = "settles") -> str:
    r = client.post(BANK_TOKENS, json=bank_body(ACCOUNTS[scenario]))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])
