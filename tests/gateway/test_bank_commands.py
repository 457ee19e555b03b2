"""`revcycle gateway settle-bank` and `recover-pending` for bank debits, on a real database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.app import create_app
from revcycle.cli.main import app
from revcycle.db import unit_of_work
from revcycle.gateway.testgw.models import TestgwBankDebit
from revcycle.payments.models import Payment
from tests import conftest
from tests.gateway.bank_helpers import bank_tokenize
from tests.gateway.test_commands import cli  # noqa: F401 - the fixture
from tests.payments.test_card import _world


@pytest.mark.committed
def test_settle_bank_then_recover(
    cli: CliRunner,  # noqa: F811 - the fixture
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    url, _, factory = committed_db
    headers, patient_id = _world(factory)
    client = TestClient(create_app(conftest.test_settings(url), session_factory=factory))
    for scenario, key in (("settles", "cli-b1"), ("R02", "cli-b2")):
        body = {
            "patient_id": str(patient_id),
            "amount": "20.00",
            "method": "bank_transfer",
            "bank_token": bank_tokenize(client, scenario),
        }
        r = client.post("/api/v1/payments", json=body, headers=headers | {"Idempotency-Key": key})
        assert r.status_code == 202, r.text

    r = cli.invoke(app, ["gateway", "settle-bank"])
    assert (r.exit_code, r.output.strip()) == (0, "nothing due"), r.output
    r = cli.invoke(app, ["gateway", "settle-bank", "--days", "7"])
    assert (r.exit_code, r.output.strip()) == (0, "failed 1, succeeded 1"), r.output
    r = cli.invoke(app, ["gateway", "recover-pending", "--older-than", "0"])
    assert (r.exit_code, r.output.strip()) == (0, "bank_returned 1, bank_succeeded 1"), r.output
    with unit_of_work(factory) as s:
        statuses = sorted(s.scalars(select(Payment.status)).all())
        assert statuses == ["returned", "succeeded"]
        assert sorted(s.scalars(select(TestgwBankDebit.status)).all()) == ["failed", "succeeded"]
