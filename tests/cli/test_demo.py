"""`tidings demo` with nothing configured: embedded broker and Postgres, the whole pipeline, one
JSON summary, and every process it started stopped afterwards (also on Ctrl-C)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MARKERS = ("tansu", "cli.main run", "tidings-pg-")


def our_processes() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(marker in cmdline for marker in MARKERS):
                found[int(entry.name)] = cmdline
    return found


def unconfigured_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("TIDINGS_BOOTSTRAP_SERVERS", "TIDINGS_DATABASE_URL")}


def leftovers(before: dict[int, str], deadline_s: float = 10) -> dict[int, str]:
    deadline = time.monotonic() + deadline_s
    while True:
        left = {pid: cmd for pid, cmd in our_processes().items() if pid not in before}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_demo_json_summary_and_clean_exit():
    before = our_processes()
    result = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--events", "200", "--json"],
                            capture_output=True, text=True, env=unconfigured_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert summary["published"] == 200 and summary["delivered"] == 200 and summary["failed"] == 0
    assert summary["received_distinct"] == 200
    assert summary["elapsed_s"] > 0
    assert leftovers(before) == {}


def test_demo_stops_everything_on_ctrl_c():
    before = our_processes()
    demo = subprocess.Popen([sys.executable, "-m", "cli.main", "demo", "--events", "200000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=unconfigured_env())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the services are running
        if sum("cli.main run" in cmd for pid, cmd in our_processes().items() if pid not in before) == 3:
            break
        time.sleep(0.2)
    else:
        demo.kill()
        raise AssertionError("the demo never started its services")
    time.sleep(2)
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=40)
    assert demo.returncode == 130
    assert leftovers(before) == {}
