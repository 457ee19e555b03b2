"""Card payments through the HTTP API on PostgreSQL against the same-run baseline.

``POST /api/v1/payments`` with ``method: card`` and a test-gateway token: Idempotency-Key (a new
one per request), the three-phase gateway saga (pending row -> authorise + capture in the test
gateway's own tables -> ledger entry, allocation to an invoice, audit), as a billing clerk. The
requests rotate over many patients (one open invoice each), like a front desk, so they don't all
queue on one patient's row lock. The baseline is the one-INSERT-plus-commit app, same command
line, same load generator (``http_bench``).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench import http_bench, pg, servers
from bench.baseline_app import CREATE_TABLE
from bench.loadgen import build_request
from revcycle.config import Settings
from revcycle.db import make_engine, make_session_factory, migrate, unit_of_work
from revcycle.gateway.testgw import service as testgw
from revcycle.gateway.testgw.app import fingerprint_key
from revcycle.integrity import service as integrity
from revcycle.invoices import service as invoices_service
from revcycle.invoices.schemas import InvoiceCreate
from revcycle.patients import service as patients_service
from revcycle.patients.schemas import PatientCreate
from revcycle.payments.models import Payment

PATIENTS = 64


def card_number(i: int) -> str:
    """A distinct Luhn-valid test number per patient (the test gateway approves any valid number
    that is not one of its scenario cards)."""
    body = f"42424299{i:07d}"
    total = 0
    for pos, ch in enumerate(reversed(body)):
        d = int(ch)
        if pos % 2 == 0:  # doubled: the check digit will be appended on the right
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def seed_cards(url: str, seeded: http_bench.Seeded) -> list[tuple[str, str, str]]:
    """(patient id, open invoice id with room for many payments, the patient's own card token).
    One card per patient, as at a front desk: one card paying for 64 patients would (rightly)
    trip the ``card_many_patients`` fraud flag on every payment, and the benchmark would measure
    the review queue instead of a payment."""
    settings = Settings(database_url=url)
    engine = make_engine(url, pool_size=1)
    pairs: list[tuple[str, str, str]] = []
    try:
        with unit_of_work(make_session_factory(engine)) as s:
            for i in range(PATIENTS):
                tok = testgw.tokenize(
                    s,
                    fingerprint_key=fingerprint_key(
                        settings.gateway_webhook_secret.get_secret_value()
                    ),
                    number=card_number(i),
                    exp_month=12,
                    exp_year=2099,
                    cvc="123",
                )
                patient = patients_service.create_patient(
                    s,
                    http_bench.SYSTEM,
                    seeded.practice_id,
                    PatientCreate.model_validate(
                        {
                            "first_name": f"Card{i}",
                            "last_name": "Bench",
                            "date_of_birth": "1975-03-02",
                            "sex": "M",
                        }
                    ),
                )
                inv = invoices_service.create_invoice(
                    s,
                    http_bench.SYSTEM,
                    InvoiceCreate.model_validate(
                        {
                            "patient_id": str(patient.id),
                            "issue": True,
                            "lines": [
                                {
                                    "service_code": "99215",
                                    "units": 1,
                                    "unit_price": "90000.00",
                                    "description": "Benchmark balance",
                                    "diagnosis_codes": ["E11.9"],
                                    "date_of_service": "2026-11-01",
                                }
                            ],
                        }
                    ),
                )
                s.flush()
                pairs.append((str(patient.id), str(inv.id), tok.id))
    finally:
        engine.dispose()
    return pairs


def payment_amount(n: int, patients: int) -> str:
    """1.00, then one cent more on each round over the patients: a patient's payments within
    minutes never have the same amount. The same amount again would (rightly) trip the
    ``duplicate_payment`` fraud flag on every payment after the first round, and the benchmark
    would measure a review row and its audit event per request, not a front desk."""
    cents = 100 + n // patients
    return f"{cents // 100}.{cents % 100:02d}"


def payment_body(pairs: list[tuple[str, str, str]], n: int) -> bytes:
    """The n-th request's JSON: the next patient's card token, paying its open invoice."""
    patient_id, invoice_id, token = pairs[n % len(pairs)]
    amount = payment_amount(n, len(pairs))
    return json.dumps(
        {
            "patient_id": patient_id,
            "amount": amount,
            "method": "card",
            "token": token,
            "allocations": [{"invoice_id": invoice_id, "amount": amount}],
        },
        separators=(",", ":"),
    ).encode()


def card_requests(port: int, bearer: str, pairs: list[tuple[str, str, str]]) -> Callable[[], bytes]:
    """A fresh request per send: the next patient, a new Idempotency-Key."""
    counter = itertools.count()
    run = uuid.uuid4().hex[:8]

    def make() -> bytes:
        n = next(counter)
        body = payment_body(pairs, n)
        return build_request(
            "POST",
            "/api/v1/payments",
            port,
            body=body,
            headers={
                **http_bench.JSON,
                "Authorization": f"Bearer {bearer}",
                "Idempotency-Key": f"bench-{run}-{n}",
            },
        )

    return make


def run(
    admin_url: str,
    *,
    clients: int,
    workers: int,
    warmup_s: float,
    duration_s: float,
    log_dir: Path,
) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "clients": clients,
        "workers": workers,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "log_dir": log_dir,
    }
    out: dict[str, Any] = {"settings": {k: v for k, v in opts.items() if k != "log_dir"}}
    with pg.scratch_database(admin_url, "card") as url:
        migrate(url)
        seeded = http_bench.seed(url)
        pairs = seed_cards(url, seeded)
        engine = make_engine(url, pool_size=1)
        with engine.begin() as conn:
            conn.execute(text(CREATE_TABLE))
        engine.dispose()
        base = http_bench._baseline_round(admin_url, url, seeded, **opts)
        # The framework floor (FastAPI + Pydantic + SQLAlchemy doing the baseline's one INSERT):
        # the most any endpoint on this stack can reach, measured in the same run for reading
        # the ratio (no target).
        floor = http_bench._framework_round(admin_url, url, seeded, **opts)

        def request_for(server: servers.Server) -> Callable[[], bytes]:
            bearer = http_bench.obtain_token(server.port, seeded.username, seeded.password)
            return card_requests(server.port, bearer, pairs)

        app = http_bench._side(
            "app-card",
            "revcycle.app:create_app",
            # Throughput, not the per-user payment rate limit (300/min by default: one bench user
            # would be capped at 5 payments/s and the rest answered 429).
            {"REVCYCLE_DATABASE_URL": url, "REVCYCLE_RATE_LIMIT_PAYMENTS_PER_MINUTE": "0"},
            request_for,  # type: ignore[arg-type]
            admin_url,
            url,
            **opts,
        )
        engine = make_engine(url, pool_size=1)
        try:
            with unit_of_work(make_session_factory(engine)) as s:
                succeeded = int(
                    s.scalar(
                        select(func.count())
                        .select_from(Payment)
                        .where(Payment.status == "succeeded", Payment.method == "card")
                    )
                    or 0
                )
                report = integrity.run(s)
        finally:
            engine.dispose()
    ratio = app["rps"] / base["rps"] if base["rps"] else 0.0
    floor_ratio = floor["rps"] / base["rps"] if base["rps"] else 0.0
    app_201 = app["all_responses"].get("201", 0)
    out.update(
        baseline=base,
        framework=floor,
        app=app,
        ratio=round(ratio, 3),
        framework_ratio=round(floor_ratio, 3),
        app_to_framework=round(app["rps"] / floor["rps"], 3) if floor["rps"] else 0.0,
        verification={
            "card_payments_succeeded": succeeded,
            "app_201_total": app_201,
            "payments_match_201s": succeeded == app_201,
            "integrity_ok": report.ok,
            "integrity_violations": report.violations[:10],
        },
        targets={
            "ratio_min": http_bench.TARGET_RATIO,
            "p99_max_ms": http_bench.TARGET_P99_MS,
            "ratio_pass": ratio >= http_bench.TARGET_RATIO,
            "p99_pass": app["p99_ms"] < http_bench.TARGET_P99_MS,
        },
    )
    out["pass"] = bool(
        out["targets"]["ratio_pass"]
        and out["targets"]["p99_pass"]
        and succeeded == app_201
        and report.ok
    )
    return out


def print_summary(card: dict[str, Any]) -> None:
    s = card["settings"]
    print(
        f"CARD  POST /api/v1/payments (card, token, Idempotency-Key, allocation) vs baseline; "
        f"{s['clients']} clients, {s['workers']} workers, {s['duration_s']:g}s"
    )
    for name in ("baseline", "framework", "app"):
        r = card[name]
        print(
            f"  {name:10}{r['rps']:>10.1f} req/s  p50 {r['p50_ms']:.1f}  p95 {r['p95_ms']:.1f}  "
            f"p99 {r['p99_ms']:.1f} ms  other statuses {r['other_statuses_in_window']}"
        )
        c = r.get("cpu") or {}
        if c:
            print(
                f"  {'':10}CPU ms/request: server {c['server_cpu_ms_per_req']:.2f}, postgres "
                f"{c['postgres_cpu_ms_per_req']:.2f}; machine busy "
                f"{100 * c['machine_utilisation']:.0f}%"
            )
    t, v = card["targets"], card["verification"]
    print(
        f"  ratio app/baseline = {card['ratio']:.3f} (target >= {t['ratio_min']:.2f}) "
        f"{'PASS' if t['ratio_pass'] else 'FAIL'}; p99 {'PASS' if t['p99_pass'] else 'FAIL'}"
    )
    print(
        f"  ratio framework floor/baseline = {card['framework_ratio']:.3f} (no endpoint on this "
        f"stack can exceed it); app/framework floor = {card['app_to_framework']:.3f}"
    )
    print(
        f"  card payments succeeded {v['card_payments_succeeded']}, 201s {v['app_201_total']}; "
        f"integrity {'ok' if v['integrity_ok'] else v['integrity_violations']}"
    )
