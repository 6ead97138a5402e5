"""py-spy profiles of service processes over a phase of a benchmark, saved beside its results as
flame graphs (<out>/profiles/<scenario>-<service>.svg). py-spy comes with the `bench` extra; without
it, or where the kernel refuses ptrace, the phase runs unprofiled and says so."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path


class Profiles:
    def __init__(self, out: Path, scenario: str, pids: dict[str, int], rate_hz: int = 100):
        self.directory = out / "profiles"
        self.scenario = scenario
        self.pids = pids
        self.rate_hz = rate_hz
        self.recorders: list[subprocess.Popen] = []
        self.paths: list[Path] = []

    def __enter__(self) -> "Profiles":
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            print("bench: py-spy is not installed (pip install -e '.[bench]'): no profiles", file=sys.stderr)
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            path = self.directory / f"{self.scenario}-{name}.svg"
            # Stopped with SIGINT at the end of the phase (py-spy then writes the graph); --nonblocking
            # so the sampled process never pauses for a sample.
            self.recorders.append(subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--rate", str(self.rate_hz), "--nonblocking",
                 "--output", str(path), "--format", "flamegraph"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            self.paths.append(path)
        return self

    def __exit__(self, *exc) -> None:
        for recorder in self.recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder, path in zip(self.recorders, self.paths):
            try:
                _, err = recorder.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                err = b"timed out writing"
            if not path.exists():
                print(f"bench: no profile {path.name}: {err.decode(errors='replace').strip()[-300:]}", file=sys.stderr)
