"""The HTTP baseline: the least a Python ASGI service can do per write request.

``POST /`` (any path) reads the request body, runs ONE ``INSERT ... RETURNING id`` into
``bench_baseline`` and commits, then answers ``201 {"id": n}``. ``GET /healthz`` answers 200.

It is deliberately a *typical* sync-driver service, built like the real app so the comparison
measures revcycle's own work, not a different architecture:

* pure ASGI (no framework), served by the same uvicorn command line and worker count;
* the blocking psycopg 3 call runs in anyio's worker-thread pool, exactly where FastAPI runs the
  app's ``def`` endpoints (same default limit of 40 threads);
* a connection pool per worker process as large as the app's (SQLAlchemy pool_size 10 +
  max_overflow 10 = 20), opened lazily and then kept, like ``psycopg_pool.ConnectionPool`` with
  ``max_size=20``; same session options (``synchronous_commit=on``, UTC). (Closing overflow
  connections on return, as QueuePool does, made the baseline reconnect ~100 times a second under
  this load: a handicap for the baseline, so it was not kept.);
* no pre-ping, no ORM, no validation, no auth: that is what "baseline" means.

Configured by environment: ``BENCH_BASELINE_DSN`` (libpq URL), ``BENCH_BASELINE_POOL_SIZE``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import Any

import psycopg
from anyio import to_thread

CONNECT_OPTIONS = "-c synchronous_commit=on -c timezone=UTC"
INSERT = "INSERT INTO bench_baseline (payload) VALUES (%s) RETURNING id"
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_baseline ("
    "id bigserial PRIMARY KEY, payload text NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now())"
)


class ConnectionPool:
    """Up to ``max_size`` connections, opened on demand and kept; FIFO reuse."""

    def __init__(self, dsn: str, max_size: int, timeout_s: float = 30.0) -> None:
        self.dsn = dsn
        self.timeout_s = timeout_s
        self._idle: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        self._slots = threading.BoundedSemaphore(max_size)

    def get(self) -> psycopg.Connection[Any]:
        if not self._slots.acquire(timeout=self.timeout_s):
            raise TimeoutError("connection pool exhausted")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            try:
                return psycopg.connect(self.dsn, options=CONNECT_OPTIONS)
            except BaseException:
                self._slots.release()
                raise

    def put(self, conn: psycopg.Connection[Any], *, broken: bool = False) -> None:
        try:
            if broken or conn.closed:
                conn.close()
            else:
                self._idle.put(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _insert(pool: ConnectionPool, payload: str) -> int:
    conn = pool.get()
    try:
        with conn.cursor() as cur:
            cur.execute(INSERT, (payload,))
            row = cur.fetchone()
        conn.commit()
    except BaseException:
        pool.put(conn, broken=True)
        raise
    pool.put(conn)
    assert row is not None
    return int(row[0])


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app() -> Any:
    dsn = os.environ["BENCH_BASELINE_DSN"]
    # The app's engine: pool_size=db_pool_size (10) and max_overflow=db_pool_size -> 20.
    pool = ConnectionPool(dsn, max_size=2 * int(os.environ.get("BENCH_BASELINE_POOL_SIZE", "10")))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET" and scope["path"] == "/healthz":
            await _respond(send, 200, {"status": "ok"})
            return
        if scope["method"] != "POST":
            await _respond(send, 405, {"detail": "method not allowed"})
            return
        body = await _read_body(receive)
        new_id = await to_thread.run_sync(_insert, pool, body.decode("utf-8", "replace"))
        await _respond(send, 201, {"id": new_id})

    return app
