"""Test-gateway helpers: tokenise a card through the gateway's own endpoint, sign events."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from revcycle.config import DEV_GATEWAY_WEBHOOK_SECRET
from revcycle.gateway import signing
from revcycle.kit.clock import today, utcnow

TOKENS = "/testgw/v1/tokens"
WEBHOOK = "/api/v1/webhooks/gateway"
SECRET = DEV_GATEWAY_WEBHOOK_SECRET
EXP_YEAR = today().year + 2

APPROVED = "4242424242424242"
CARDS = {
    "approved": APPROVED,
    "generic_decline": "4000000000000002",
    "insufficient_funds": "4000000000009995",
    "expired_card": "4000000000000069",
    "incorrect_cvc": "4000000000000127",
    "processing_error": "4000000000000119",
    "requires_action": "4000002500003155",
    "timeout": "4000000000000408",
}


def card_body(number: str = APPROVED, **extra: Any) -> dict[str, Any]:
    return {"number": number, "exp_month": 12, "exp_year": EXP_YEAR, "cvc": "123"} | extra


def tokenize(client: TestClient, number: str = APPROVED) -> str:
    r = client.post(TOKENS, json=card_body(number))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def signed(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    t = int(utcnow().timestamp()) if at is None else at
    return {signing.HEADER: signing.sign(secret, body, t), "Content-Type": "application/json"}


def event_bytes(event_id: str, event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "type": event_type, "created": 0, "data": {"object": obj}}
    ).encode()
