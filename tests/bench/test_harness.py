"""The benchmark harness: medians and same-run ratios from fixed runs, the markdown table written to
the results folder only, a missing scenario skipped, one real quick scenario writing valid JSON,
and a run stopped with SIGTERM stopping the services and the broker it started."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import report, run
from bench.scenarios import Limit, Ratio, Scenario

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = Scenario("demo", "bench.demo", "a fixed example",
                    ratios=(Ratio("ours_per_s", "ceiling_per_s", 0.5), Ratio("ours_per_s", "other_per_s")),
                    limits=(Limit("peak_rss_mb", 300.0), Limit("p99_s", 2.0)))
RUNS = [
    {"events": 10, "ours_per_s": 100.0, "ceiling_per_s": 400.0, "other_per_s": 50.0, "peak_rss_mb": 80.0, "p99_s": 3.0, "tls": "none"},
    {"events": 10, "ours_per_s": 300.0, "ceiling_per_s": 400.0, "other_per_s": None, "peak_rss_mb": 90.0, "p99_s": 1.0, "tls": "none"},
    {"events": 10, "ours_per_s": 200.0, "ceiling_per_s": 250.0, "other_per_s": 100.0, "peak_rss_mb": 400.0, "p99_s": 2.5, "tls": "none"},
]
MACHINE = {"date": "2026-01-02T03:04:05Z", "cores": 2, "memory_mb": 4096, "cpu": "Test CPU", "os": "Linux 6",
           "python": "3.11.7", "load_average_at_start": [1.5, 1.0, 0.5], "libraries": {"fastavro": "1.0"}}


def summary() -> dict:
    return report.summarize(SCENARIO, RUNS, params={"events": 10}, quick=True, machine=MACHINE, elapsed_s=1.23,
                            command="python -m bench.run --quick")


def test_figures_are_medians_and_ratios_are_taken_within_each_run():
    result = summary()
    assert result["figures"]["ours_per_s"] == 200.0
    assert result["figures"]["peak_rss_mb"] == 90.0
    assert result["figures"]["tls"] == "none"
    assert result["repeats"] == 3
    first, second = result["ratios"]
    # per run 0.25, 0.75, 0.8 -> median 0.75 (the ratio of the medians would be 0.5)
    assert (first["name"], first["ratio"], first["target_at_least"], first["met"]) == (
        "ours_per_s_over_ceiling_per_s", 0.75, 0.5, True)
    # a run without the ceiling is left out: 2.0 and 2.0
    assert (second["ratio"], second["met"]) == (2.0, None)
    assert [(l["figure"], l["value"], l["met"]) for l in result["limits"]] == [("peak_rss_mb", 90.0, True),
                                                                              ("p99_s", 2.5, False)]


def test_result_json_and_table(tmp_path):
    path = report.write_result(tmp_path, summary())
    data = json.loads(path.read_text())
    assert path.name == "demo.json"
    assert {"scenario", "date", "machine", "params", "repeats", "figures", "ratios", "limits", "runs"} <= set(data)
    table = report.render_table([data])
    assert "| demo | `ours_per_s` | 200 | `ceiling_per_s` | 400 | 0.75 | ≥ 0.5 | met |" in table
    assert "| demo | `p99_s` | 2.5 | | | | ≤ 2 | **missed** |" in table
    assert "| demo | 2026-01-02T03:04:05Z | quick | 3 | events=10 | 1.2 | 1.5 / 1.0 / 0.5 |" in table
    assert "Machine: 2 cores, 4,096 MB, Test CPU, Linux 6, Python 3.11.7; fastavro 1.0." in table
    assert "`events`" not in table  # counts without a unit are parameters, not figures


def test_the_table_goes_to_the_results_folder_only(tmp_path, capsys):
    """bench/results/README.md is the one place the figures live: the harness has no way to copy
    them into the project's README any more."""
    with pytest.raises(SystemExit):
        run.parse(["--update-readme"])
    assert "unrecognized arguments: --update-readme" in capsys.readouterr().err
    report.write_result(tmp_path, summary())
    path = report.write_table(tmp_path, [json.loads((tmp_path / "demo.json").read_text())])
    assert path == tmp_path / "README.md" and "(../../docs/performance.md)" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "demo.json"]


def test_a_missing_scenario_module_is_skipped_with_its_name():
    with pytest.raises(run.Skipped, match="bench/not_written_yet.py is not there yet"):
        run.load(Scenario("later", "bench.not_written_yet", "not yet"))


def test_an_unknown_scenario_name_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.main(["--scenario", "nope"])
    assert "unknown scenario nope" in capsys.readouterr().err


def test_a_quick_scenario_writes_valid_json_and_the_table(tmp_path):
    assert run.main(["--scenario", "webhooks", "--quick", "--repeats", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "webhooks.json").read_text())
    assert data["scenario"] == "webhooks" and data["quick"] and data["repeats"] == 1
    assert data["figures"]["provider_deliveries_per_s"] > 0
    assert data["figures"]["raw_aiohttp_deliveries_per_s"] > 0
    assert data["machine"]["cores"] >= 1 and data["machine"]["python"]
    assert "| webhooks | `provider_deliveries_per_s` |" in (tmp_path / "README.md").read_text()


def test_report_only_rewrites_the_table_from_json_on_disk(tmp_path):
    report.write_result(tmp_path, report.summarize(Scenario("router", "bench.router", "x", ratios=(
        Ratio("router_events_per_s", "codec_ceiling_events_per_s", 0.5),)), [{"router_events_per_s": 10.0,
        "codec_ceiling_events_per_s": 40.0}], params={}, quick=False, machine=MACHINE, elapsed_s=1, command="c"))
    assert run.main(["--report-only", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "README.md").read_text()
    assert "| router | `router_events_per_s` | 10 | `codec_ceiling_events_per_s` | 40 | 0.25 | ≥ 0.5 | **missed** |" in table


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc (ppid is the field after the command name)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    found, todo = set(), [pid]
    while todo:
        below = todo.pop()
        children = {child for child, parent in parents.items() if parent == below}
        todo += children - found
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_run_stopped_with_sigterm_stops_the_services_and_broker_it_started(tmp_path):
    bench = subprocess.Popen([sys.executable, "-m", "bench.run", "--scenario", "router", "--quick", "--repeats", "1",
                              "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, started = time.monotonic() + 120, set()
    while not any(b"run router" in _cmdline(pid) for pid in started):  # the router is up: its broker too
        assert bench.poll() is None, bench.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no router started"
        time.sleep(0.1)
        started = _descendants(bench.pid)
    seen = {pid: _cmdline(pid) for pid in started}
    bench.send_signal(signal.SIGTERM)
    try:
        assert bench.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while (left := [pid for pid in started if _alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"still running after the run stopped: {[_cmdline(pid) for pid in left]}"
    finally:  # nothing of a failed run is left behind for the tests after it (a pid reused meanwhile is spared)
        for pid, cmdline in seen.items():
            if _alive(pid) and _cmdline(pid) == cmdline:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""
