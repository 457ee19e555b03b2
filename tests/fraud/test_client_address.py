"""Card testing per client address: small declines from one address count across users,
patients and cards; the address is stored only as a keyed digest (fraud/addresses.py)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.auth.principal import Principal
from revcycle.crypto import blind_index
from revcycle.crypto.keyring import installed
from revcycle.fraud import addresses
from revcycle.fraud.errors import FraudBlocked
from revcycle.gateway.testgw import service as testgw
from revcycle.gateway.testgw.service import TestGateway
from revcycle.payments import card
from revcycle.payments.models import Payment
from revcycle.payments.schemas import PaymentCreate
from tests.factories.auth import make_user, principal
from tests.factories.patients import make_patient
from tests.fraud.helpers import counts
from tests.gateway.helpers import APPROVED, CARDS, EXP_YEAR, tokenize
from tests.invoices.helpers import World

ADDR, OTHER_ADDR = "203.0.113.7", "198.51.100.23"
DECLINING = [
    CARDS[k]
    for k in (
        "generic_decline",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "processing_error",
    )
]


@pytest.fixture
def w(session: Session) -> World:
    return World.build(session)


def _staff(session: Session, w: World, addr: str | None) -> Principal:
    user = make_user(session, "billing_staff", practices=[w.practice])
    return dataclasses.replace(principal(session, user), client_addr=addr)


def _attempt(
    session: Session,
    factory: sessionmaker[Session],
    w: World,
    actor: Principal,
    number: str,
    amount: str = "5.00",
) -> card.CardOutcome:
    """A card payment by ``actor`` for a new patient of their practice on a new token."""
    patient = make_patient(session, w.practice)
    tok = testgw.tokenize(
        session,
        fingerprint_key=b"k" * 32,
        number=number,
        exp_month=12,
        exp_year=EXP_YEAR,
        cvc="123",
    )
    session.commit()
    data = PaymentCreate.model_validate(
        {"patient_id": patient.id, "amount": amount, "method": "card", "token": tok.id}
    )
    return card.take_card_payment(
        factory, TestGateway(factory), actor, data, idempotency_key=str(uuid.uuid4())
    )


def test_the_address_is_stored_as_a_keyed_digest(
    session: Session, factory: sessionmaker[Session], w: World
) -> None:
    actor = _staff(session, w, ADDR)
    out = _attempt(session, factory, w, actor, APPROVED)
    stored = session.get(Payment, out.view.payment.id)
    assert stored is not None
    expected = blind_index.compute(installed(), addresses.INDEX, ADDR)
    assert stored.client_addr_bidx == expected
    assert ADDR not in expected
    assert expected.split(":")[0] == installed().active_key_id
    assert len(expected.split(":")[1]) == 32
    assert addresses.digest(None) is None
    assert addresses.candidates(None) == ()
    assert addresses.digest(OTHER_ADDR) != expected


def test_small_declines_from_one_address_block_across_users_patients_and_cards(
    session: Session, factory: sessionmaker[Session], w: World
) -> None:
    users = [_staff(session, w, ADDR) for _ in range(4)]
    # 10 small declines from ADDR: 4 users (3, 3, 2, 2 each: the per-user limit is 5), a new
    # patient each time, 5 different cards twice each (the per-card limit is 3)
    for n in range(10):
        out = _attempt(session, factory, w, users[n % 4], DECLINING[n % 5])
        assert out.view.payment.status == "declined"
    # an address-less attempt and one from another address are not counted
    assert _attempt(session, factory, w, _staff(session, w, None), DECLINING[0]).declined
    assert _attempt(session, factory, w, _staff(session, w, OTHER_ADDR), DECLINING[1]).declined
    before = counts(session, "payments", "testgw_charges")
    # the 11th from ADDR (new user, new patient, a good card): refused before the charge
    with pytest.raises(FraudBlocked) as exc:
        _attempt(session, factory, w, _staff(session, w, ADDR), APPROVED)
    assert exc.value.data["rule"] == "card_testing"
    assert exc.value.data["explanation"] == (
        "10 declines for small amounts (up to 10.00) on card payments from this client address "
        "in 10 minutes (limit 10)"
    )
    assert exc.value.review["findings"][0]["facts"] == {
        "fingerprint_declines": 0,
        "user_declines": 0,
        "address_declines": 10,
    }
    assert counts(session, "payments", "testgw_charges") == before
    # from another address the same attempt goes through
    ok = _attempt(session, factory, w, _staff(session, w, OTHER_ADDR), APPROVED)
    assert ok.view.payment.status == "succeeded"
    session.expire_all()
    digests = session.scalars(
        select(Payment.client_addr_bidx).where(Payment.status == "declined").order_by(Payment.id)
    ).all()
    here = addresses.digest(ADDR)
    assert [d == here for d in digests] == [True] * 10 + [False, False]
    assert digests[10] is None


def test_nine_declines_from_one_address_do_not_block(
    session: Session, factory: sessionmaker[Session], w: World
) -> None:
    users = [_staff(session, w, ADDR) for _ in range(3)]
    for n in range(9):
        assert _attempt(session, factory, w, users[n % 3], DECLINING[n % 5]).declined
    ok = _attempt(session, factory, w, _staff(session, w, ADDR), APPROVED)
    assert ok.view.payment.status == "succeeded"
    # larger amounts are not "small": 10.01 declines do not count
    big = _staff(session, w, OTHER_ADDR)
    for n in range(10):
        assert _attempt(session, factory, w, big, DECLINING[n % 5], amount="10.01").declined
    assert _attempt(
        session, factory, w, _staff(session, w, OTHER_ADDR), APPROVED
    ).view.payment.status == ("succeeded")


def test_the_api_records_the_request_address(
    client: TestClient, session: Session, w: World
) -> None:
    session.commit()
    r = client.post(
        "/api/v1/payments",
        json={
            "patient_id": str(w.patient.id),
            "amount": "5.00",
            "method": "card",
            "token": tokenize(client, CARDS["generic_decline"]),
        },
        headers=w.headers | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 402, r.text
    session.expire_all()
    [row] = session.scalars(select(Payment)).all()
    # Starlette's test client connects from the host "testclient"
    assert row.client_addr_bidx == addresses.digest("testclient")
    assert row.client_addr_bidx is not None
