"""revcycle.idempotency.service: fingerprints, key parsing, reserve/complete/replay, purge."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from revcycle.idempotency import errors
from revcycle.idempotency import service as idem
from revcycle.idempotency.models import IdempotencyKey
from revcycle.kit.clock import utcnow
from tests.factories.auth import make_user

FP = idem.fingerprint("POST", "/api/v1/payments", "", b'{"amount":"10.00"}')


# fingerprint -----------------------------------------------------------------------------------


def test_fingerprint_is_stable_sha256() -> None:
    again = idem.fingerprint("post", "/api/v1/payments", "", b'{"amount":"10.00"}')
    assert again == FP  # the method is case-insensitive
    assert len(FP) == 64
    assert int(FP, 16) >= 0
    # a known value, so an accidental change of the scheme (and of every stored key) is noticed
    expected = hashlib.sha256(b"POST\0/p\0a=1\0{}").hexdigest()
    assert idem.fingerprint("POST", "/p", "a=1", b"{}") == expected


@pytest.mark.parametrize(
    "other",
    [
        ("PUT", "/api/v1/payments", "", b'{"amount":"10.00"}'),
        ("POST", "/api/v1/payments/", "", b'{"amount":"10.00"}'),
        ("POST", "/api/v1/payments", "x=1", b'{"amount":"10.00"}'),
        ("POST", "/api/v1/payments", "", b'{"amount":"10.01"}'),
        ("POST", "/api/v1/payments", "", b""),
        # the separators keep parts from sliding into each other
        ("POST", "/api/v1/payment", "s", b'{"amount":"10.00"}'),
        ("POST", "/api/v1/payments", "", b'\0{"amount":"10.00"}'),
    ],
)
def test_fingerprint_differs_for_other_requests(other: tuple[str, str, str, bytes]) -> None:
    assert idem.fingerprint(*other) != FP


# parse_key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("abc-123", "abc-123"),
        ('"abc-123"', "abc-123"),
        ("  abc-123  ", "abc-123"),
        (' "abc-123" ', "abc-123"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("x" * 255, "x" * 255),
        ('"' + "x" * 255 + '"', "x" * 255),
        ("!~", "!~"),
    ],
)
def test_parse_key_valid(raw: str, key: str) -> None:
    assert idem.parse_key(raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        '""',
        "x" * 256,
        '"' + "x" * 256 + '"',
        "two words",
        '"two words"',
        "caf\u00e9",
        "tab\there",
        '"abc\n"',  # a newline inside the quotes is not a visible character
        "abc\n\u0000",
    ],
)
def test_parse_key_invalid(raw: str) -> None:
    with pytest.raises(errors.InvalidKey) as exc:
        idem.parse_key(raw)
    assert (exc.value.code, exc.value.status) == ("idempotency.invalid_key", 400)


# reserve / complete / replay --------------------------------------------------------------------


def _reserve(
    session: Session, user_id: uuid.UUID, key: str = "k-1", fp: str = FP, lock_seconds: int = 60
) -> idem.Reservation | idem.StoredResponse:
    return idem.reserve(
        session,
        user_id=user_id,
        key=key,
        method="POST",
        path="/api/v1/payments",
        fp=fp,
        lock_seconds=lock_seconds,
    )


def _row(session: Session, row_id: uuid.UUID) -> IdempotencyKey:
    session.flush()
    session.expire_all()
    row = session.get(IdempotencyKey, row_id)
    assert row is not None
    return row


def _count(session: Session) -> int:
    session.flush()
    return int(session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


def test_reserve_complete_replay(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    row = _row(session, first.row_id)
    assert (row.user_id, row.key, row.method, row.path, row.fingerprint, row.state) == (
        user.id,
        "k-1",
        "POST",
        "/api/v1/payments",
        FP,
        "in_progress",
    )
    assert row.locked_at is not None
    assert row.locked_at.tzinfo is not None
    assert row.response_status is None

    idem.complete(session, first, status=201, body='{"id":"x"}', content_type="application/json")
    row = _row(session, first.row_id)
    assert (row.state, row.response_status, row.response_body, row.response_content_type) == (
        "completed",
        201,
        '{"id":"x"}',
        "application/json",
    )
    assert row.locked_at is None
    assert row.completed_at is not None

    replay = _reserve(session, user.id)
    assert replay == idem.StoredResponse(201, '{"id":"x"}', "application/json")
    assert _count(session) == 1

    # completing again (a late duplicate) changes nothing
    idem.complete(session, first, status=500, body="late", content_type="text/plain")
    assert _reserve(session, user.id) == replay


def test_replayed_refusal_keeps_its_content_type(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    problem = '{"code":"payment.exceeds_balance","status":409}'
    idem.complete(session, first, status=409, body=problem, content_type="application/problem+json")
    assert _reserve(session, user.id) == idem.StoredResponse(
        409, problem, "application/problem+json"
    )


def test_empty_body_replays_as_empty(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    idem.complete(session, first, status=204, body="", content_type="application/json")
    assert _reserve(session, user.id) == idem.StoredResponse(204, "", "application/json")


def test_same_key_other_request_is_refused(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    other_fp = idem.fingerprint("POST", "/api/v1/payments", "", b'{"amount":"99.00"}')
    with pytest.raises(errors.KeyReused) as exc:
        _reserve(session, user.id, fp=other_fp)
    assert (exc.value.code, exc.value.status) == ("idempotency.key_reused", 422)
    idem.complete(session, first, status=201, body="{}", content_type="application/json")
    with pytest.raises(errors.KeyReused):
        _reserve(session, user.id, fp=other_fp)
    assert _count(session) == 1


def test_in_progress_is_a_conflict(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    with pytest.raises(errors.RequestInProgress) as exc:
        _reserve(session, user.id)
    assert (exc.value.code, exc.value.status) == ("idempotency.in_progress", 409)
    assert _row(session, first.row_id).state == "in_progress"


def test_stale_reservation_is_taken_over(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id, lock_seconds=60)
    assert isinstance(first, idem.Reservation)
    session.flush()
    stale = utcnow() - dt.timedelta(seconds=61)
    session.execute(
        update(IdempotencyKey).where(IdempotencyKey.id == first.row_id).values(locked_at=stale)
    )
    session.expire_all()
    taken = _reserve(session, user.id, lock_seconds=60)
    assert taken == idem.Reservation(first.row_id)
    row = _row(session, first.row_id)
    assert row.locked_at is not None
    assert row.locked_at > stale + dt.timedelta(seconds=60)
    # the new holder's lock is fresh: a third caller waits
    with pytest.raises(errors.RequestInProgress):
        _reserve(session, user.id, lock_seconds=60)


def test_recent_reservation_is_not_taken_over(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    session.flush()
    recent = utcnow() - dt.timedelta(seconds=30)
    session.execute(
        update(IdempotencyKey).where(IdempotencyKey.id == first.row_id).values(locked_at=recent)
    )
    session.expire_all()
    with pytest.raises(errors.RequestInProgress):
        _reserve(session, user.id, lock_seconds=60)


def test_keys_are_per_user(session: Session) -> None:
    alice = make_user(session, "billing_staff")
    bob = make_user(session, "billing_staff")
    a = _reserve(session, alice.id)
    b = _reserve(session, bob.id)
    assert isinstance(a, idem.Reservation)
    assert isinstance(b, idem.Reservation)
    assert a.row_id != b.row_id
    assert _count(session) == 2
    other = _reserve(session, alice.id, key="k-2")
    assert isinstance(other, idem.Reservation)
    assert _count(session) == 3


def test_release_frees_the_key_but_not_a_completed_one(session: Session) -> None:
    user = make_user(session, "billing_staff")
    first = _reserve(session, user.id)
    assert isinstance(first, idem.Reservation)
    idem.release(session, first)
    assert _count(session) == 0
    second = _reserve(session, user.id)
    assert isinstance(second, idem.Reservation)
    assert second.row_id != first.row_id
    idem.complete(session, second, status=200, body="{}", content_type="application/json")
    idem.release(session, second)
    assert _count(session) == 1
    assert _reserve(session, user.id) == idem.StoredResponse(200, "{}", "application/json")


def test_purge_by_retention(session: Session) -> None:
    user = make_user(session, "billing_staff")
    ids = {}
    for key in ("old", "edge", "new"):
        r = _reserve(session, user.id, key=key)
        assert isinstance(r, idem.Reservation)
        ids[key] = r.row_id
    session.flush()
    now = utcnow()
    for key, age_hours in (("old", 25), ("edge", 23)):
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == ids[key])
            .values(created_at=now - dt.timedelta(hours=age_hours))
        )
    assert idem.purge(session, retention_hours=24) == 1
    session.expire_all()
    remaining = set(session.scalars(select(IdempotencyKey.key)).all())
    assert remaining == {"edge", "new"}
    assert idem.purge(session, retention_hours=24) == 0
    assert idem.purge(session, retention_hours=1) == 1
    assert set(session.scalars(select(IdempotencyKey.key)).all()) == {"new"}
