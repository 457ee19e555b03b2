"""The built-in test gateway: card checks, tokenisation (its own endpoint and page), every test
card's outcome, idempotent authorisation, and the charge state rules."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.gateway.base import (
    ChargeStatus,
    DeclineCode,
    GatewayRefused,
    GatewayTimeout,
    PaymentGateway,
)
from revcycle.gateway.testgw import cards
from revcycle.gateway.testgw.models import TestgwCharge, TestgwToken, TestgwWebhook
from revcycle.gateway.testgw.service import TestGateway
from tests.gateway.helpers import APPROVED, CARDS, EXP_YEAR, TOKENS, card_body, tokenize


def test_luhn_brand_and_expiry() -> None:
    assert all(cards.luhn_ok(n) for n in cards.TEST_CARDS)
    assert not cards.luhn_ok("4242424242424241")
    assert not cards.luhn_ok("42424242")  # too short
    assert not cards.luhn_ok("4242x24242424242")
    assert [cards.brand(n) for n in (APPROVED, "5555555555554444", "378282246310005")] == [
        "visa",
        "mastercard",
        "amex",
    ]
    on = dt.date(2026, 11, 27)
    assert not cards.expired(11, 2026, on)  # valid through the end of its month
    assert cards.expired(10, 2026, on)
    assert cards.cvc_ok("1234", "amex")
    assert not cards.cvc_ok("123", "amex")
    assert not cards.cvc_ok("12", "visa")
    assert not cards.cvc_ok("12a", "visa")


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_tokenisation_returns_an_opaque_token(client: TestClient, session: Session) -> None:
    r = client.post(TOKENS, json=card_body("4242 4242 4242 4242"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("tok_")
    assert body["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": EXP_YEAR}
    assert r.headers["cache-control"] == "no-store"
    tok = session.get(TestgwToken, body["id"])
    assert tok is not None
    assert (tok.last4, tok.scenario) == ("4242", "approve")
    assert APPROVED not in tok.fingerprint


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (card_body("4242424242424241"), 402, "incorrect_number"),
        (card_body("1234"), 402, "incorrect_number"),
        (card_body(exp_month=1, exp_year=2020), 402, "expired_card"),
        (card_body(cvc="12"), 402, "invalid_cvc"),
        (card_body(cvc="abc"), 402, "invalid_cvc"),
        (card_body("378282246310005", cvc="123"), 402, "invalid_cvc"),
        (card_body(exp_month=13), 400, "invalid_request"),
        ({"number": APPROVED}, 400, "invalid_request"),
    ],
)
def test_tokenisation_refusals(
    client: TestClient, session: Session, body: dict[str, object], status: int, code: str
) -> None:
    r = client.post(TOKENS, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert str(body["number"]) not in r.text
    assert count(session, TestgwToken) == 0


def test_the_card_form_page(client: TestClient, session: Session) -> None:
    page = client.get("/testgw/card-form")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert "<script" not in page.text
    form = {"number": APPROVED, "exp_month": "12", "exp_year": str(EXP_YEAR), "cvc": "123"}
    done = client.post("/testgw/card-form", data=form)
    assert done.status_code == 201
    assert "tok_" in done.text
    assert APPROVED not in done.text
    bad = client.post("/testgw/card-form", data=form | {"number": "4242424242424241"})
    assert bad.status_code == 402
    assert "4242424242424241" not in bad.text
    assert count(session, TestgwToken) == 1


OUTCOMES = [
    ("approved", ChargeStatus.SUCCEEDED, None),
    ("generic_decline", ChargeStatus.DECLINED, DeclineCode.GENERIC_DECLINE),
    ("insufficient_funds", ChargeStatus.DECLINED, DeclineCode.INSUFFICIENT_FUNDS),
    ("expired_card", ChargeStatus.DECLINED, DeclineCode.EXPIRED_CARD),
    ("incorrect_cvc", ChargeStatus.DECLINED, DeclineCode.INCORRECT_CVC),
    ("processing_error", ChargeStatus.DECLINED, DeclineCode.PROCESSING_ERROR),
    ("requires_action", ChargeStatus.REQUIRES_ACTION, None),
]


@pytest.mark.parametrize(("card", "status", "decline"), OUTCOMES)
def test_every_test_card(
    client: TestClient,
    factory: sessionmaker[Session],
    session: Session,
    card: str,
    status: ChargeStatus,
    decline: DeclineCode | None,
) -> None:
    gw = TestGateway(factory)
    assert isinstance(gw, PaymentGateway)
    charge = gw.authorize(tokenize(client, CARDS[card]), 1250, "USD", f"k-{card}", {"a": "b"})
    assert (charge.status, charge.decline_code, charge.amount_minor) == (status, decline, 1250)
    assert charge.card is not None
    assert charge.card.last4 == CARDS[card][-4:]
    assert charge.metadata == {"a": "b"}
    assert gw.retrieve(charge.id) == charge
    events = session.scalars(select(TestgwWebhook.type)).all()
    assert events == (["charge.failed"] if decline else [])


def test_timeout_records_the_charge_then_loses_the_answer(
    client: TestClient, factory: sessionmaker[Session], session: Session
) -> None:
    gw = TestGateway(factory)
    token = tokenize(client, CARDS["timeout"])
    with pytest.raises(GatewayTimeout):
        gw.authorize(token, 500, "USD", "k-timeout")
    found = gw.find_by_idempotency_key("k-timeout")
    assert found is not None
    assert found.status is ChargeStatus.SUCCEEDED
    assert not found.captured
    # The same key again: the same charge, answered this time, never a second one.
    assert gw.authorize(token, 500, "USD", "k-timeout") == found
    assert count(session, TestgwCharge) == 1


def test_authorize_is_idempotent(
    client: TestClient, factory: sessionmaker[Session], session: Session
) -> None:
    gw = TestGateway(factory)
    token = tokenize(client)
    first = gw.authorize(token, 700, "USD", "same")
    assert gw.authorize(token, 700, "USD", "same") == first
    with pytest.raises(GatewayRefused) as exc:
        gw.authorize(token, 701, "USD", "same")
    assert exc.value.code == "idempotency_key_reused"
    assert count(session, TestgwCharge) == 1
    with pytest.raises(GatewayRefused) as missing:
        gw.authorize("tok_doesnotexist", 700, "USD", "other")
    assert missing.value.code == "resource_missing"


def test_charge_state_rules(client: TestClient, factory: sessionmaker[Session]) -> None:
    gw = TestGateway(factory)
    token = tokenize(client)
    voided = gw.void(gw.authorize(token, 1000, "USD", "v").id)
    assert voided.voided
    with pytest.raises(GatewayRefused, match="voided"):
        gw.capture(voided.id)

    charge = gw.capture(gw.authorize(token, 1000, "USD", "c").id)
    assert (charge.captured_minor, charge.refundable_minor) == (1000, 1000)
    assert gw.capture(charge.id) == charge  # capturing twice changes nothing
    with pytest.raises(GatewayRefused) as after_capture:
        gw.void(charge.id)
    assert after_capture.value.code == "charge_already_captured"

    r1 = gw.refund(charge.id, 600, "r1")
    assert (r1.amount_minor, r1.status.value) == (600, "succeeded")
    assert gw.refund(charge.id, 600, "r1") == r1  # same key: the same refund
    with pytest.raises(GatewayRefused) as too_much:
        gw.refund(charge.id, 401, "r2")
    assert too_much.value.code == "amount_too_large"
    gw.refund(charge.id, 400, "r3")
    assert gw.retrieve(charge.id).refundable_minor == 0

    declined = gw.authorize(tokenize(client, CARDS["generic_decline"]), 1000, "USD", "d")
    with pytest.raises(GatewayRefused) as not_capturable:
        gw.capture(declined.id)
    assert not_capturable.value.code == "charge_not_capturable"
    uncaptured = gw.authorize(token, 1000, "USD", "u")
    with pytest.raises(GatewayRefused) as not_captured:
        gw.refund(uncaptured.id, 1, "r4")
    assert not_captured.value.code == "charge_not_captured"
