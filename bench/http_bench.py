"""Requirement 1: issuing invoices through the HTTP API on PostgreSQL, against a baseline.

Both servers are started with the identical uvicorn command line (see ``servers.py``), one after
the other on the same scratch database, each measured by the same closed-loop load generator.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench import pg, procstat, servers
from bench.baseline_app import CREATE_TABLE
from bench.loadgen import HOST, LoadResult, build_request, run_load
from revcycle.auth import service as auth_service
from revcycle.auth.permissions import Role
from revcycle.auth.principal import Principal
from revcycle.auth.schemas import UserCreate
from revcycle.config import Settings
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.integrity import service as integrity
from revcycle.invoices.models import Invoice
from revcycle.kit.codes import npi_check_digit
from revcycle.patients import service as patients_service
from revcycle.patients.schemas import PatientCreate
from revcycle.practices import service as practices_service
from revcycle.practices.schemas import PracticeCreate

TARGET_RATIO = 0.40
TARGET_P99_MS = 100.0
SYSTEM = Principal.system(username="bench")


@dataclass(frozen=True)
class Seeded:
    practice_id: uuid.UUID
    patient_id: uuid.UUID
    username: str
    password: str


def random_npi() -> str:
    body = f"{secrets.randbelow(10**8) + 10**8:09d}"
    return body + npi_check_digit(body)


def seed(url: str) -> Seeded:
    """One practice, one patient and a billing_staff login, through the service layer."""
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=1)
    password = secrets.token_urlsafe(18)
    try:
        with unit_of_work(make_session_factory(engine)) as s:
            practice = practices_service.create_practice(
                s,
                SYSTEM,
                PracticeCreate.model_validate(
                    {
                        "name": "Benchmark Family Medicine",
                        "npi": random_npi(),
                        "tin": "12-3456789",
                        "taxonomy": "207Q00000X",
                        "address_line1": "100 Main St",
                        "city": "Springfield",
                        "state": "IL",
                        "postal_code": "62701",
                        "default_terms": "net",
                        "default_terms_days": 30,
                    }
                ),
            )
            patient = patients_service.create_patient(
                s,
                SYSTEM,
                practice.id,
                PatientCreate.model_validate(
                    {
                        "first_name": "Jordan",
                        "last_name": "Casey",
                        "date_of_birth": "1980-05-17",
                        "sex": "F",
                    }
                ),
            )
            user = auth_service.create_user(
                s,
                SYSTEM,
                UserCreate(
                    username="bench.billing",
                    password=password,
                    role=Role.BILLING_STAFF,
                    practice_ids=[practice.id],
                ),
                auth_service.make_hasher(settings),
            )
            seeded = Seeded(practice.id, patient.id, user.username, password)
    finally:
        engine.dispose()
    return seeded


def obtain_token(port: int, username: str, password: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": password}).encode()
    req = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
        f"http://{HOST}:{port}/api/v1/auth/token", data=form, method="POST"
    )
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        return str(json.loads(resp.read())["access_token"])


def invoice_body(patient_id: uuid.UUID) -> bytes:
    dos = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7)
    return json.dumps(
        {
            "patient_id": str(patient_id),
            "issue": True,
            "lines": [
                {
                    "service_code": "99213",
                    "units": 1,
                    "unit_price": "125.00",
                    "description": "Office visit",
                    "diagnosis_codes": ["E11.9"],
                    "date_of_service": dos.isoformat(),
                }
            ],
        },
        separators=(",", ":"),
    ).encode()


def summarise(load: LoadResult, ok_status: int, cpu: dict[str, float]) -> dict[str, Any]:
    ok = load.ok_in_window(ok_status)
    lat = load.latencies_s
    return {
        "ok_status": ok_status,
        "requests_ok": ok,
        "window_s": load.window_s,
        "rps": round(ok / load.window_s, 1) if load.window_s else 0.0,
        "mean_ms": round(1000 * sum(lat) / len(lat), 2) if lat else None,
        "p50_ms": round(load.percentile_ms(50), 2),
        "p95_ms": round(load.percentile_ms(95), 2),
        "p99_ms": round(load.percentile_ms(99), 2),
        "max_ms": round(1000 * max(lat), 2) if lat else None,
        "other_statuses_in_window": {
            str(k): v for k, v in sorted(load.statuses.items()) if k != ok_status
        },
        "all_responses": {str(k): v for k, v in sorted(load.all_statuses.items())},
        "client_errors": dict(load.errors),
        "sample_error_bodies": load.sample_error_bodies,
        "cpu": cpu,
    }


def _measure(
    server: servers.Server,
    request: bytes,
    *,
    clients: int,
    warmup_s: float,
    duration_s: float,
    ok_status: int,
) -> dict[str, Any]:
    marks: dict[str, procstat.CpuSnapshot] = {}
    load = run_load(
        server.port,
        request,
        clients=clients,
        warmup_s=warmup_s,
        duration_s=duration_s,
        ok_status=ok_status,
        on_window_start=lambda: marks.__setitem__("start", procstat.snapshot(server.pid)),
        on_window_end=lambda: marks.__setitem__("end", procstat.snapshot(server.pid)),
    )
    ok = load.ok_in_window(ok_status)
    cpu = procstat.cpu_split(marks["start"], marks["end"], ok) if len(marks) == 2 else {}
    return summarise(load, ok_status, cpu)


def _pg_delta(
    admin_url: str, dbname: str, before: dict[str, int], responses: int
) -> dict[str, float]:
    """Database-side work per response (warm-up and tail included), from pg_stat_database.
    Counters are flushed as backends exit, so this is read after the server has stopped."""
    time.sleep(1.0)
    after = pg.db_counters(admin_url, dbname)
    n = max(responses, 1)
    return {
        "connections_opened": after["sessions"] - before["sessions"],
        "commits_per_response": round((after["xact_commit"] - before["xact_commit"]) / n, 2),
        "rollbacks": after["xact_rollback"] - before["xact_rollback"],
        "deadlocks": after["deadlocks"] - before["deadlocks"],
        "rows_inserted_per_response": round(
            (after["tup_inserted"] - before["tup_inserted"]) / n, 2
        ),
    }


def _side(
    name: str,
    factory: str,
    env: dict[str, str],
    request_for: Callable[[servers.Server], bytes],
    admin_url: str,
    url: str,
    *,
    clients: int,
    workers: int,
    warmup_s: float,
    duration_s: float,
    log_dir: Path,
) -> dict[str, Any]:
    """One side of a round: serve ``factory`` with the common command line, load it, and read
    PostgreSQL's counters for the run."""
    dbname = url.rsplit("/", 1)[-1]
    pg.checkpoint(admin_url)
    counters = pg.db_counters(admin_url, dbname)
    busy = procstat.quiet_check("http")
    server = servers.start(name, factory, workers=workers, env=env, log_dir=log_dir)
    try:
        request = request_for(server)
        print(f"[http] {name}: {clients} clients, {warmup_s:g}s warm-up + {duration_s:g}s")
        result = _measure(
            server,
            request,
            clients=clients,
            warmup_s=warmup_s,
            duration_s=duration_s,
            ok_status=201,
        )
    finally:
        servers.stop(server)
    result["pg"] = _pg_delta(admin_url, dbname, counters, sum(result["all_responses"].values()))
    result["background_busy_before"] = busy
    return result


JSON = {"Content-Type": "application/json"}


def _baseline_round(admin_url: str, url: str, seeded: Seeded, **opts: Any) -> dict[str, Any]:
    """The baseline: pure ASGI + psycopg, one INSERT + COMMIT (bench/baseline_app.py)."""
    env = {
        "BENCH_BASELINE_DSN": pg.libpq_dsn(url),
        "BENCH_BASELINE_POOL_SIZE": str(Settings(database_url=url).db_pool_size),
    }
    body = invoice_body(seeded.patient_id)  # the same payload as the real request
    return _side(
        "baseline",
        "bench.baseline_app:create_app",
        env,
        lambda server: build_request("POST", "/", server.port, body=body, headers=JSON),
        admin_url,
        url,
        **opts,
    )


def _framework_round(admin_url: str, url: str, seeded: Seeded, **opts: Any) -> dict[str, Any]:
    """The framework floor (bench/framework_app.py): FastAPI + Pydantic + SQLAlchemy, one INSERT."""
    body = invoice_body(seeded.patient_id)
    return _side(
        "framework",
        "bench.framework_app:create_app",
        {"BENCH_FRAMEWORK_URL": url},
        lambda server: build_request("POST", "/", server.port, body=body, headers=JSON),
        admin_url,
        url,
        **opts,
    )


def _app_round(admin_url: str, url: str, seeded: Seeded, **opts: Any) -> dict[str, Any]:
    """revcycle: POST /api/v1/invoices with "issue": true as a billing_staff bearer user."""

    def request_for(server: servers.Server) -> bytes:
        token = obtain_token(server.port, seeded.username, seeded.password)
        return build_request(
            "POST",
            "/api/v1/invoices",
            server.port,
            body=invoice_body(seeded.patient_id),
            headers={**JSON, "Authorization": f"Bearer {token}"},
        )

    return _side(
        "app",
        "revcycle.app:create_app",
        {"REVCYCLE_DATABASE_URL": url},
        request_for,
        admin_url,
        url,
        **opts,
    )


def _verify(url: str, app_201: int, baseline_201: int) -> dict[str, Any]:
    """Every 201 is an invoice row (and a baseline row), and the books still balance."""
    engine = make_engine(url, pool_size=1)
    try:
        with unit_of_work(make_session_factory(engine)) as s:
            invoices = int(s.scalar(select(func.count()).select_from(Invoice)) or 0)
            baseline_rows = int(s.execute(text("SELECT count(*) FROM bench_baseline")).scalar_one())
            report = integrity.run(s)
    finally:
        engine.dispose()
    return {
        "invoices_in_db": invoices,
        "app_201_total": app_201,
        "invoices_match_201s": invoices == app_201,
        "baseline_rows_in_db": baseline_rows,
        "baseline_201_total": baseline_201,
        "baseline_rows_match_201s": baseline_rows == baseline_201,
        "integrity_ok": report.ok,
        "integrity_checked": report.checked,
        "integrity_violations": report.violations[:10],
    }


def run(
    admin_url: str,
    *,
    clients: int,
    workers: int,
    warmup_s: float,
    duration_s: float,
    rounds: int,
    log_dir: Path,
) -> dict[str, Any]:
    """``rounds`` x (baseline, then app) on one scratch database; the round with the median
    ratio is reported (all rounds are kept in the JSON)."""
    out: dict[str, Any] = {
        "settings": {
            "clients": clients,
            "workers": workers,
            "warmup_s": warmup_s,
            "duration_s": duration_s,
            "rounds": rounds,
            "server_command": " ".join(
                servers.uvicorn_command("<factory>", 0, workers)[2:]
            ).replace("--port 0", "--port <free port>"),
        }
    }
    opts: dict[str, Any] = {
        "clients": clients,
        "workers": workers,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "log_dir": log_dir,
    }
    all_rounds: list[dict[str, Any]] = []
    with pg.scratch_database(admin_url, "http") as url:
        print(f"[http] scratch database ready; migrating {url.rsplit('/', 1)[-1]}")
        migrate(url)
        seeded = seed(url)
        engine = make_engine(url, pool_size=1)
        with engine.begin() as conn:
            conn.execute(text(CREATE_TABLE))
        engine.dispose()
        for n in range(rounds):
            if rounds > 1:
                print(f"[http] round {n + 1}/{rounds}")
            base = _baseline_round(admin_url, url, seeded, **opts)
            floor = _framework_round(admin_url, url, seeded, **opts)
            app = _app_round(admin_url, url, seeded, **opts)
            ratio = app["rps"] / base["rps"] if base["rps"] else 0.0
            floor_ratio = floor["rps"] / base["rps"] if base["rps"] else 0.0
            all_rounds.append(
                {
                    "baseline": base,
                    "framework": floor,
                    "app": app,
                    "ratio": round(ratio, 3),
                    "framework_ratio": round(floor_ratio, 3),
                }
            )
        out["verification"] = _verify(
            url,
            sum(r["app"]["all_responses"].get("201", 0) for r in all_rounds),
            sum(
                r[side]["all_responses"].get("201", 0)
                for r in all_rounds
                for side in ("baseline", "framework")
            ),
        )

    median = sorted(all_rounds, key=lambda r: r["ratio"])[len(all_rounds) // 2]
    out["baseline"], out["app"], out["ratio"] = median["baseline"], median["app"], median["ratio"]
    out["framework"], out["framework_ratio"] = median["framework"], median["framework_ratio"]
    out["rounds"] = [
        {
            "ratio": r["ratio"],
            "framework_ratio": r["framework_ratio"],
            "baseline_rps": r["baseline"]["rps"],
            "framework_rps": r["framework"]["rps"],
            "app_rps": r["app"]["rps"],
            "baseline_p99_ms": r["baseline"]["p99_ms"],
            "app_p99_ms": r["app"]["p99_ms"],
        }
        for r in all_rounds
    ]
    out["all_rounds"] = all_rounds
    a = out["app"]
    out["targets"] = {
        "ratio_min": TARGET_RATIO,
        "p99_max_ms": TARGET_P99_MS,
        "ratio_pass": out["ratio"] >= TARGET_RATIO,
        "p99_pass": a["p99_ms"] < TARGET_P99_MS,
    }
    v = out["verification"]
    out["pass"] = bool(
        out["targets"]["ratio_pass"]
        and out["targets"]["p99_pass"]
        and v["invoices_match_201s"]
        and v["integrity_ok"]
        and a["requests_ok"] > 0
    )
    return out
