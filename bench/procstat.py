"""CPU accounting from /proc (Linux): where the machine's cycles went during a measured window."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _proc_cpu(pid: int) -> tuple[int, float]:
    """(parent pid, user+system seconds) of one process, or (-1, 0) if it is gone."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return -1, 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state; ppid is fields[1]; utime, stime are fields[11], fields[12].
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and all its live descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pid = int(entry.name)
            ppid, secs = _proc_cpu(pid)
            if ppid >= 0:
                parents[pid] = ppid
                cpu[pid] = secs
    total = 0.0
    for pid in cpu:
        p = pid
        while p > 1:
            if p == root:
                total += cpu[pid]
                break
            p = parents.get(p, 0)
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds since boot, summed over all cores, from /proc/stat."""
    raw = _read("/proc/stat") or ""
    first = raw.splitlines()[0].split()[1:] if raw else []
    values = [int(v) for v in first[:8]]
    if not values:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values)
    return (total - idle) / _TICK, total / _TICK


@dataclass
class CpuSnapshot:
    server: float
    loadgen: float
    busy: float
    total: float


def snapshot(server_pid: int) -> CpuSnapshot:
    busy, total = machine_busy_seconds()
    return CpuSnapshot(
        server=tree_cpu_seconds(server_pid),
        loadgen=_proc_cpu(os.getpid())[1],
        busy=busy,
        total=total,
    )


def cpu_split(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> dict[str, float]:
    """CPU milliseconds per request: server processes, load generator, everything else (mostly
    PostgreSQL), plus machine utilisation over the window."""
    server = after.server - before.server
    loadgen = after.loadgen - before.loadgen
    busy = after.busy - before.busy
    total = after.total - before.total
    other = max(busy - server - loadgen, 0.0)
    n = max(requests, 1)
    return {
        "server_cpu_ms_per_req": round(1000 * server / n, 3),
        "loadgen_cpu_ms_per_req": round(1000 * loadgen / n, 3),
        "other_cpu_ms_per_req": round(1000 * other / n, 3),
        "machine_utilisation": round(busy / total, 3) if total else 0.0,
        "server_cpu_s": round(server, 2),
        "loadgen_cpu_s": round(loadgen, 2),
        "other_cpu_s": round(other, 2),
    }
