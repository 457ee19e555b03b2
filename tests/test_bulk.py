"""kit.bulk: set-based writes (COPY / UPDATE ... FROM unnest on PostgreSQL, executemany
elsewhere) write exactly what SQLAlchemy's own INSERT / UPDATE writes, with Python-side defaults,
and raise SQLAlchemy's exceptions."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from revcycle.gateway.testgw.models import TestgwCharge, TestgwWebhook
from revcycle.kit import bulk

CHARGES = cast(Table, TestgwCharge.__table__)
WEBHOOKS = cast(Table, TestgwWebhook.__table__)
AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _charge(n: int, **over: Any) -> dict[str, Any]:
    row = {
        "id": f"ch_bulk_{n:03d}",
        "token_id": "tok_x",
        "status": "succeeded",
        "decline_code": None,
        "amount_minor": 100 + n,
        "currency": "USD",
        "captured_minor": 100 + n,
        "captured_at": AT,
        "refunded_minor": 0,
        "voided": False,
        "idempotency_key": f"bulk-key-{n}",
        "request_hash": "h" * 64,
        "metadata_json": f'{{"n": "{n}"}}',
        "created_at": AT,
    }
    row.update(over)
    return row


def _webhooks(session: Session, prefix: str) -> list[tuple[Any, ...]]:
    return [
        (r.id.removeprefix(prefix), r.type, r.payload, r.attempts, r.status, r.next_attempt_at)
        for r in session.execute(
            select(WEBHOOKS).where(WEBHOOKS.c.id.like(f"{prefix}%")).order_by(WEBHOOKS.c.id)
        )
    ]


@pytest.mark.parametrize("copy_min", [0, 1000])  # COPY on PostgreSQL / executemany everywhere
def test_insert_rows_writes_what_insert_writes_with_python_defaults(
    session: Session, copy_min: int
) -> None:
    rows = [{"id": f"evt_bulk_{i}", "type": "charge.succeeded", "payload": "{}"} for i in range(3)]
    bulk.insert_rows(session, WEBHOOKS, rows, copy_min=copy_min)
    session.execute(insert(WEBHOOKS), [{**r, "id": "evt_core" + r["id"][8:]} for r in rows])
    got = _webhooks(session, "evt_bulk")
    assert got == _webhooks(session, "evt_core")
    assert got == [(f"_{i}", "charge.succeeded", "{}", 0, "pending", None) for i in range(3)]
    created = session.scalars(
        select(WEBHOOKS.c.created_at).where(WEBHOOKS.c.id.like("evt_bulk%"))
    ).all()
    assert all(c is not None and c.tzinfo is not None for c in created)


@pytest.mark.parametrize("copy_min", [0, 1000])
def test_insert_rows_raises_integrity_error_on_a_unique_key(
    session: Session, copy_min: int
) -> None:
    bulk.insert_rows(session, CHARGES, [_charge(1)], copy_min=copy_min)
    with pytest.raises(IntegrityError), session.begin_nested():
        bulk.insert_rows(
            session,
            CHARGES,
            [_charge(2), _charge(3, idempotency_key="bulk-key-1")],
            copy_min=copy_min,
        )
    ids = session.scalars(select(CHARGES.c.id).where(CHARGES.c.id.like("ch_bulk_%"))).all()
    assert ids == ["ch_bulk_001"]


def test_update_rows_sets_each_row_its_own_values(session: Session) -> None:
    bulk.insert_rows(session, CHARGES, [_charge(n) for n in range(1, 5)], copy_min=0)
    bulk.update_rows(
        session,
        CHARGES,
        "id",
        [
            # a column all None (binary arrays of nothing but NULLs) and one mixed
            {
                "id": "ch_bulk_002",
                "refunded_minor": 7,
                "voided": True,
                "decline_code": None,
                "captured_at": None,
            },
            {
                "id": "ch_bulk_004",
                "refunded_minor": 9,
                "voided": False,
                "decline_code": "x",
                "captured_at": None,
            },
        ],
    )
    got = session.execute(
        select(
            CHARGES.c.id,
            CHARGES.c.refunded_minor,
            CHARGES.c.voided,
            CHARGES.c.decline_code,
            CHARGES.c.captured_at,
        )
        .where(CHARGES.c.id.like("ch_bulk_%"))
        .order_by(CHARGES.c.id)
    ).all()
    assert [tuple(r) for r in got] == [
        ("ch_bulk_001", 0, False, None, AT),
        ("ch_bulk_002", 7, True, None, None),
        ("ch_bulk_003", 0, False, None, AT),
        ("ch_bulk_004", 9, False, "x", None),
    ]
    bulk.update_rows(session, CHARGES, "id", [])  # nothing to do


def test_among_matches_in(session: Session) -> None:
    bulk.insert_rows(session, CHARGES, [_charge(n) for n in range(1, 4)])
    found = session.scalars(
        select(CHARGES.c.id)
        .where(bulk.among(session, CHARGES.c.idempotency_key, ["bulk-key-3", "bulk-key-1", "no"]))
        .order_by(CHARGES.c.id)
    ).all()
    assert found == ["ch_bulk_001", "ch_bulk_003"]
    assert (
        session.scalars(select(CHARGES.c.id).where(bulk.among(session, CHARGES.c.id, []))).all()
        == []
    )
