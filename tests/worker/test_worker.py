"""The worker: the registry, one pass over the tasks (a failing task does not stop the others),
and `revcycle worker run --once` against a real database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import Settings, get_settings
from revcycle.worker.loop import run_forever, run_pass
from revcycle.worker.registry import Task, default_tasks


def test_registry() -> None:
    assert [t.name for t in default_tasks()] == [
        "plans.autopay",
        "plans.missed",
        "gateway.recover_pending",
        "gateway.deliver_webhooks",
        "testgw.settle_bank",
        "fraud.after_the_fact",
        "eligibility.reverify_tomorrow",
        "claims.submit",
        "claims.acknowledgements",
        "remittances.collect",
        "appeals.reminders",
        "claims.build_secondaries",
    ]


def test_a_failing_task_does_not_stop_the_pass() -> None:
    calls: list[str] = []

    def ok(_f: sessionmaker[Session], _s: Settings, now: dt.datetime) -> int:
        assert now.tzinfo is not None
        calls.append("ok")
        return 3

    def boom(_f: sessionmaker[Session], _s: Settings, _n: dt.datetime) -> int:
        raise RuntimeError("patient Jane Doe")  # the message is never logged

    tasks = [Task("boom", boom), Task("ok", ok)]
    settings = Settings(environment="test")
    assert run_pass(None, settings, tasks) == {"boom": -1, "ok": 3}  # type: ignore[arg-type]
    reports: list[dict[str, int]] = []
    run_forever(None, settings, tasks, interval=0.01, report=reports.append, passes=2)  # type: ignore[arg-type]
    assert reports == [{"boom": -1, "ok": 3}] * 2
    assert calls == ["ok"] * 3


@pytest.fixture
def cli(
    committed_db: tuple[str, Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    monkeypatch.setenv("REVCYCLE_GATEWAY_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def test_worker_run_once(cli: CliRunner) -> None:
    r = cli.invoke(
        app, ["worker", "run", "--once", "--only", "plans.autopay", "--only", "plans.missed"]
    )
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "plans.autopay 0, plans.missed 0"
    r = cli.invoke(app, ["worker", "tasks"])
    assert r.exit_code == 0
    assert "plans.autopay" in r.output
    r = cli.invoke(app, ["worker", "run", "--once", "--only", "nope"])
    assert r.exit_code == 2
