"""`python -m bench` (= `make bench`): run every benchmark, print a summary, write JSON.

Exit status: 0 when every target passes, 1 when one is missed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import (
    autopay_bench,
    card_bench,
    era_bench,
    http_bench,
    ledger_bench,
    pg,
    post835_bench,
    x12_bench,
)
from revcycle.config import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--only",
        choices=("http", "ledger", "x12", "card", "autopay", "era", "post835"),
        help="run one benchmark only (card and autopay are not part of the default run)",
    )
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds (HTTP)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (HTTP)")
    p.add_argument("--clients", type=int, default=32, help="concurrent keep-alive clients")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers, same for both sides")
    p.add_argument(
        "--rounds", type=int, default=1, help="HTTP rounds (baseline, app); the median is reported"
    )
    p.add_argument("--ledger-entries", type=int, default=100_000, help="entries to bulk-post")
    p.add_argument("--ledger-batch", type=int, default=5_000, help="entries per transaction")
    p.add_argument("--x12-responses", type=int, default=20_000, help="271 responses to parse")
    p.add_argument("--autopay-installments", type=int, default=2_000, help="due installments")
    p.add_argument(
        "--autopay-workers", type=int, default=2, help="worker processes (autopay; 1 per core)"
    )
    p.add_argument(
        "--autopay-threads",
        type=int,
        default=4,
        help="also charge a copy of the data with this many threads of one process, the former "
        "mode, for comparison (autopay; 0 = skip)",
    )
    p.add_argument("--autopay-batch", type=int, default=500, help="installments per claim")
    p.add_argument("--post835-claims", type=int, default=20_000, help="claims to post (835)")
    p.add_argument("--era-claims", type=int, default=200_000, help="835 claims to parse")
    p.add_argument("--era-pyx12-claims", type=int, default=2_000, help="claims pyx12 reads")
    p.add_argument("--era-build-claims", type=int, default=50_000, help="837P claims to build")
    p.add_argument(
        "--era-gb", type=float, default=0.0, help="also parse an 835 of this many GB (peak RSS)"
    )
    p.add_argument("--pg-url", default=pg.DEFAULT_ADMIN_URL, help="admin URL (env BENCH_PG_URL)")
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = p.parse_args(argv)
    for name in (
        "duration",
        "clients",
        "workers",
        "rounds",
        "ledger_entries",
        "ledger_batch",
        "x12_responses",
        "autopay_installments",
        "autopay_workers",
        "autopay_batch",
        "era_claims",
        "era_pyx12_claims",
        "era_build_claims",
        "post835_claims",
    ):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.autopay_threads < 0:
        p.error("--autopay-threads must be 0 or positive")
    if args.clients > 256 or args.workers > 16 or args.duration > 600 or args.rounds > 10:
        p.error("keep it bounded: clients <= 256, workers <= 16, duration <= 600, rounds <= 10")
    return args


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return done.stdout.strip() + ("+dirty-src" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def meta(args: argparse.Namespace) -> dict[str, Any]:
    versions = {}
    for pkg in ("uvicorn", "uvloop", "httptools", "fastapi", "starlette", "sqlalchemy", "psycopg"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "command": " ".join([".venv/bin/python -m bench", *sys.argv[1:]]),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "versions": versions,
        "postgresql": None if args.only in ("x12", "era") else pg.server_settings(args.pg_url),
    }


def _fmt(value: object, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def print_summary(results: dict[str, Any]) -> None:
    print()
    print("=" * 78)
    print("SUMMARY")
    print("=" * 78)
    http = results.get("http")
    if http:
        s = http["settings"]
        print(
            f"HTTP  POST /api/v1/invoices (issue) vs baseline INSERT+COMMIT; "
            f"{s['clients']} clients, {s['workers']} workers, {s['duration_s']:g}s"
        )
        header = f"  {'':10}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}"
        print(header + f"{'non-2xx':>9}{'errors':>8}")
        for name in ("baseline", "framework", "app"):
            r = http[name]
            non2xx = sum(r["other_statuses_in_window"].values())
            errors = sum(r["client_errors"].values())
            print(
                f"  {name:10}{_fmt(r['rps'], '.1f'):>10}{_fmt(r['p50_ms'], '.1f'):>10}"
                f"{_fmt(r['p95_ms'], '.1f'):>10}{_fmt(r['p99_ms'], '.1f'):>10}"
                f"{_fmt(r['max_ms'], '.1f'):>10}{non2xx:>9}{errors:>8}"
            )
        for name in ("baseline", "framework", "app"):
            c = http[name].get("cpu") or {}
            if c:
                print(
                    f"  {name:10}CPU ms/request: server {c['server_cpu_ms_per_req']:.2f}, "
                    f"postgres {c['postgres_cpu_ms_per_req']:.2f}, load generator "
                    f"{c['loadgen_cpu_ms_per_req']:.2f}, other {c['other_cpu_ms_per_req']:.2f}; "
                    f"machine busy {100 * c['machine_utilisation']:.0f}%"
                )
        for name in ("baseline", "framework", "app"):
            d = http[name].get("pg") or {}
            if d:
                print(
                    f"  {name:10}PostgreSQL: {d['commits_per_response']:.2f} commits and "
                    f"{d['rows_inserted_per_response']:.1f} rows inserted per response, "
                    f"{d['connections_opened']} connections opened, {d['rollbacks']} rollbacks"
                )
        if len(http["rounds"]) > 1:
            for i, r in enumerate(http["rounds"], 1):
                print(
                    f"  round {i}: baseline {r['baseline_rps']:.1f} req/s, framework "
                    f"{r['framework_rps']:.1f} req/s (ratio {r['framework_ratio']:.3f}), app "
                    f"{r['app_rps']:.1f} req/s, ratio {r['ratio']:.3f}, app p99 "
                    f"{r['app_p99_ms']:.1f} ms"
                )
            print("  (the table shows the round with the median ratio)")
        t = http["targets"]
        v = http["verification"]
        print(
            f"  ratio framework floor/baseline = {http['framework_ratio']:.3f}  (reference: "
            "FastAPI + Pydantic + SQLAlchemy doing one INSERT, no billing work)"
        )
        print(
            f"  ratio app/baseline = {http['ratio']:.3f}  (target >= {t['ratio_min']:.2f}) "
            f"{'PASS' if t['ratio_pass'] else 'FAIL'}"
        )
        print(
            f"  app p99 = {http['app']['p99_ms']:.1f} ms  (target < {t['p99_max_ms']:.0f} ms) "
            f"{'PASS' if t['p99_pass'] else 'FAIL'}"
        )
        integrity = (
            "ok" if v["integrity_ok"] else "VIOLATIONS: " + "; ".join(v["integrity_violations"])
        )
        print(
            f"  invoices in db = {v['invoices_in_db']}, app 201s = {v['app_201_total']} "
            f"({'match' if v['invoices_match_201s'] else 'MISMATCH'}); integrity {integrity}"
        )
        print(f"  HTTP overall: {'PASS' if http['pass'] else 'FAIL'}")
    ledger = results.get("ledger")
    if ledger:
        b = ledger["bulk"]
        v = ledger["verification"]
        print(
            f"LEDGER post_entries_bulk: {b['entries']:,} entries ({b['postings']:,} postings), "
            f"batches of {ledger['settings']['batch']:,}"
        )
        print(
            f"  {b['entries_per_s']:,} entries/s in {b['seconds']:.2f}s (service call "
            f"{b['service_call_s']:.2f}s + commit {b['commit_s']:.2f}s)  "
            f"(target >= {ledger['target_entries_per_s']:,}) "
            f"{'PASS' if b['entries_per_s'] >= ledger['target_entries_per_s'] else 'FAIL'}"
        )
        for label, r in ledger["single"].items():
            print(f"  {label}: {r['entries_per_s']:,} entries/s ({r['entries']:,} entries)")
        print(
            f"  entries in db {'match' if v['entries_match'] else 'MISMATCH'}; integrity "
            f"{'ok' if v['integrity_ok'] else 'VIOLATIONS'}"
        )
        print(f"  LEDGER overall: {'PASS' if ledger['pass'] else 'FAIL'}")
    x12 = results.get("x12")
    if x12:
        b, p, base = x12["build_270"], x12["parse_271"], x12["baseline_split"]
        print(
            f"X12   parse_271: {p['responses']:,} responses ({p['benefits_per_response']} EB each, "
            f"{p['bytes']:,} bytes) in {p['seconds']:.2f}s CPU = {p['responses_per_min']:,}/min "
            f"(target >= {p['target_per_min']:,}) {'PASS' if p['pass'] else 'FAIL'}"
        )
        print(
            f"  baseline str.split over the same bytes: {base['seconds']:.2f}s "
            f"({base['responses_per_min']:,}/min); parse/baseline time = "
            f"{base['ratio_parse_to_baseline']}x"
        )
        print(
            f"  build_270: {b['inquiries']:,} inquiries in {b['seconds']:.2f}s CPU "
            f"(target < {b['target_s']:.0f} s) {'PASS' if b['pass'] else 'FAIL'}"
        )
    if results.get("autopay"):
        autopay_bench.summary(results["autopay"])
    if results.get("era"):
        era_bench.summary(results["era"])
    if results.get("post835"):
        post835_bench.summary(results["post835"])
    print("=" * 78)


def _scratch_keys() -> None:
    """PHI encryption keys for this run only (the seed, and the app servers, which inherit the
    environment): a fresh key, never written to disk."""
    from revcycle.crypto import keyring

    kid = keyring.new_key_id()
    os.environ["REVCYCLE_ENCRYPTION_KEYS"] = json.dumps({kid: keyring.new_key()})
    os.environ["REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID"] = kid
    keyring.install(keyring.load_keyring(Settings()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _scratch_keys()
    started = time.perf_counter()
    try:
        results: dict[str, Any] = {"meta": meta(args)}
    except Exception as exc:  # noqa: BLE001 - report any connection problem plainly
        print(f"PostgreSQL not reachable at {args.pg_url}: {exc}", file=sys.stderr)
        return 2
    server = (results["meta"]["postgresql"] or {}).get("server_version", "not used")
    print(
        f"bench: {results['meta']['machine']['cpus']} CPUs, PostgreSQL "
        f"{server}, git {results['meta']['git']}"
    )
    if args.only in (None, "http"):
        results["http"] = http_bench.run(
            args.pg_url,
            clients=args.clients,
            workers=args.workers,
            warmup_s=args.warmup,
            duration_s=args.duration,
            rounds=args.rounds,
            log_dir=args.output.parent,
        )
    if args.only in (None, "x12"):
        results["x12"] = x12_bench.run(responses=args.x12_responses, rounds=args.rounds)
    if args.only in (None, "era"):
        results["era"] = era_bench.run(
            claims=args.era_claims,
            pyx12_claims=args.era_pyx12_claims,
            build_claims=args.era_build_claims,
            gb=args.era_gb,
        )
    if args.only == "card":
        results["card"] = card_bench.run(
            args.pg_url,
            clients=args.clients,
            workers=args.workers,
            warmup_s=args.warmup,
            duration_s=args.duration,
            log_dir=args.output.parent,
        )
    if args.only in (None, "ledger"):
        results["ledger"] = ledger_bench.run(
            args.pg_url, entries=args.ledger_entries, batch=args.ledger_batch
        )
    if args.only in (None, "autopay"):
        results["autopay"] = autopay_bench.run(
            args.pg_url,
            installments=args.autopay_installments,
            workers=args.autopay_workers,
            batch=args.autopay_batch,
            threads=args.autopay_threads,
        )
    if args.only in (None, "post835"):
        results["post835"] = post835_bench.run(args.pg_url, claims=args.post835_claims)
    results["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["pass"] = all(
        results[k]["pass"]
        for k in ("http", "ledger", "x12", "card", "autopay", "era", "post835")
        if k in results
    )
    print_summary(results)
    if "card" in results:
        card_bench.print_summary(results["card"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results written to {args.output}")
    return 0 if results["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
