"""The audit trail through its adapters: admins search it and see security events, a summary and
Prometheus metrics over the API (scoped to their practices); `revcycle audit verify` and
`revcycle audit export` on a real committed database."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from revcycle.app import create_app
from revcycle.audit import service as audit
from revcycle.audit.models import AuditEvent
from revcycle.cli import runtime
from revcycle.cli.main import app
from revcycle.config import Settings, get_settings
from revcycle.db import unit_of_work
from revcycle.security import events as security_events
from revcycle.security.events import SecurityEventKind
from tests.factories.auth import auth_header, make_user, principal
from tests.factories.invoices import make_invoice
from tests.factories.patients import make_patient
from tests.factories.practices import make_practice

Committed = tuple[str, Engine, sessionmaker[Session]]


@pytest.fixture
def two_practices(session: Session) -> dict[str, Any]:
    mine, theirs = make_practice(session), make_practice(session, name="Elsewhere Clinic")
    admin = make_user(session, "admin", practices=[mine])
    staff = make_user(session, "billing_staff", practices=[mine])
    other_admin = make_user(session, "admin", practices=[theirs])
    headers = auth_header(session, admin)
    session.commit()
    return {
        "mine": mine,
        "theirs": theirs,
        "admin": admin,
        "staff": staff,
        "other_admin": other_admin,
        "headers": headers,
    }


def _denied(client: TestClient, session: Session, w: dict[str, Any]) -> None:
    """The staff user of ``mine`` asks for ``theirs``: a 404 and an access_denied event."""
    staff_headers = auth_header(session, w["staff"])
    session.commit()
    r = client.get(f"/api/v1/practices/{w['theirs'].id}", headers=staff_headers)
    assert r.status_code == 404


def test_admin_searches_the_trail_of_their_practices(
    client: TestClient, session: Session, two_practices: dict[str, Any]
) -> None:
    w = two_practices
    r = client.get(
        "/api/v1/audit-events",
        params={"practice_id": str(w["mine"].id), "action": "practice:create"},
        headers=w["headers"],
    )
    assert r.status_code == 200, r.text
    (event,) = r.json()["items"]
    assert (event["object_id"], event["category"], event["chain_seq"]) == (
        str(w["mine"].id),
        "change",
        1,
    )
    assert len(event["hash"]) == 64
    assert event["prev_hash"] == "0" * 64
    # Another practice's trail is not theirs to read: 404, as for any hidden object.
    r = client.get(
        "/api/v1/audit-events", params={"practice_id": str(w["theirs"].id)}, headers=w["headers"]
    )
    assert (r.status_code, r.json()["code"]) == (404, "practice.not_found")
    # Unfiltered, they see their practice's chain and the global one, never the other practice.
    r = client.get("/api/v1/audit-events", params={"limit": 200}, headers=w["headers"])
    practices = {e["practice_id"] for e in r.json()["items"]}
    assert practices == {str(w["mine"].id), None}


def test_audit_search_pages_newest_first(
    client: TestClient, session: Session, two_practices: dict[str, Any]
) -> None:
    w = two_practices
    actor = principal(session, w["admin"])
    for i in range(5):
        audit.record(
            session,
            actor,
            "test:paged",
            object_type="thing",
            object_id=str(i),
            practice_id=w["mine"].id,
        )
    session.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"action": "test:paged", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/audit-events", params=params, headers=w["headers"]).json()
        seen += [e["object_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["4", "3", "2", "1", "0"]
    for bad in ["nonsense", "eyJiZWZvcmUiOiAieCJ9"]:
        r = client.get("/api/v1/audit-events", params={"cursor": bad}, headers=w["headers"])
        assert (r.status_code, r.json()["code"]) == (400, "pagination.invalid_cursor")
    r = client.get(
        "/api/v1/audit-events",
        params={"occurred_from": "2026-02-01T00:00:00Z", "occurred_to": "2026-01-01T00:00:00Z"},
        headers=w["headers"],
    )
    assert (r.status_code, r.json()["code"]) == (400, "audit.period_invalid")


def test_security_events_summary_and_metrics(
    client: TestClient, session: Session, two_practices: dict[str, Any]
) -> None:
    w = two_practices
    _denied(client, session, w)
    r = client.get(
        "/api/v1/security/events",
        params={"action": "security:access_denied"},
        headers=w["headers"],
    )
    assert r.status_code == 200, r.text
    (event,) = r.json()["items"]
    assert (event["actor_user_id"], event["actor_role"], event["detail"]) == (
        str(w["staff"].id),
        "billing_staff",
        {
            "code": "practice.not_found",
            "status": 404,
            "method": "GET",
            "route": "/api/v1/practices/{practice_id}",
            "object_type": "practice",
            "object_id": str(w["theirs"].id),
        },
    )
    # Only security events come through this route.
    r = client.get("/api/v1/security/events", params={"limit": 200}, headers=w["headers"])
    assert {e["category"] for e in r.json()["items"]} == {"security"}

    r = client.get("/api/v1/security/summary", params={"hours": 1}, headers=w["headers"])
    assert r.status_code == 200
    assert r.json()["by_kind"]["security:access_denied"] == 1

    r = client.get("/api/v1/metrics", headers=w["headers"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert 'revcycle_security_events_total{kind="access_denied"} 1.0' in lines
    assert "# TYPE revcycle_audit_events_total counter" in lines
    change_line = next(
        x for x in lines if x.startswith('revcycle_audit_events_total{category="change"}')
    )
    audited_changes = session.scalar(
        select(text("count(*)"))
        .select_from(AuditEvent)
        .where(
            AuditEvent.category == "change",
            (AuditEvent.practice_id == w["mine"].id) | AuditEvent.practice_id.is_(None),
        )
    )
    assert change_line.endswith(f" {float(audited_changes)}")


def test_metrics_and_summary_are_admin_scoped(
    client: TestClient, session: Session, two_practices: dict[str, Any]
) -> None:
    w = two_practices
    actor = principal(session, w["other_admin"])
    security_events.record(
        session,
        SecurityEventKind.RATE_LIMITED,
        user_id=actor.user_id,
        role="admin",
        client_addr=None,
        request_id=None,
        practice_id=w["theirs"].id,
    )
    session.commit()
    r = client.get("/api/v1/metrics", headers=w["headers"])
    assert 'kind="rate_limited"' not in r.text
    r = client.get("/api/v1/security/summary", headers=w["headers"])
    assert "security:rate_limited" not in r.json()["by_kind"]


# the command line -------------------------------------------------------------------------------


@pytest.fixture
def cli(committed_db: Committed, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    url, _engine, _factory = committed_db
    monkeypatch.setenv("REVCYCLE_DATABASE_URL", url)
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()
    yield CliRunner()
    runtime.session_factory().kw["bind"].dispose()
    get_settings.cache_clear()
    runtime.session_factory.cache_clear()


def _seed(factory: sessionmaker[Session]) -> uuid.UUID:
    with unit_of_work(factory) as s:
        practice = make_practice(s)  # one audited change in the practice's chain
        practice_id = practice.id
        actor = principal(s, make_user(s, "admin", practices=[practice]))
        for i in range(3):
            audit.record_read(
                s,
                actor,
                "invoice:read",
                object_type="invoice",
                object_id=str(i),
                practice_id=practice_id,
            )
    return practice_id


def test_cli_verify_passes_then_detects_a_row_changed_in_the_database(
    cli: CliRunner, committed_db: Committed, backend: str, tmp_path: Path
) -> None:
    _, engine, factory = committed_db
    practice_id = _seed(factory)
    anchors = tmp_path / "anchors.json"
    r = cli.invoke(app, ["audit", "verify", "--write-anchors", str(anchors)])
    assert r.exit_code == 0, r.output
    assert f"chain {practice_id}: 4 events, head #4 ok" in r.output
    assert r.output.strip().endswith("audit trail intact")
    saved = json.loads(anchors.read_text())
    assert saved[str(practice_id)]["seq"] == 4

    with factory() as s:
        target = s.scalar(
            select(AuditEvent.id).where(
                AuditEvent.chain_key == str(practice_id), AuditEvent.chain_seq == 3
            )
        )
    with engine.begin() as conn:  # an operator with database rights edits history
        if backend == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(
            text("UPDATE audit_events SET object_id = 'other' WHERE id = :id"), {"id": target}
        )
    r = cli.invoke(app, ["audit", "verify", "--anchors", str(anchors)])
    assert r.exit_code == 1
    assert (
        f"chain {practice_id}: BROKEN at #3 (event id {target}): hash_mismatch: "
        "its content no longer matches its hash"
    ) in r.output
    r = cli.invoke(app, ["audit", "verify", "--json"])
    assert r.exit_code == 1
    report = json.loads(r.output)
    (broken,) = [c for c in report["chains"] if c["first_break"]]
    assert (broken["chain_key"], broken["first_break"]["chain_seq"]) == (str(practice_id), 3)


def test_cli_verify_refuses_a_bad_anchors_file(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "anchors.json"
    bad.write_text("[1, 2]")
    r = cli.invoke(app, ["audit", "verify", "--anchors", str(bad)])
    assert r.exit_code == 2
    assert "is not an anchors file" in r.output


def test_cli_export_csv_and_json(cli: CliRunner, committed_db: Committed, tmp_path: Path) -> None:
    _, _, factory = committed_db
    practice_id = _seed(factory)
    with factory() as s:
        day = s.scalar(select(AuditEvent.occurred_at).order_by(AuditEvent.id)).date()
    out = tmp_path / "audit.csv"
    r = cli.invoke(
        app,
        [
            "audit",
            "export",
            "--from",
            day.isoformat(),
            "--to",
            day.isoformat(),
            "--practice",
            str(practice_id),
            "--output",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert f"exported 4 event(s) to {out}" in r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(x["action"], x["chain_seq"]) for x in rows] == [
        ("practice:create", "1"),
        ("invoice:read", "2"),
        ("invoice:read", "3"),
        ("invoice:read", "4"),
    ]
    assert all(len(x["hash"]) == 64 for x in rows)

    r = cli.invoke(
        app,
        ["audit", "export", "--from", day.isoformat(), "--to", day.isoformat(), "--format", "json"],
    )
    assert r.exit_code == 0, r.output
    events = json.loads(r.output)
    # The first export is itself on record: a security event in the global chain.
    exported = [e for e in events if e["action"] == "security:audit_exported"]
    assert [e["detail"] for e in exported] == [
        {"from": day.isoformat(), "to": day.isoformat(), "format": "csv", "events": 4}
    ]

    for args, message in [
        (["--from", "2026-13-01", "--to", "2026-01-01"], "--from must be a date"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
        (["--from", "2026-01-01", "--to", "2026-01-01", "--format", "xml"], "csv or json"),
        (["--from", "2026-01-01", "--to", "2026-01-01", "--practice", "x"], "practice id"),
    ]:
        r = cli.invoke(app, ["audit", "export", *args])
        assert r.exit_code == 2, args
        assert message in r.output


def test_read_volume_threshold_comes_from_settings(
    settings: Settings, factory: sessionmaker[Session], session: Session
) -> None:
    practice = make_practice(session)
    patient = make_patient(session, practice)
    staff = make_user(session, "billing_staff", practices=[practice])
    headers = auth_header(session, staff)
    session.commit()
    tuned = settings.model_copy(update={"audit_read_volume_threshold": 3})
    with TestClient(create_app(tuned, session_factory=factory)) as c:
        for _ in range(4):
            assert c.get(f"/api/v1/patients/{patient.id}", headers=headers).status_code == 200
    alerts = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "security:unusual_read_volume")
    ).all()
    assert [(a.object_id, (a.detail or {}).get("reads_in_window")) for a in alerts] == [
        (str(staff.id), 3)
    ]


def test_a_list_records_one_read_per_patient_shown(client: TestClient, session: Session) -> None:
    practice = make_practice(session)
    ann, ben = make_patient(session, practice), make_patient(session, practice, first_name="Sam")
    for p in (ann, ann, ben):
        make_invoice(session, p)
    staff = make_user(session, "billing_staff", practices=[practice])
    headers = auth_header(session, staff)
    session.commit()
    mark = session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))
    r = client.get("/api/v1/invoices", params={"status": "open"}, headers=headers)
    assert len(r.json()["items"]) == 3
    rows = session.execute(
        select(AuditEvent.category, AuditEvent.action, AuditEvent.object_id, AuditEvent.detail)
        .where(AuditEvent.id > mark)
        .order_by(AuditEvent.object_id)
    ).all()
    assert sorted((tuple(r[:3]), r[3]["rows"]) for r in rows) == sorted(
        [
            (("read", "invoice:list", str(ann.id)), 2),
            (("read", "invoice:list", str(ben.id)), 1),
        ]
    )


def test_a_refusal_stands_when_its_event_cannot_be_recorded(
    client: TestClient,
    session: Session,
    two_practices: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("database went away")

    w = two_practices
    staff_headers = auth_header(session, w["staff"])
    session.commit()
    monkeypatch.setattr("revcycle.api.context.Ctx._record_refusal", unavailable)
    r = client.get(f"/api/v1/practices/{w['theirs'].id}", headers=staff_headers)
    assert (r.status_code, r.json()["code"]) == (404, "practice.not_found")  # not a 500
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "security:access_denied")
    ).all()
    assert denied == []
    assert "not recorded: RuntimeError" in caplog.text
