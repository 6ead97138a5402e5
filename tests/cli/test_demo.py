"""`tidings demo` with nothing configured: embedded broker and Postgres, the whole pipeline, one
JSON summary, and every process it started stopped afterwards (also on Ctrl-C)."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

def processes_marked(mark: str) -> dict[int, str]:
    """Live processes whose environment carries `mark`: the demo and everything it started
    (environments are inherited), whoever their parent is now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() not in (entry / "environ").read_bytes():
                continue
            status = (entry / "stat").read_text().split()[2]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if status != "Z":  # a zombie has exited; it only waits for its parent to reap it
            found[int(entry.name)] = cmdline
    return found


def demo_env(mark: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TIDINGS_BOOTSTRAP_SERVERS", "TIDINGS_DATABASE_URL")}
    return {**env, "TIDINGS_TEST_DEMO_MARK": mark}


def leftovers(mark: str, deadline_s: float = 10) -> dict[int, str]:
    deadline = time.monotonic() + deadline_s
    while (left := processes_marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_demo_json_summary_and_clean_exit():
    mark = uuid.uuid4().hex
    result = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--events", "200", "--json"],
                            capture_output=True, text=True, env=demo_env(mark), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert summary["published"] == 200 and summary["delivered"] == 200 and summary["failed"] == 0
    assert summary["received_distinct"] == 200
    assert summary["elapsed_s"] > 0
    assert leftovers(mark) == {}


def test_demo_stops_everything_on_ctrl_c():
    mark = uuid.uuid4().hex
    demo = subprocess.Popen([sys.executable, "-m", "cli.main", "demo", "--events", "200000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=demo_env(mark))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the services are running
        running = processes_marked(mark).values()
        if sum("cli.main run" in cmd for cmd in running) == 3 and any("tansu" in cmd for cmd in running):
            break
        time.sleep(0.2)
    else:
        demo.kill()
        raise AssertionError("the demo never started its services")
    time.sleep(2)
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=40)
    assert demo.returncode == 130, demo.stderr.read()[-3000:]
    assert leftovers(mark) == {}
