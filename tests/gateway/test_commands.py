"""`revcycle gateway recover-pending` and `deliver-webhooks` against a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.app import create_app
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import get_settings
from revcycle.db import unit_of_work
from revcycle.gateway.testgw.models import TestgwWebhook
from revcycle.payments.models import Payment
from tests import conftest
from tests.factories.auth import make_user, token_for
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice
from tests.gateway.helpers import CARDS, tokenize
from tests.invoices.helpers import priced


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", committed_db[0])
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


@pytest.mark.committed
def test_recover_pending_and_deliver(
    cli: CliRunner, committed_db: tuple[str, Engine, sessionmaker[Session]]
) -> None:
    url, _, factory = committed_db
    with unit_of_work(factory) as s:
        practice = make_practice(s)
        patient = make_patient(s, practice)
        make_invoice(s, patient, lines=priced("80.00"))
        clerk = make_user(s, "billing_staff", practices=[practice])
        s.flush()
        headers = {"Authorization": f"Bearer {token_for(s, clerk)}", "Idempotency-Key": "cli-1"}
    client = TestClient(create_app(conftest.test_settings(url), session_factory=factory))
    body = {
        "patient_id": str(patient.id),
        "amount": "20.00",
        "method": "card",
        "token": tokenize(client, CARDS["timeout"]),
    }
    assert client.post("/api/v1/payments", json=body, headers=headers).status_code == 202

    r = cli.invoke(app, ["gateway", "recover-pending", "--older-than", "0"])
    assert (r.exit_code, r.output.strip()) == (0, "succeeded 1"), r.output
    r = cli.invoke(app, ["gateway", "recover-pending", "--older-than", "0"])
    assert (r.exit_code, r.output.strip()) == (0, "nothing pending")
    with unit_of_work(factory) as s:
        assert s.scalar(select(Payment.status)) == "succeeded"
        assert s.scalars(select(TestgwWebhook.type)).all() == ["charge.succeeded"]
    # Nothing listens on this port: the event stays in the outbox, the command says so.
    r = cli.invoke(app, ["gateway", "deliver-webhooks", "--url", "http://127.0.0.1:9/none"])
    assert (r.exit_code, r.output.strip()) == (1, "delivered 0, failed 1")
    with unit_of_work(factory) as s:
        row = s.scalars(select(TestgwWebhook)).one()
        assert (row.attempts, row.delivered_at) == (1, None)
