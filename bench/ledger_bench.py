"""Requirement 2: the ledger posts >= 20,000 journal entries/s in bulk (service layer, PostgreSQL).

``ledger.service.post_entries_bulk`` is called with batches of EntrySpec (2 and 3 legs,
alternating), one committed transaction per batch. The timed span is the service call plus the
COMMIT, which on PostgreSQL fires the deferred ``journal_entries_balanced`` constraint trigger
once per entry: that check is part of the cost and stays on. Building the EntrySpec objects is
the caller's work and is timed separately.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from bench import pg, procstat
from bench.http_bench import SYSTEM, random_npi
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.integrity import service as integrity
from revcycle.ledger import service as ledger
from revcycle.ledger.chart import AccountCode
from revcycle.ledger.models import JournalEntry, Posting
from revcycle.money import Money
from revcycle.practices import service as practices_service
from revcycle.practices.schemas import PracticeCreate

TARGET_ENTRIES_PER_S = 20_000
KIND = "bench.import"


def make_specs(practice_id: uuid.UUID, n: int, *, start: int = 0) -> list[ledger.EntrySpec]:
    today = dt.datetime.now(dt.UTC).date()
    specs = []
    for i in range(start, start + n):
        amount = 1_000 + (i % 9_000)  # 10.00 .. 99.99
        if i % 2 == 0:
            legs = [
                ledger.debit(AccountCode.CARD_CLEARING, Money(amount, "USD")),
                ledger.credit(AccountCode.SERVICE_REVENUE, Money(amount, "USD")),
            ]
        else:
            discount = 1 + i % 500
            legs = [
                ledger.debit(AccountCode.CASH, Money(amount, "USD")),
                ledger.debit(AccountCode.DISCOUNTS, Money(discount, "USD")),
                ledger.credit(AccountCode.SERVICE_REVENUE, Money(amount + discount, "USD")),
            ]
        specs.append(
            ledger.EntrySpec(
                practice_id=practice_id,
                kind=KIND,
                legs=legs,
                effective_date=today,
                memo=f"bench entry {i}",
            )
        )
    return specs


def _batches(specs: Sequence[ledger.EntrySpec], size: int) -> list[Sequence[ledger.EntrySpec]]:
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def run(admin_url: str, *, entries: int, batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": {"entries": entries, "batch": batch, "legs": "2 and 3"}}
    with pg.scratch_database(admin_url, "ledger") as url:
        print(f"[ledger] scratch database ready; migrating {url.rsplit('/', 1)[-1]}")
        migrate(url)
        engine = make_engine(url, pool_size=2)
        factory = make_session_factory(engine)
        with unit_of_work(factory) as s:
            practice = practices_service.create_practice(
                s,
                SYSTEM,
                PracticeCreate.model_validate(
                    {
                        "name": "Ledger Bench Clinic",
                        "npi": random_npi(),
                        "tin": "12-3456789",
                        "taxonomy": "207Q00000X",
                        "address_line1": "1 Ledger Way",
                        "city": "Springfield",
                        "state": "IL",
                        "postal_code": "62701",
                        "default_terms": "net",
                        "default_terms_days": 30,
                    }
                ),
            )
            practice_id = practice.id

        # --- bulk ----------------------------------------------------------------------------
        t = time.perf_counter()
        specs = make_specs(practice_id, entries)
        build_s = time.perf_counter() - t
        legs_total = sum(len(sp.legs) for sp in specs)
        pg.checkpoint(admin_url)
        out["background_busy_before"] = procstat.quiet_check("ledger")
        print(f"[ledger] post_entries_bulk: {entries:,} entries in batches of {batch:,}")
        service_s = commit_s = 0.0
        t_all = time.perf_counter()
        for chunk in _batches(specs, batch):
            t0 = time.perf_counter()
            with unit_of_work(factory) as s:
                ledger.post_entries_bulk(s, chunk)
                t1 = time.perf_counter()
            t2 = time.perf_counter()
            service_s += t1 - t0
            commit_s += t2 - t1
        bulk_s = time.perf_counter() - t_all
        rate = entries / bulk_s
        out["bulk"] = {
            "entries": entries,
            "postings": legs_total,
            "seconds": round(bulk_s, 3),
            "entries_per_s": round(rate),
            "service_call_s": round(service_s, 3),
            "commit_s": round(commit_s, 3),
            "spec_build_s": round(build_s, 3),
        }
        del specs

        # --- single post_entry calls, for reference --------------------------------------------
        n_tx = max(min(5_000, entries // 20), 1)
        specs = make_specs(practice_id, n_tx, start=entries)
        print(f"[ledger] post_entry x {n_tx:,} (500 per transaction)")
        t0 = time.perf_counter()
        for chunk in _batches(specs, 500):
            with unit_of_work(factory) as s:
                for spec in chunk:
                    ledger.post_entry(s, spec)
        single_batched_s = time.perf_counter() - t0

        n_each = max(min(1_000, entries // 100), 1)
        specs = make_specs(practice_id, n_each, start=entries + n_tx)
        print(f"[ledger] post_entry x {n_each:,} (one transaction each)")
        t0 = time.perf_counter()
        for spec in specs:
            with unit_of_work(factory) as s:
                ledger.post_entry(s, spec)
        single_each_s = time.perf_counter() - t0
        out["single"] = {
            "post_entry_500_per_tx": {
                "entries": n_tx,
                "seconds": round(single_batched_s, 3),
                "entries_per_s": round(n_tx / single_batched_s),
            },
            "post_entry_commit_each": {
                "entries": n_each,
                "seconds": round(single_each_s, 3),
                "entries_per_s": round(n_each / single_each_s),
            },
        }

        # --- sanity -------------------------------------------------------------------------------
        expected = entries + n_tx + n_each
        with unit_of_work(factory) as s:
            n_entries = int(s.scalar(select(func.count()).select_from(JournalEntry)) or 0)
            n_postings = int(s.scalar(select(func.count()).select_from(Posting)) or 0)
            t0 = time.perf_counter()
            report = integrity.run(s)
            integrity_s = time.perf_counter() - t0
        engine.dispose()
        out["verification"] = {
            "entries_in_db": n_entries,
            "entries_expected": expected,
            "postings_in_db": n_postings,
            "entries_match": n_entries == expected,
            "integrity_ok": report.ok,
            "integrity_s": round(integrity_s, 2),
            "integrity_violations": report.violations[:10],
        }
    out["target_entries_per_s"] = TARGET_ENTRIES_PER_S
    out["pass"] = bool(
        rate >= TARGET_ENTRIES_PER_S
        and out["verification"]["entries_match"]
        and out["verification"]["integrity_ok"]
    )
    return out
