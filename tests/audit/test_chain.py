"""The audit trail's hash chain: appended at COMMIT per practice, gap-free under concurrency,
nothing from a rolled-back transaction, and ``verify`` finds the first broken link when a row is
changed, deleted or the chain is rewritten (tests go around the append-only triggers the way an
attacker with database access would)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from revcycle.audit import chain
from revcycle.audit import service as audit
from revcycle.audit.models import AuditChainHead, AuditEvent
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.db import make_engine, migrate, unit_of_work
from revcycle.security import events as security_events
from revcycle.security.events import SecurityEventKind
from tests.conftest import IN_CI, _pg_drop, _pg_reachable, _pg_recreate, _pg_url

P1 = uuid.UUID("01900000-0000-7000-8000-00000000aa01")
P2 = uuid.UUID("01900000-0000-7000-8000-00000000aa02")
ACTOR = Principal(
    uuid.UUID("01900000-0000-7000-8000-00000000bb01"),
    "dana",
    Role.BILLING_STAFF,
    frozenset({P1, P2}),
    request_id="req-1",
    client_addr="127.0.0.1",
)

Committed = tuple[str, Engine, sessionmaker[Session]]


def _record(session: Session, practice: uuid.UUID | None, n: int, action: str = "x:update") -> None:
    for i in range(n):
        audit.record(
            session,
            ACTOR,
            action,
            object_type="invoice",
            object_id=f"obj-{i}",
            practice_id=practice,
            fields=["memo", "due_date"],
        )


def _chain_rows(session: Session, key: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.chain_key == key).order_by(AuditEvent.chain_seq)
        )
    )


def _head(session: Session, key: str) -> tuple[int, str] | None:
    head = session.get(AuditChainHead, key)
    return None if head is None else (head.last_seq, head.last_hash)


def test_events_are_chained_per_practice_at_commit(session: Session) -> None:
    _record(session, P1, 3)
    _record(session, P2, 2)
    _record(session, None, 1, action="user:create")
    # Nothing is written before COMMIT (or an explicit flush of the buffer).
    assert session.scalar(select(sa.func.count()).select_from(AuditEvent)) == 0
    assert len(audit.pending(session)) == 6
    audit.flush_pending(session)
    assert audit.pending(session) == []

    p1 = _chain_rows(session, str(P1))
    assert [e.chain_seq for e in p1] == [1, 2, 3]
    assert [e.object_id for e in p1] == ["obj-0", "obj-1", "obj-2"]
    assert p1[0].prev_hash == chain.GENESIS
    assert [e.prev_hash for e in p1[1:]] == [e.hash for e in p1[:-1]]
    for e in p1:
        assert e.hash == chain.event_hash(
            {c.key: getattr(e, c.key) for c in AuditEvent.__table__.columns}
        )
        assert (e.category, e.fields, e.request_id, e.client_addr, e.actor_role) == (
            "change",
            ["due_date", "memo"],
            "req-1",
            "127.0.0.1",
            "billing_staff",
        )
    assert _head(session, str(P1)) == (3, p1[-1].hash)
    assert [e.chain_seq for e in _chain_rows(session, str(P2))] == [1, 2]
    assert [e.action for e in _chain_rows(session, "global")] == ["user:create"]

    # A second transaction continues each chain where it ended.
    _record(session, P1, 1)
    audit.flush_pending(session)
    p1 = _chain_rows(session, str(P1))
    assert [e.chain_seq for e in p1] == [1, 2, 3, 4]
    assert p1[3].prev_hash == p1[2].hash
    report = chain.verify(session)
    assert report.ok
    assert {c.chain_key: (c.events, c.last_seq) for c in report.chains} == {
        str(P1): (4, 4),
        str(P2): (2, 2),
        "global": (1, 1),
    }


def test_the_hash_covers_every_stored_field() -> None:
    base: dict[str, Any] = {
        "chain_key": "k",
        "chain_seq": 1,
        "prev_hash": chain.GENESIS,
        "occurred_at": dt.datetime(2026, 11, 27, 3, 0, 0, 123456, tzinfo=dt.UTC),
        "actor_user_id": ACTOR.user_id,
        "actor_role": "admin",
        "practice_id": P1,
        "category": "change",
        "action": "invoice:void",
        "object_type": "invoice",
        "object_id": "abc",
        "fields": ["status"],
        "detail": {"code": "x"},
        "request_id": "r",
        "client_addr": "127.0.0.1",
    }
    h = chain.event_hash(base)
    assert len(h) == 64
    assert chain.event_hash(dict(base)) == h
    changed = {
        "chain_key": "k2",
        "chain_seq": 2,
        "prev_hash": "1" * 64,
        "occurred_at": base["occurred_at"] + dt.timedelta(microseconds=1),
        "actor_user_id": None,
        "actor_role": "patient",
        "practice_id": P2,
        "category": "read",
        "action": "invoice:read",
        "object_type": "payment",
        "object_id": "abd",
        "fields": ["status", "memo"],
        "detail": {"code": "y"},
        "request_id": "r2",
        "client_addr": "10.0.0.1",
    }
    assert set(changed) == set(base)
    for key, value in changed.items():
        assert chain.event_hash({**base, key: value}) != h, key


def test_rolled_back_work_leaves_no_event_and_no_gap(factory: sessionmaker[Session]) -> None:
    def refused() -> None:
        with unit_of_work(factory) as s:
            _record(s, P1, 2)
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refused()
    with unit_of_work(factory) as s:
        assert audit.pending(s) == []
        _record(s, P1, 1)
    with factory() as s:
        rows = _chain_rows(s, str(P1))
        assert [e.chain_seq for e in rows] == [1]
        assert chain.verify(s).ok


def test_a_rolled_back_savepoint_drops_only_its_own_events(
    factory: sessionmaker[Session],
) -> None:
    with unit_of_work(factory) as s:
        _record(s, P1, 1, "before:update")

        def refused() -> None:
            with s.begin_nested():
                _record(s, P1, 2, "undone:update")
                with s.begin_nested():  # a savepoint inside, released: undone with its parent
                    _record(s, P1, 1, "inner:update")
                raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            refused()
        with s.begin_nested():
            _record(s, P1, 1, "kept:update")
        _record(s, P1, 1, "after:update")
    with factory() as s:
        rows = _chain_rows(s, str(P1))
        assert [e.action for e in rows] == ["before:update", "kept:update", "after:update"]
        assert [e.chain_seq for e in rows] == [1, 2, 3]
        assert chain.verify(s).ok


def test_security_events_join_the_chain(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as s:
        security_events.record(
            s,
            SecurityEventKind.LOGIN_FAILED,
            user_id=ACTOR.user_id,
            role="billing_staff",
            client_addr="10.1.2.3",
            request_id="req-9",
            detail={"reason": "bad_password", "failures": 3},
        )
    with factory() as s:
        (e,) = _chain_rows(s, "global")
        assert (e.category, e.action, e.object_type, e.object_id, e.detail) == (
            "security",
            "security:login_failed",
            "user",
            str(ACTOR.user_id),
            {"reason": "bad_password", "failures": 3},
        )
        assert (e.actor_user_id, e.client_addr, e.request_id) == (
            ACTOR.user_id,
            "10.1.2.3",
            "req-9",
        )


def test_unusual_read_volume_raises_one_event_per_window(session: Session) -> None:
    session.info[audit.READ_VOLUME_THRESHOLD] = 5
    session.info[audit.READ_VOLUME_WINDOW] = 60

    def read(n: int) -> None:
        for i in range(n):
            audit.record_read(
                session,
                ACTOR,
                "invoice:read",
                object_type="invoice",
                object_id=f"i{i}",
                practice_id=P1,
            )
        audit.flush_pending(session)

    def alerts() -> list[AuditEvent]:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "security:unusual_read_volume")
            )
        )

    read(4)
    assert alerts() == []
    read(1)  # the fifth read in the window reaches the threshold
    (alert,) = alerts()
    assert (alert.category, alert.object_type, alert.object_id, alert.chain_key) == (
        "security",
        "user",
        str(ACTOR.user_id),
        "global",
    )
    assert alert.detail is not None
    assert (alert.detail["reads_in_window"], alert.detail["threshold"]) == (5, 5)
    read(10)  # more reads in the same window: no second alert
    assert len(alerts()) == 1


# tampering: verify finds the first broken link -------------------------------------------------


def _bypass_triggers(conn: sa.Connection, backend: str) -> None:
    """What an attacker with database rights would do: switch the append-only guard off."""
    if backend == "postgresql":
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))


@pytest.fixture
def chained(committed_db: Committed) -> Committed:
    _, _, factory = committed_db
    for _ in range(3):
        with unit_of_work(factory) as s:
            _record(s, P1, 2)
            _record(s, P2, 1)
    with factory() as s:
        assert chain.verify(s).ok
    return committed_db


def _event_id(factory: sessionmaker[Session], key: str, seq: int) -> int:
    with factory() as s:
        return int(
            s.scalar(
                select(AuditEvent.id).where(
                    AuditEvent.chain_key == key, AuditEvent.chain_seq == seq
                )
            )
            or 0
        )


def _tamper(engine: Engine, backend: str, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        _bypass_triggers(conn, backend)
        conn.execute(text(sql), params)


def test_the_append_only_trigger_refuses_changes(chained: Committed) -> None:
    _, engine, factory = chained
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'x' WHERE chain_seq = 2"))
    with factory() as s:
        assert chain.verify(s).ok


def test_verify_reports_a_changed_row(chained: Committed, backend: str) -> None:
    _, engine, factory = chained
    target = _event_id(factory, str(P1), 4)
    _tamper(
        engine,
        backend,
        "UPDATE audit_events SET fields = :f WHERE id = :id",
        f='["memo"]',
        id=target,
    )
    with factory() as s:
        report = chain.verify(s)
    assert not report.ok
    assert [(b.chain_key, b.chain_seq, b.event_id, b.reason) for b in report.breaks] == [
        (str(P1), 4, target, "hash_mismatch")
    ]


def test_verify_reports_a_recomputed_row_as_a_broken_link(chained: Committed, backend: str) -> None:
    """Changing a row AND recomputing its hash still breaks the next event's link."""
    _, engine, factory = chained
    target = _event_id(factory, str(P1), 2)
    with factory() as s:
        row = s.get(AuditEvent, target)
        assert row is not None
        forged = {c.key: getattr(row, c.key) for c in AuditEvent.__table__.columns}
    forged["actor_role"] = "admin"
    _tamper(
        engine,
        backend,
        "UPDATE audit_events SET actor_role = 'admin', hash = :h WHERE id = :id",
        h=chain.event_hash(forged),
        id=target,
    )
    with factory() as s:
        report = chain.verify(s)
    assert [(b.chain_key, b.chain_seq, b.reason) for b in report.breaks] == [
        (str(P1), 3, "link_mismatch")
    ]


def test_verify_reports_deleted_rows(chained: Committed, backend: str) -> None:
    _, engine, factory = chained
    middle = _event_id(factory, str(P1), 3)
    last_p2 = _event_id(factory, str(P2), 3)
    _tamper(engine, backend, "DELETE FROM audit_events WHERE id IN (:a, :b)", a=middle, b=last_p2)
    with factory() as s:
        report = chain.verify(s)
    assert [(b.chain_key, b.chain_seq, b.event_id, b.reason) for b in report.breaks] == [
        (str(P1), 4, _event_id(factory, str(P1), 4), "sequence_gap"),
        (str(P2), 3, None, "head_mismatch"),
    ]


def test_anchors_catch_a_rewritten_chain(chained: Committed, backend: str) -> None:
    """Someone who rewrites a whole chain consistently (hashes and head) defeats the chain
    alone; anchors saved earlier outside the database still catch it."""
    _, engine, factory = chained
    with factory() as s:
        anchors = chain.verify(s).anchors()
        rows = [
            {c.key: getattr(e, c.key) for c in AuditEvent.__table__.columns}
            for e in _chain_rows(s, str(P2))
        ]
    prev = chain.GENESIS
    with engine.begin() as conn:
        _bypass_triggers(conn, backend)
        for row in rows:
            row["action"] = "x:rewritten"
            row["prev_hash"] = prev
            row["hash"] = prev = chain.event_hash(row)
            conn.execute(
                text(
                    "UPDATE audit_events SET action = :a, prev_hash = :p, hash = :h WHERE id = :i"
                ),
                {"a": row["action"], "p": row["prev_hash"], "h": row["hash"], "i": row["id"]},
            )
        conn.execute(
            text("UPDATE audit_chain_heads SET last_hash = :h WHERE chain_key = :k"),
            {"h": prev, "k": str(P2)},
        )
    with factory() as s:
        assert chain.verify(s).ok  # internally consistent...
        report = chain.verify(s, anchors)  # ...but not what was anchored
    assert [(b.chain_key, b.chain_seq, b.reason) for b in report.breaks] == [
        (str(P2), 3, "anchor_mismatch")
    ]


# concurrency -------------------------------------------------------------------------------------


def test_concurrent_writers_never_fork_a_chain(committed_db: Committed) -> None:
    _, _, factory = committed_db
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for _ in range(5):
                with unit_of_work(factory) as s:
                    _record(s, P1, 2, action=f"t{n}:update")
                    _record(s, P2 if n % 2 else None, 1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with factory() as s:
        report = chain.verify(s)
        assert report.ok
        counts = {c.chain_key: (c.events, c.last_seq) for c in report.chains}
    assert counts == {str(P1): (80, 80), str(P2): (20, 20), "global": (20, 20)}


# migration 0003 chains the events an earlier version wrote ---------------------------------------


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'legacy.db'}"
        return
    problem = _pg_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable: {problem}")
        pytest.skip(problem)
    name = f"revcycle_a_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_recreate(name)
    try:
        yield _pg_url(name)
    finally:
        _pg_drop(name)


def test_migration_chains_existing_events(fresh_url: str) -> None:
    migrate(fresh_url, "0002")
    engine = make_engine(fresh_url, pool_size=2)
    when = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
    legacy = sa.table(
        "audit_events",
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("actor_user_id", sa.Uuid),
        sa.column("actor_role", sa.String),
        sa.column("practice_id", sa.Uuid),
        sa.column("action", sa.String),
        sa.column("object_type", sa.String),
        sa.column("object_id", sa.String),
        sa.column("fields", sa.JSON),
    )
    try:
        with engine.begin() as conn:
            for i, practice in enumerate([P1, None, P1, P2, P1]):
                conn.execute(
                    legacy.insert().values(
                        occurred_at=when.replace(tzinfo=None)
                        if engine.dialect.name == "sqlite"
                        else when,
                        actor_user_id=ACTOR.user_id,
                        actor_role="admin",
                        practice_id=practice,
                        action=f"legacy:{i}",
                        object_type="invoice",
                        object_id=str(i),
                        fields=["status"],
                    )
                )
        engine.dispose()
        migrate(fresh_url)
        with Session(engine) as s:
            report = chain.verify(s)
            assert report.ok
            assert {c.chain_key: c.events for c in report.chains} == {
                str(P1): 3,
                str(P2): 1,
                "global": 1,
            }
            p1 = _chain_rows(s, str(P1))
            assert [(e.action, e.chain_seq, e.category) for e in p1] == [
                ("legacy:0", 1, "change"),
                ("legacy:2", 2, "change"),
                ("legacy:4", 3, "change"),
            ]
            assert _head(s, str(P1)) == (3, p1[-1].hash)
        # The append-only guard is back after the migration.
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET action = 'x'"))
        # And new events continue the migrated chains.
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with unit_of_work(factory) as s:
            _record(s, P1, 1)
        with Session(engine) as s:
            assert [e.chain_seq for e in _chain_rows(s, str(P1))] == [1, 2, 3, 4]
            assert chain.verify(s).ok
    finally:
        engine.dispose()
