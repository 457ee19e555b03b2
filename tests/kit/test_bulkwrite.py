"""kit/bulkwrite.py: rows written without the unit of work are the rows a flush writes, and the
objects are left as a flush leaves them (persistent, clean, undone by a rollback)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, select
from sqlalchemy.orm import Session

from revcycle.audit.models import AuditEvent
from revcycle.claims.models import ClaimEvent
from revcycle.kit import bulkwrite
from revcycle.kit.clock import utcnow
from revcycle.remittances.models import RemittanceClaim, Underpayment
from tests.factories.claims import make_world
from tests.remittances.test_bulk import claims_for
from tests.remittances.test_posting import era, paid_claim, post, submitted


def test_new_row_is_what_the_constructor_gives() -> None:
    at = utcnow()
    claim_id = uuid.uuid4()
    fast = bulkwrite.new_row(ClaimEvent, claim_id=claim_id, kind="note", to_status="x", at=at)
    slow = ClaimEvent(claim_id=claim_id, kind="note", to_status="x", at=at)
    for key in ("id", "claim_id", "kind", "from_status", "to_status", "detail", "at"):
        assert getattr(fast, key) == getattr(slow, key)
    with pytest.raises(TypeError, match="not columns of ClaimEvent"):
        bulkwrite.new_row(ClaimEvent, claim=None)


def test_pending_rows_are_written_with_their_defaults_and_left_as_flushed(
    session: Session,
) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    given = uuid.uuid4()
    at = utcnow()
    first = bulkwrite.new_row(
        ClaimEvent,
        id=given,
        claim_id=claim.id,
        kind="note",
        to_status="submitted",
        actor_kind="system",
        detail={},
        at=at,
    )
    second = ClaimEvent(
        claim_id=claim.id,
        kind="note",
        to_status="submitted",
        actor_kind="system",
        detail={"a": [1]},
    )
    session.add_all([first, second])
    assert bulkwrite.insert_pending(session, [ClaimEvent]) == 2
    assert not session.new
    assert first in session
    assert second in session
    assert not session.dirty
    assert first.id == given
    assert second.id is not None
    assert second.at is not None
    rows = {
        r.id: r
        for r in session.execute(
            select(ClaimEvent.__table__).where(
                ClaimEvent.claim_id == claim.id, ClaimEvent.kind == "note"
            )
        )
    }
    assert (rows[given].at, rows[given].detail) == (at, {})
    assert (rows[second.id].detail, rows[second.id].from_status) == ({"a": [1]}, None)


def test_a_row_pointing_at_a_row_still_pending_is_left_to_the_flush(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    [outcome] = post(session, w, era(w, [paid_claim(claim.control_number, "ICN1")], "100")).sets
    assert outcome.outcome == "posted"
    [posted] = session.scalars(select(RemittanceClaim)).all()
    row = RemittanceClaim(
        **{
            k: getattr(posted, k)
            for k in RemittanceClaim.__table__.columns.keys()  # noqa: SIM118
            if k not in ("id", "position", "created_at")
        },
        id=uuid.uuid4(),
        position=99,
    )
    under = Underpayment(
        practice_id=w.practice.id,
        claim_id=claim.id,
        remittance_claim_id=row.id,
        expected_minor=100,
        actual_minor=50,
        difference_minor=50,
        currency="USD",
        status="open",
    )
    session.add_all([row, under])
    assert bulkwrite.insert_pending(session, [Underpayment]) == 0
    assert under in session.new
    assert under.id is not None  # given in order with the others, as the flush does
    assert bulkwrite.insert_pending(session, [RemittanceClaim, Underpayment]) == 2
    assert not session.new
    under.status = "reversed"  # later changes are the flush's, as for any persistent object
    session.flush()
    got = session.execute(
        select(Underpayment.remittance_claim_id, Underpayment.status).where(
            Underpayment.id == under.id
        )
    ).one()
    assert tuple(got) == (row.id, "reversed")


def test_changed_columns_are_written_in_one_statement_and_left_clean(
    session: Session, backend: str
) -> None:
    w = make_world(session)
    a, b, c = claims_for(session, w, 3)
    a.status_reason = "one"
    a.payer_claim_numbers = ["ICN-A"]
    b.status_reason = "two"
    b.payer_claim_numbers = ["ICN-B", "ICN-C"]
    c.status = c.status  # set to what it was: nothing to write
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", note)
    try:
        assert bulkwrite.update_dirty(session, [a, b, c]) == 2
        assert not session.dirty
        session.flush()  # nothing left for it
    finally:
        event.remove(bind, "before_cursor_execute", note)
    assert [x.lstrip().split()[0].upper() for x in seen] == ["UPDATE"]
    if backend == "postgresql":
        assert "unnest" in seen[0]
    session.expire_all()
    assert (a.status_reason, a.payer_claim_numbers) == ("one", ["ICN-A"])
    assert (b.status_reason, b.payer_claim_numbers) == ("two", ["ICN-B", "ICN-C"])
    assert c.status == "submitted"


def test_a_rolled_back_savepoint_undoes_the_objects_as_after_a_flush(session: Session) -> None:
    w = make_world(session)
    claim = submitted(session, w)
    ev = bulkwrite.new_row(
        ClaimEvent,
        claim_id=claim.id,
        kind="note",
        to_status="submitted",
        actor_kind="system",
        detail={},
        at=utcnow(),
    )

    def work() -> None:
        with session.begin_nested():
            claim.status_reason = "inside"
            session.add(ev)
            bulkwrite.insert_pending(session, [ClaimEvent])
            bulkwrite.update_dirty(session, [claim])
            assert ev in session
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        work()
    assert ev not in session  # a new row rolled back is expunged
    assert claim.status_reason is None  # a changed one is expired and reloaded


def test_plain_rows_by_copy_or_insert(session: Session) -> None:
    table = cast(Table, AuditEvent.__table__)
    rows = [
        {
            "occurred_at": utcnow() - dt.timedelta(seconds=i),
            "actor_user_id": None,
            "actor_role": "system",
            "practice_id": None,
            "category": "change",
            "action": "test.bulkwrite",
            "object_type": "thing",
            "object_id": str(i),
            "fields": ["a", "b"],
            "detail": {"n": i, "s": "x"},
            "request_id": None,
            "client_addr": None,
            "chain_key": None,
            "chain_seq": None,
            "prev_hash": None,
            "hash": None,
        }
        for i in range(3)
    ]
    bulkwrite.insert_dicts(session, table, rows[:2], copy_from=1)  # COPY on PostgreSQL
    bulkwrite.insert_dicts(session, table, rows[2:], copy_from=50)  # an INSERT
    got = session.execute(
        select(table.c.object_id, table.c.fields, table.c.detail, table.c.occurred_at)
        .where(table.c.action == "test.bulkwrite")
        .order_by(table.c.object_id)
    ).all()
    assert [(r.object_id, r.fields, r.detail) for r in got] == [
        (str(i), ["a", "b"], {"n": i, "s": "x"}) for i in range(3)
    ]
    assert [r.occurred_at for r in got] == [r["occurred_at"] for r in rows]
    # None in a JSON column is the JSON null either way, as the Core insert writes it.
    for row in rows:
        row.update(detail=None, action="test.bulkwrite.none")
    bulkwrite.insert_dicts(session, table, rows[:2], copy_from=1)
    bulkwrite.insert_dicts(session, table, rows[2:], copy_from=50)
    nulls = session.scalars(
        select(table.c.detail.is_(None)).where(table.c.action == "test.bulkwrite.none")
    ).all()
    assert len(nulls) == 3
    assert len(set(nulls)) == 1
