"""Start and stop uvicorn servers as subprocesses, with one identical command line for both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import HOST

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def uvicorn_command(app_factory: str, port: int, workers: int) -> list[str]:
    """THE server command line; the app and the baseline differ only in ``app_factory``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app_factory,
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    command: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(
    name: str, app_factory: str, *, workers: int, env: dict[str, str], log_dir: Path
) -> Server:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-server.log"
    command = uvicorn_command(app_factory, port, workers)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, by our pid
        )
    server = Server(name, process, port, log_path, command)
    try:
        _wait_ready(server, workers)
    except BaseException:
        stop(server)
        raise
    return server


def _wait_ready(server: Server, workers: int, timeout_s: float = 60.0) -> None:
    """Ready = /healthz answers and every worker logged 'Application startup complete'."""
    deadline = time.monotonic() + timeout_s
    url = f"http://{HOST}:{server.port}/healthz"
    healthy = False
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited early:\n{server.log_tail()}")
        if not healthy:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - 127.0.0.1
                    healthy = resp.status == 200
            except (urllib.error.URLError, OSError):
                pass
        if healthy:
            started = server.log_path.read_text(errors="replace").count(
                "Application startup complete"
            )
            if started >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} server not ready in {timeout_s}s:\n{server.log_tail()}")


def stop(server: Server, timeout_s: float = 20.0) -> None:
    """SIGTERM our uvicorn supervisor (it stops its workers); SIGKILL its group if it hangs."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)
