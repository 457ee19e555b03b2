"""CPU per card payment without the HTTP server: the same request as ``bench --only card``
(``POST /api/v1/payments``, method card, a new Idempotency-Key, an allocation), sent N times to
the ASGI app in this process, one at a time, on a scratch PostgreSQL database. FastAPI's thread
pool is replaced by a direct call, so everything the server does for a payment runs in one
thread: process CPU per payment, SQL statements per payment, and a cProfile that sees all of it
(``--profile FILE``; read it with ``python -m pstats FILE``).

    PYTHONPATH=src .venv/bin/python -m bench.card_inprocess --payments 300

The figure excludes uvicorn, the load generator and GIL hand-offs between request threads; it is
the floor of the ``server`` CPU the HTTP bench reports (docs/performance.md, "Card payments").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
from sqlalchemy import Engine, event

from bench import card_bench, http_bench, pg
from revcycle.config import Settings
from revcycle.crypto import keyring
from revcycle.db import migrate

ASGIApp = Callable[..., Any]


async def _inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


async def _call(app: ASGIApp, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the request runs
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def run(url: str, payments: int, warmup: int, profile: str | None) -> dict[str, float]:
    from revcycle.app import create_app

    seeded = http_bench.seed(url)
    pairs = card_bench.seed_cards(url, seeded)
    app = create_app(Settings(database_url=url, rate_limit_payments_per_minute=0))
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(Engine, "before_cursor_execute", count)

    async def main() -> dict[str, float]:
        form = urllib.parse.urlencode(
            {"username": seeded.username, "password": seeded.password}
        ).encode()
        _, answer = await _call(
            app, "/api/v1/auth/token", form, {"content-type": "application/x-www-form-urlencoded"}
        )
        bearer = json.loads(answer)["access_token"]
        run_id = uuid.uuid4().hex[:8]

        async def pay(n: int) -> None:
            body = card_bench.payment_body(pairs, n)
            status, answer = await _call(
                app,
                "/api/v1/payments",
                body,
                {
                    "content-type": "application/json",
                    "authorization": f"Bearer {bearer}",
                    "idempotency-key": f"inproc-{run_id}-{n}",
                },
            )
            if status != 201:
                raise RuntimeError(f"payment {n}: {status} {answer[:300]!r}")

        for n in range(warmup):
            await pay(n)
        nonlocal statements
        statements = 0
        prof = cProfile.Profile() if profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if prof is not None:
            prof.enable()
        for n in range(warmup, warmup + payments):
            await pay(n)
        if prof is not None and profile:
            prof.disable()
            prof.dump_stats(profile)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {
            "payments": payments,
            "wall_ms_per_payment": round(1000 * wall / payments, 2),
            "cpu_ms_per_payment": round(1000 * cpu / payments, 2),
            "statements_per_payment": round(statements / payments, 1),
        }

    try:
        return asyncio.run(main())
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the measured run")
    parser.add_argument("--pg-url", default=pg.DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    # Scratch PHI keys for this run only, as ``python -m bench`` does.
    kid = keyring.new_key_id()
    os.environ["REVCYCLE_ENCRYPTION_KEYS"] = json.dumps({kid: keyring.new_key()})
    os.environ["REVCYCLE_ENCRYPTION_ACTIVE_KEY_ID"] = kid
    keyring.install(keyring.load_keyring(Settings()))
    # Sync endpoints and dependencies run inline instead of in the thread pool.
    for module in (fastapi.routing, fastapi.dependencies.utils):
        setattr(module, "run_in_threadpool", _inline)  # noqa: B010 - patched on purpose
    with pg.scratch_database(args.pg_url, "cardinproc") as url:
        migrate(url)
        result = run(url, args.payments, args.warmup, args.profile)
    print(
        f"card payments in process: {result['payments']} payments, "
        f"{result['cpu_ms_per_payment']:.2f} ms CPU and {result['wall_ms_per_payment']:.2f} ms "
        f"wall each, {result['statements_per_payment']:.1f} SQL statements each"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
