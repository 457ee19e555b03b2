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


def _proc_stat(pid: int) -> tuple[str, int, float]:
    """(command name, parent pid, user+system seconds) of one process; ppid -1 if it is gone."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return "", -1, 0.0
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state; ppid is fields[1]; utime, stime are fields[11], fields[12].
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _proc_cpu(pid: int) -> tuple[int, float]:
    _, ppid, secs = _proc_stat(pid)
    return ppid, secs


def process_cpu(root: int) -> tuple[float, float]:
    """(CPU seconds of ``root`` and its live descendants, CPU seconds of live PostgreSQL
    processes). A process that exits takes its counts with it; pooled connections do not."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    postgres = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pid = int(entry.name)
            comm, ppid, secs = _proc_stat(pid)
            if ppid >= 0:
                parents[pid] = ppid
                cpu[pid] = secs
                if comm == "postgres":
                    postgres += secs
    total = 0.0
    for pid in cpu:
        p = pid
        while p > 1:
            if p == root:
                total += cpu[pid]
                break
            p = parents.get(p, 0)
    return total, postgres


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
    postgres: float
    loadgen: float
    busy: float
    total: float


def snapshot(server_pid: int) -> CpuSnapshot:
    busy, total = machine_busy_seconds()
    server, postgres = process_cpu(server_pid)
    return CpuSnapshot(
        server=server,
        postgres=postgres,
        loadgen=_proc_cpu(os.getpid())[1],
        busy=busy,
        total=total,
    )


def cpu_split(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> dict[str, float]:
    """CPU milliseconds per request: server processes, PostgreSQL, the load generator; and
    "other" = the machine's busy time not explained by those (kernel softirq, other programs:
    a large value means the run was disturbed)."""
    server = after.server - before.server
    postgres = after.postgres - before.postgres
    loadgen = after.loadgen - before.loadgen
    busy = after.busy - before.busy
    total = after.total - before.total
    other = max(busy - server - postgres - loadgen, 0.0)
    n = max(requests, 1)
    return {
        "server_cpu_ms_per_req": round(1000 * server / n, 3),
        "postgres_cpu_ms_per_req": round(1000 * postgres / n, 3),
        "loadgen_cpu_ms_per_req": round(1000 * loadgen / n, 3),
        "other_cpu_ms_per_req": round(1000 * other / n, 3),
        "machine_utilisation": round(busy / total, 3) if total else 0.0,
        "server_cpu_s": round(server, 2),
        "postgres_cpu_s": round(postgres, 2),
        "loadgen_cpu_s": round(loadgen, 2),
        "other_cpu_s": round(other, 2),
    }


def background_busy(seconds: float = 1.0) -> float:
    """Fraction of the machine busy while we do nothing: other load would skew the results."""
    import time

    b0, t0 = machine_busy_seconds()
    time.sleep(seconds)
    b1, t1 = machine_busy_seconds()
    return round((b1 - b0) / (t1 - t0), 3) if t1 > t0 else 0.0


def quiet_check(label: str, limit: float = 0.10) -> float:
    busy = background_busy()
    if busy > limit:
        print(
            f"[{label}] WARNING: the machine is already {100 * busy:.0f}% busy before the run; "
            "other processes will skew these figures"
        )
    return busy
