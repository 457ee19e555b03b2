"""Payment plans: the autopay task charges >= 2,000 due installments/s against the test gateway
(PostgreSQL). ``N`` due installments (one per plan, ``N / 20`` patients with a stored card) are
built through the services, the tables are ANALYZEd (as autovacuum would have done on a live
database; the bench server runs with autovacuum off), then ``plans.autopay.run_once`` is timed,
run by ``workers`` threads at once (several worker processes share the work with SKIP LOCKED
claims). Besides the rate it reports CPU milliseconds per installment -- this process (the
workers) and the PostgreSQL backends serving the scratch database -- which a shared machine
disturbs far less than the wall clock, and the load average. The same-run baseline is the raw
gateway loop (authorize + capture, no revcycle bookkeeping) for the same count.
"""

from __future__ import annotations

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


def run(admin_url: str, *, installments: int, workers: int, batch: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "settings": {"installments": installments, "workers": workers, "batch": batch}
    }
    with pg.scratch_database(admin_url, "autopay") as url:
        print(f"[autopay] migrating {url.rsplit('/', 1)[-1]}")
        migrate(url)
        engine = make_engine(url, pool_size=workers + 4)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        _setup(factory, installments)
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        pg.checkpoint(admin_url)
        settings = Settings(database_url=url, autopay_batch_size=batch)
        gateway = testgw.TestGateway(factory)
        now = utcnow()
        print(f"[autopay] run_once x {workers} workers over {installments:,} due installments")
        out["background_busy_before"] = procstat.quiet_check("autopay")
        out["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
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
        pg_cpu = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
        rate = installments / elapsed
        out["autopay"] = {
            "charged": sum(done),
            "per_worker": done,
            "seconds": round(elapsed, 3),
            "installments_per_s": round(rate, 1),
            "worker_cpu_ms_per_installment": round(1000 * cpu / installments, 3),
            "postgres_cpu_ms_per_installment": round(1000 * pg_cpu / installments, 3),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(f"[autopay] baseline: raw gateway authorize + capture x {installments:,}")
        base_s = _baseline(factory, installments)
        out["baseline_gateway"] = {
            "charges": installments,
            "seconds": round(base_s, 3),
            "charges_per_s": round(installments / base_s, 1),
        }
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
        engine.dispose()
        out["verification"] = {
            "installments_paid": paid,
            "payment_entries": entries,
            "match": paid == installments == entries,
            "integrity_ok": report.ok,
            "integrity_violations": report.violations[:10],
        }
    out["target_installments_per_s"] = TARGET_PER_S
    out["pass"] = bool(
        rate >= TARGET_PER_S
        and out["verification"]["match"]
        and out["verification"]["integrity_ok"]
    )
    return out


def summary(r: dict[str, Any]) -> None:
    a, b, v = r["autopay"], r["baseline_gateway"], r["verification"]
    s = r["settings"]
    print(
        f"AUTOPAY run_once: {s['installments']:,} due installments, {s['workers']} workers, "
        f"claims of {s['batch']}"
    )
    print(
        f"  {a['installments_per_s']:,} installments/s in {a['seconds']:.2f}s "
        f"(target >= {r['target_installments_per_s']:,}) "
        f"{'PASS' if a['installments_per_s'] >= r['target_installments_per_s'] else 'FAIL'}"
    )
    print(
        f"  CPU per installment: workers {a['worker_cpu_ms_per_installment']:.3f} ms, "
        f"PostgreSQL backends {a['postgres_cpu_ms_per_installment']:.3f} ms; load average "
        f"{r['load_average_before'][0]:.2f} before, {a['load_average_after'][0]:.2f} after"
    )
    print(
        f"  baseline: raw test-gateway authorize+capture {b['charges_per_s']:,} charges/s "
        f"(ratio autopay/baseline {a['installments_per_s'] / b['charges_per_s']:.2f})"
    )
    print(
        f"  paid {v['installments_paid']:,}, payment entries {v['payment_entries']:,} "
        f"({'match' if v['match'] else 'MISMATCH'}); integrity "
        f"{'ok' if v['integrity_ok'] else 'VIOLATIONS'}"
    )
    print(f"  AUTOPAY overall: {'PASS' if r['pass'] else 'FAIL'}")
