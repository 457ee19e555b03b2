"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams.

Each of N clients holds one keep-alive connection and sends the next request as soon as the
previous response is fully read. It only talks to 127.0.0.1, stops by itself after
warm-up + duration (in-flight requests finish, bounded by a per-request timeout), and costs
a few tens of microseconds of CPU per request (measured and reported with the results).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"


# The same bytes every time, or a fresh request per send (e.g. a new Idempotency-Key each).
Request = bytes | Callable[[], bytes]


class ProtocolError(Exception):
    pass


def build_request(
    method: str, path: str, port: int, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server wants to close) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ProtocolError(head[:40])
    status = int(head[9:12])
    lower = head.lower()
    closing = b"\r\nconnection: close" in lower
    i = lower.find(b"\r\ncontent-length:")
    if i >= 0:
        end = lower.index(b"\r\n", i + 2)
        body = await reader.readexactly(int(lower[i + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()
        closing = True
    return status, body, closing


@dataclass
class LoadResult:
    clients: int
    warmup_s: float
    duration_s: float
    # Requests that completed inside the measured window.
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    # Every response, warm-up and tail included (to reconcile with rows in the database).
    all_statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    window_s: float = 0.0
    sample_error_bodies: list[str] = field(default_factory=list)

    def ok_in_window(self, ok_status: int) -> int:
        return self.statuses[ok_status]

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        data = sorted(self.latencies_s)
        # nearest-rank percentile
        k = max(0, min(len(data) - 1, int(round(q / 100 * len(data) + 0.5)) - 1))
        return 1000 * data[k]


async def _client(
    port: int,
    request: Request,
    window_start: float,
    window_end: float,
    ok_status: int,
    timeout_s: float,
    result: LoadResult,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < window_end:
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(HOST, port), timeout_s
                    )
                except (OSError, TimeoutError) as exc:
                    result.errors[f"connect:{type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
            assert reader is not None
            t0 = time.perf_counter()
            try:
                writer.write(request() if callable(request) else request)
                status, body, closing = await asyncio.wait_for(read_response(reader), timeout_s)
            except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                writer.close()
                reader = writer = None
                continue
            t1 = time.perf_counter()
            result.all_statuses[status] += 1
            if window_start <= t1 <= window_end:
                result.statuses[status] += 1
                if status == ok_status:
                    result.latencies_s.append(t1 - t0)
            if status != ok_status and len(result.sample_error_bodies) < 5:
                result.sample_error_bodies.append(f"{status}: {body[:300]!r}")
            if closing:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _run(
    port: int,
    request: Request,
    *,
    clients: int,
    warmup_s: float,
    duration_s: float,
    ok_status: int,
    timeout_s: float,
    on_window_start: Callable[[], None] | None,
    on_window_end: Callable[[], None] | None,
) -> LoadResult:
    result = LoadResult(clients, warmup_s, duration_s)
    start = time.perf_counter()
    window_start = start + warmup_s
    window_end = window_start + duration_s

    async def marks() -> None:
        await asyncio.sleep(max(window_start - time.perf_counter(), 0))
        if on_window_start:
            on_window_start()
        await asyncio.sleep(max(window_end - time.perf_counter(), 0))
        if on_window_end:
            on_window_end()

    tasks = [
        asyncio.create_task(
            _client(port, request, window_start, window_end, ok_status, timeout_s, result)
        )
        for _ in range(clients)
    ]
    marker = asyncio.create_task(marks())
    # Hard bound: the window plus one request timeout; stragglers are cancelled.
    done, pending = await asyncio.wait(
        [*tasks, marker], timeout=warmup_s + duration_s + timeout_s + 5
    )
    for task in pending:
        task.cancel()
        result.errors["cancelled_at_deadline"] += 1
    for task in done:
        if task.exception() is not None:
            result.errors[type(task.exception()).__name__] += 1
    result.window_s = duration_s
    return result


def run_load(
    port: int,
    request: Request,
    *,
    clients: int,
    warmup_s: float,
    duration_s: float,
    ok_status: int,
    timeout_s: float = 30.0,
    on_window_start: Callable[[], None] | None = None,
    on_window_end: Callable[[], None] | None = None,
) -> LoadResult:
    """Run the closed loop and return what happened. uvloop is used when available."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(
            _run(
                port,
                request,
                clients=clients,
                warmup_s=warmup_s,
                duration_s=duration_s,
                ok_status=ok_status,
                timeout_s=timeout_s,
                on_window_start=on_window_start,
                on_window_end=on_window_end,
            )
        )
