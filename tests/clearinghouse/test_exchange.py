"""Concurrent duplicate submissions (one file set), every simulator-made file valid for pyx12,
the directory drop, and the factory wiring."""

from __future__ import annotations

import datetime as dt
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from revcycle.clearinghouse.base import (
    ClearinghouseClient,
    ClearinghouseRejected,
    ClearinghouseUnavailable,
    SubmittedFile,
)
from revcycle.clearinghouse.directory import DirectoryClearinghouse, file_name, kind_of
from revcycle.clearinghouse.factory import build_clearinghouse
from revcycle.clearinghouse.models import ChsimClaim, ChsimFile
from revcycle.clearinghouse.simulator import SimulatorClearinghouse
from revcycle.config import Settings
from revcycle.db import unit_of_work
from tests.clearinghouse.test_payer_simulator import KINDS, VISIT, Clock, setup_member, x837
from tests.x12.pyx12_maps import envelope_errors, validate

WORKERS = 4


def test_concurrent_duplicates_make_one_submission(
    committed_db: tuple[str, Engine, sessionmaker[Session]],
) -> None:
    _url, _engine, factory = committed_db
    with unit_of_work(factory) as s:
        setup_member(s)
    content = x837("W100001", VISIT)
    barrier = threading.Barrier(WORKERS)

    def submit(_: int) -> SubmittedFile:
        ch = SimulatorClearinghouse(factory, clock=Clock())
        barrier.wait()
        return ch.submit_file(content, kind="837P", idempotency_key="race")

    with ThreadPoolExecutor(WORKERS) as pool:
        receipts = list(pool.map(submit, range(WORKERS)))
    assert len(set(receipts)) == 1
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(ChsimFile)) == 4
        assert s.scalar(select(func.count()).select_from(ChsimClaim)) == 1
    files = SimulatorClearinghouse(factory, clock=Clock()).poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA", "835"]


def test_every_simulator_file_validates_with_pyx12(session: Session) -> None:
    setup_member(session, "W1XRV")
    ch = SimulatorClearinghouse(session=session, clock=Clock())
    ch.submit_file(x837("W1XRV", VISIT), kind="837P", idempotency_key="v")
    files = ch.poll_files(kinds=KINDS, limit=10)
    assert [f.kind for f in files] == ["999", "277CA", "835", "835"]
    for f in files:
        text = f.content.decode()
        assert envelope_errors(text) == [], f.kind
        assert validate(text) == [], f.kind


def test_stored_files_are_sealed(session: Session) -> None:
    setup_member(session)
    ch = SimulatorClearinghouse(session=session, clock=Clock())
    ch.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="p")
    session.flush()
    raw = session.connection().exec_driver_sql("SELECT content FROM chsim_files").scalars().all()
    assert len(raw) == 4
    assert all("W100001" not in r and "JANE" not in r for r in raw)


def dirs(tmp_path: Path) -> DirectoryClearinghouse:
    return DirectoryClearinghouse(tmp_path / "out", tmp_path / "in", tmp_path / "archive")


def test_directory_drop_submits_once_atomically(tmp_path: Path) -> None:
    ch = dirs(tmp_path)
    content = x837("W100001", VISIT)
    one = ch.submit_file(content, kind="837P", idempotency_key="batch-7")
    assert one.file_id == file_name("837P", "batch-7")
    assert (tmp_path / "out" / one.file_id).read_bytes() == content
    # The pickup agent takes the file; a retry must not drop it again.
    (tmp_path / "out" / one.file_id).unlink()
    assert ch.submit_file(content, kind="837P", idempotency_key="batch-7") == one
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".receipts"]
    with pytest.raises(ClearinghouseRejected):
        ch.submit_file(content, kind="999", idempotency_key="k")


def test_directory_drop_concurrent_duplicates(tmp_path: Path) -> None:
    ch = dirs(tmp_path)
    barrier = threading.Barrier(WORKERS)

    def submit(n: int) -> SubmittedFile:
        barrier.wait()
        return ch.submit_file(f"content {n}".encode(), kind="837P", idempotency_key="same")

    with ThreadPoolExecutor(WORKERS) as pool:
        receipts = list(pool.map(submit, range(WORKERS)))
    assert len(set(receipts)) == 1
    names = [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    assert names == [receipts[0].file_id]
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")] == []


def test_directory_drop_poll_and_acknowledge(session: Session, tmp_path: Path) -> None:
    setup_member(session)
    sim = SimulatorClearinghouse(session=session, clock=Clock())
    sim.submit_file(x837("W100001", VISIT), kind="837P", idempotency_key="d")
    inbox = tmp_path / "in"
    inbox.mkdir()
    for n, f in enumerate(sim.poll_files(kinds=KINDS, limit=10)):
        path = inbox / f"answer{2 - n}.x12"  # names sort the other way round
        path.write_bytes(f.content)
        os.utime(path, (1_800_000_000 + n, 1_800_000_000 + n))
    (inbox / ".partial").write_bytes(b"ISA")
    ch = dirs(tmp_path)
    polled = ch.poll_files(kinds=KINDS, limit=10)
    assert [(f.file_id, f.kind) for f in polled] == [
        ("answer2.x12", "999"),
        ("answer1.x12", "277CA"),
        ("answer0.x12", "835"),
    ]
    assert polled[0].available_at == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)
    assert [f.kind for f in ch.poll_files(kinds=("835",), limit=10)] == ["835"]
    ch.acknowledge_file("answer2.x12")
    ch.acknowledge_file("answer2.x12")
    assert (tmp_path / "archive" / "answer2.x12").exists()
    assert [f.file_id for f in ch.poll_files(kinds=KINDS, limit=1)] == ["answer1.x12"]
    for bad in ("../x", ".partial", "missing.x12"):
        with pytest.raises(ClearinghouseRejected):
            ch.acknowledge_file(bad)
    with pytest.raises(ClearinghouseUnavailable):
        ch.eligibility("ISA", timeout_seconds=1)
    assert kind_of(b"not x12") == "unknown"


def test_factory(settings: Settings, factory: sessionmaker[Session], tmp_path: Path) -> None:
    sim = build_clearinghouse(settings, factory)
    assert isinstance(sim, SimulatorClearinghouse)
    assert isinstance(sim, ClearinghouseClient)
    drop = build_clearinghouse(
        settings.model_copy(
            update={
                "clearinghouse": "directory",
                "clearinghouse_outbox_dir": str(tmp_path / "o"),
                "clearinghouse_inbox_dir": str(tmp_path / "i"),
                "clearinghouse_archive_dir": str(tmp_path / "a"),
            }
        ),
        factory,
    )
    assert isinstance(drop, DirectoryClearinghouse)
    assert isinstance(drop, ClearinghouseClient)
    assert drop.poll_files(kinds=KINDS, limit=5) == []
