"""Payment plans: the autopay task charges >= 2,000 due installments/s against the test gateway
(PostgreSQL). ``N`` due installments (one per plan, ``N / 20`` patients with a stored card) are
built through the services, the tables are ANALYZEd (as autovacuum would have done on a live
database; the bench server runs with autovacuum off), then ``plans.autopay.run_once`` is timed,
run at once by ``workers`` separate worker processes -- how the service is deployed: each builds
its own engine, session factory and gateway from the DSN, and they share the work with SKIP
LOCKED claims. Optionally the same data (a copy of the database taken after the setup) is also
charged by ``threads`` threads of one process, the former mode, whose Python work shares one GIL.
Besides the rate it reports CPU milliseconds per installment -- the worker processes (each
reports its own ``process_time``) and the PostgreSQL backends serving the scratch database --
which a shared machine disturbs far less than the wall clock, and the load average. Set
``BENCH_AUTOPAY_PROFILE=<dir>`` to have each worker process write a cProfile of its run there.
The same-run baseline is the raw gateway loop (authorize + capture, no revcycle bookkeeping).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import multiprocessing as mp
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select, text

from bench import pg, procstat
from bench.http_bench import SYSTEM, random_npi
from revcycle.config import Settings
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.gateway.factory import build_gateway
from revcycle.gateway.testgw import service as testgw
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices
from revcycle.invoices.schemas import InvoiceCreate
from revcycle.kit.clock import today, utcnow
from revcycle.patients import service as patients
from revcycle.patients.schemas import PatientCreate
from revcycle.paymethods import service as methods
from revcycle.paymethods.schemas import PaymentMethodCreate
from revcycle.plans import autopay
from revcycle.plans import service as plans
from revcycle.plans.models import PlanInstallment
from revcycle.plans.schemas import PlanAccept, PlanCreate
from revcycle.practices import service as practices_service
from revcycle.practices.schemas import PracticeCreate

TARGET_PER_S = 2_000
PER_PATIENT = 20


def _setup(factory: Any, n: int) -> None:
    with unit_of_work(factory) as s:
        practice = practices_service.create_practice(
            s,
            SYSTEM,
            PracticeCreate.model_validate(
                {
                    "name": "Autopay Bench Clinic",
                    "npi": random_npi(),
                    "tin": "12-3456789",
                    "taxonomy": "207Q00000X",
                    "address_line1": "1 Plan Way",
                    "city": "Springfield",
                    "state": "IL",
                    "postal_code": "62701",
                }
            ),
        )
        practice_id = practice.id
    made = 0
    while made < n:
        with unit_of_work(factory) as s:
            patient = patients.create_patient(
                s,
                SYSTEM,
                practice_id,
                PatientCreate.model_validate(
                    {"first_name": "Bench", "last_name": f"P{made}", "date_of_birth": "1980-01-01"}
                ),
            )
            tok = testgw.tokenize(
                s,
                fingerprint_key=b"b" * 32,
                number="4242424242424242",
                exp_month=12,
                exp_year=today().year + 2,
                cvc="123",
            )
            card = methods.store_method(
                s,
                SYSTEM,
                patient.id,
                PaymentMethodCreate(token=tok.id, consent_text="bench"),
                card=tok.card,
                provider="testgw",
            )
            for _ in range(min(PER_PATIENT, n - made)):
                inv = invoices.create_invoice(
                    s,
                    SYSTEM,
                    InvoiceCreate.model_validate(
                        {
                            "patient_id": patient.id,
                            "issue": True,
                            "lines": [
                                {
                                    "service_code": "99213",
                                    "unit_price": "90.00",
                                    "description": "Visit",
                                    "date_of_service": today().isoformat(),
                                }
                            ],
                        }
                    ),
                )
                s.flush()
                view = plans.propose_plan(
                    s,
                    SYSTEM,
                    PlanCreate.model_validate(
                        {
                            "patient_id": patient.id,
                            "invoice_ids": [inv.id],
                            "frequency": "monthly",
                            "first_due_date": today(),
                            "installment_count": 3,
                        }
                    ),
                )
                plans.accept_plan(s, SYSTEM, view.plan.id, PlanAccept(payment_method_id=card.id))
                made += 1
        print(f"[autopay] {made:,}/{n:,} plans", end="\r", flush=True)
    print()


def _baseline(factory: Any, n: int) -> float:
    gateway = testgw.TestGateway(factory)
    with unit_of_work(factory) as s:
        tok = testgw.tokenize(
            s,
            fingerprint_key=b"b" * 32,
            number="4242424242424242",
            exp_month=12,
            exp_year=today().year + 2,
            cvc="123",
        )
    t0 = time.perf_counter()
    for i in range(n):
        ch = gateway.authorize(tok.id, 3000, "USD", f"baseline-{uuid.uuid4()}-{i}")
        gateway.capture(ch.id)
    return time.perf_counter() - t0


def _backend_cpu(engine: Any) -> dict[int, float]:
    """pid -> CPU seconds so far of the PostgreSQL backends serving this scratch database."""
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return {int(pid): procstat._proc_cpu(int(pid))[1] for pid in pids}  # noqa: SLF001


def _child(
    url: str, batch: int, now: dt.datetime, ready: Any, go: Any, leave: Any, out: Any
) -> None:
    """One worker process, built the way ``revcycle worker run`` builds itself: its own engine,
    session factory, settings and gateway from the DSN (nothing inherited from the parent). It
    connects, says it is ready, runs ``plans.autopay`` once when told to, reports (charged, CPU
    seconds of the run), and keeps its connections open until the parent has read the
    PostgreSQL backends' CPU counters (a backend that exits takes them with it)."""
    settings = Settings(database_url=url, autopay_batch_size=batch)
    engine = make_engine(url, pool_size=4)
    factory = make_session_factory(engine)
    gateway = build_gateway(settings, factory)
    conns = [engine.connect() for _ in range(2)]  # warm the pool: the run opens two at most
    for conn in conns:
        conn.execute(text("SELECT 1"))
        conn.close()
    # A live worker passes every interval: one pass where nothing is due yet (the day before)
    # imports and configures what the task needs, as its first pass would have.
    autopay.run_once(factory, settings, now - dt.timedelta(days=1), gateway=gateway)
    ready.put(os.getpid())
    go.wait()
    profile_dir = os.environ.get("BENCH_AUTOPAY_PROFILE")
    prof = cProfile.Profile(time.process_time) if profile_dir else None  # CPU, not waits
    cpu0 = time.process_time()
    if prof is not None:
        prof.enable()
    charged = autopay.run_once(factory, settings, now, gateway=gateway)
    if prof is not None:
        prof.disable()
    out.put((charged, time.process_time() - cpu0, time.perf_counter()))
    if prof is not None and profile_dir:
        prof.dump_stats(os.path.join(profile_dir, f"autopay-{os.getpid()}.prof"))
    leave.wait()
    engine.dispose()


def _run_processes(
    url: str, engine: Any, *, workers: int, batch: int, now: dt.datetime
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go, leave = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(target=_child, args=(url, batch, now, ready, go, leave, out), daemon=True)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        pids = [ready.get(timeout=120) for _ in procs]
        pg_before = _backend_cpu(engine)
        t0 = time.perf_counter()
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        elapsed = max(end for _, _, end in results) - t0
        pg_after = _backend_cpu(engine)
    finally:
        leave.set()
        for p in procs:
            p.join(timeout=60)
    return {
        "pids": pids,
        "done": [n for n, _, _ in results],
        "seconds": elapsed,
        "worker_cpu_s": sum(c for _, c, _ in results),
        "pg_cpu_s": sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items()),
    }


def _run_threads(
    url: str, engine: Any, *, workers: int, batch: int, now: dt.datetime
) -> dict[str, Any]:
    """The former mode: ``workers`` threads of this one process (one GIL) sharing an engine."""
    factory = make_session_factory(engine)
    settings = Settings(database_url=url, autopay_batch_size=batch)
    gateway = build_gateway(settings, factory)
    conns = [engine.connect() for _ in range(2 * workers)]  # warm the pool, as the processes do
    for conn in conns:
        conn.execute(text("SELECT 1"))
        conn.close()
    pg_before = _backend_cpu(engine)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        done = list(
            pool.map(
                lambda _: autopay.run_once(factory, settings, now, gateway=gateway),
                range(workers),
            )
        )
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    pg_after = _backend_cpu(engine)
    return {
        "done": done,
        "seconds": elapsed,
        "worker_cpu_s": cpu,
        "pg_cpu_s": sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items()),
    }


def _verify(factory: Any, installments: int) -> dict[str, Any]:
    with unit_of_work(factory) as s:
        paid = int(
            s.scalar(
                select(func.count())
                .select_from(PlanInstallment)
                .where(PlanInstallment.status == "paid")
            )
            or 0
        )
        entries = s.execute(
            text("select count(*) from journal_entries where kind = 'payment'")
        ).scalar_one()
        report = integrity.run(s)
    return {
        "installments_paid": paid,
        "payment_entries": entries,
        "match": paid == installments == entries,
        "integrity_ok": report.ok,
        "integrity_violations": report.violations[:10],
    }


def _measured(
    mode: str, runner: Any, url: str, admin_url: str, *, installments: int, workers: int, batch: int
) -> dict[str, Any]:
    """Time one autopay run over the due installments of ``url`` and verify the result."""
    engine = make_engine(url, pool_size=workers + 4)
    try:
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        pg.checkpoint(admin_url)
        unit = "processes" if mode == "processes" else "threads"
        print(f"[autopay] run_once x {workers} worker {unit} over {installments:,} installments")
        busy = procstat.quiet_check("autopay")
        load_before = [round(x, 2) for x in os.getloadavg()]
        r = runner(url, engine, workers=workers, batch=batch, now=utcnow())
        load_after = [round(x, 2) for x in os.getloadavg()]
        verification = _verify(make_session_factory(engine), installments)
    finally:
        engine.dispose()
    return {
        "mode": mode,
        "workers": workers,
        "charged": sum(r["done"]),
        "per_worker": r["done"],
        "seconds": round(r["seconds"], 3),
        "installments_per_s": round(installments / r["seconds"], 1),
        "worker_cpu_ms_per_installment": round(1000 * r["worker_cpu_s"] / installments, 3),
        "postgres_cpu_ms_per_installment": round(1000 * r["pg_cpu_s"] / installments, 3),
        "background_busy_before": busy,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "verification": verification,
        "ok": bool(verification["match"] and verification["integrity_ok"]),
    }


def run(
    admin_url: str, *, installments: int, workers: int, batch: int, threads: int = 0
) -> dict[str, Any]:
    """``workers`` worker processes (how the service is deployed) charge ``installments`` due
    installments; with ``threads`` > 0 the same data (a copy of the database made right after
    the setup) is also charged by that many threads of one process, the former mode, for
    comparison. The target is judged on the processes run."""
    out: dict[str, Any] = {
        "settings": {
            "installments": installments,
            "workers": workers,
            "batch": batch,
            "threads": threads,
        }
    }
    with pg.scratch_database(admin_url, "autopay") as url:
        print(f"[autopay] migrating {url.rsplit('/', 1)[-1]}")
        migrate(url)
        engine = make_engine(url, pool_size=4)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        _setup(factory, installments)
        engine.dispose()
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        with pg.clone_database(admin_url, url, "autopay_threads", enabled=threads > 0) as copy:
            out["autopay"] = _measured(
                "processes",
                _run_processes,
                url,
                admin_url,
                installments=installments,
                workers=workers,
                batch=batch,
            )
            if copy is not None:
                out["threads"] = _measured(
                    "threads",
                    _run_threads,
                    copy,
                    admin_url,
                    installments=installments,
                    workers=threads,
                    batch=batch,
                )
        print(f"[autopay] baseline: raw gateway authorize + capture x {installments:,}")
        engine = make_engine(url, pool_size=4)
        base_s = _baseline(make_session_factory(engine), installments)
        engine.dispose()
        out["baseline_gateway"] = {
            "charges": installments,
            "seconds": round(base_s, 3),
            "charges_per_s": round(installments / base_s, 1),
        }
    a = out["autopay"]
    out["verification"] = a["verification"]
    out["load_average_before"] = a["load_average_before"]
    out["background_busy_before"] = a["background_busy_before"]
    out["target_installments_per_s"] = TARGET_PER_S
    out["pass"] = bool(a["installments_per_s"] >= TARGET_PER_S and a["ok"])
    return out


def _summary_line(a: dict[str, Any], target: int | None) -> None:
    unit = "processes" if a["mode"] == "processes" else "threads of one process"
    verdict = ""
    if target is not None:
        verdict = (
            f" (target >= {target:,}) {'PASS' if a['installments_per_s'] >= target else 'FAIL'}"
        )
    print(
        f"  {a['workers']} worker {unit}: {a['installments_per_s']:,} installments/s in "
        f"{a['seconds']:.2f}s{verdict}"
    )
    print(
        f"    CPU per installment: workers {a['worker_cpu_ms_per_installment']:.3f} ms, "
        f"PostgreSQL backends {a['postgres_cpu_ms_per_installment']:.3f} ms; load average "
        f"{a['load_average_before'][0]:.2f} before, {a['load_average_after'][0]:.2f} after"
    )
    v = a["verification"]
    print(
        f"    paid {v['installments_paid']:,}, payment entries {v['payment_entries']:,} "
        f"({'match' if v['match'] else 'MISMATCH'}); integrity "
        f"{'ok' if v['integrity_ok'] else 'VIOLATIONS'}"
    )


def summary(r: dict[str, Any]) -> None:
    a, b = r["autopay"], r["baseline_gateway"]
    s = r["settings"]
    print(
        f"AUTOPAY run_once: {s['installments']:,} due installments, claims of {s['batch']}, "
        f"{s['workers']} worker processes"
    )
    _summary_line(a, r["target_installments_per_s"])
    if r.get("threads"):
        print("  for comparison, the same data charged by threads sharing one GIL:")
        _summary_line(r["threads"], None)
    print(
        f"  baseline: raw test-gateway authorize+capture {b['charges_per_s']:,} charges/s "
        f"(ratio autopay/baseline {a['installments_per_s'] / b['charges_per_s']:.2f})"
    )
    print(f"  AUTOPAY overall: {'PASS' if r['pass'] else 'FAIL'}")
