"""promtool and amtool, and the Prometheus and Alertmanager servers, for the deploy tests,
installed from Debian's `prometheus` and `prometheus-alertmanager` packages when missing
(TESTING.md), so a fresh CI machine gets them."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOOLS = {"promtool": "prometheus", "amtool": "prometheus-alertmanager",
         "prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}


def _apt_install(packages: list[str]) -> str:
    """Install with apt-get (as root, or through sudo); returns its output for the error message."""
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None or shutil.which("apt-get") is None:
        return "apt-get (as root or with sudo) is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    with open("/tmp/tidings-tests-apt.lock", "w") as lock:  # test workers run in parallel
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(shutil.which(tool) for tool, package in TOOLS.items() if package in packages):
            return "installed by another test worker"
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run([*prefix, "apt-get", "update", "-qq"], capture_output=True, env=env)
            result = subprocess.run(install, capture_output=True, text=True, env=env)
    return result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture(scope="session")
def prom_tools() -> dict[str, str]:
    """Paths of promtool, amtool and the two servers; fails (never skips) when they cannot be had."""
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    output = _apt_install(missing) if missing else ""
    paths = {tool: shutil.which(tool) for tool in TOOLS}
    absent = [tool for tool, path in paths.items() if path is None]
    if absent:
        pytest.fail(f"{', '.join(absent)} not found and could not be installed "
                    f"(apt-get install {' '.join(sorted({TOOLS[t] for t in absent}))}): {output}")
    return paths


def gateway_environment() -> dict[str, str]:
    """The gateway's environment in docker-compose.yml as Compose gives it with nothing set
    (`${NAME:-default}` is its default)."""
    import re

    import yaml

    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["gateway"]["environment"]
    return {name: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", str(value)) for name, value in environment.items()}


def run_tool(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)
