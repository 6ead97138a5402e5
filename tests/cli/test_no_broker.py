"""The real `tidings` command line with no broker to talk to (a loopback port bound by the test but
not listening, so every connection is refused): a command prints one line naming the bootstrap
servers and exits 2, with no traceback and none of librdkafka's own lines; a service keeps
running, reports unhealthy and logs the Kafka client's lines through logging."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

NOTIFICATION = {"source": "billing", "channels": ["email"], "recipient": {"id": "user-42", "email": "ada@example.com"},
                "content": {"default": {"subject": "Invoice ready", "text": "Your invoice is ready."}}}


@pytest.fixture(scope="module")
def closed_port():
    """A port nobody listens on for the whole module (bound, never listening: connections refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def start(bootstrap: str, *args: str, **env: str) -> subprocess.Popen:
    environ = {key: value for key, value in os.environ.items() if key != "TIDINGS_LOG_LEVEL"}
    environ.update({"TIDINGS_BOOTSTRAP_SERVERS": bootstrap, **env})
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=environ, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_commands_say_in_one_line_that_the_broker_is_unreachable(closed_port, tmp_path):
    document = tmp_path / "one.json"
    document.write_text(json.dumps(NOTIFICATION))
    commands = {"topics create": ["topics", "create"], "topics list": ["topics", "list"],
                "publish": ["publish", str(document)]}
    running = {name: start(closed_port, *argv) for name, argv in commands.items()}  # in parallel: each waits
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 2, (name, process.returncode, err)
        assert err.splitlines() == [f"tidings: cannot reach the Kafka broker at {closed_port} (Connection refused)"], \
            (name, err)
        assert "rdkafka" not in err and "Traceback" not in err, name
        assert out == "", name


def test_at_debug_level_the_kafka_client_lines_go_through_logging(closed_port):
    process = start(closed_port, "topics", "list", TIDINGS_LOG_LEVEL="DEBUG")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    lines = err.splitlines()
    assert lines[-1] == f"tidings: cannot reach the Kafka broker at {closed_port} (Connection refused)"
    librdkafka = [line for line in lines if " librdkafka " in line]
    assert librdkafka and all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (ERROR|WARNING|INFO|DEBUG) librdkafka ", line)
                              for line in librdkafka), lines[:5]
    assert not any(line.startswith("%") for line in lines), "a line librdkafka printed by itself"


class Lines:
    """A child's stderr, read on a thread, so a test can wait for a line."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self._thread.join(timeout=30)

    def wait_for(self, pattern: str, deadline_s: float = 60.0) -> re.Match:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r} within {deadline_s}s: {self.lines[-20:]}")


def test_a_service_waits_reports_unhealthy_and_logs_through_logging(closed_port):
    process = start(closed_port, "run", "channel", "webhook", TIDINGS_METRICS_PORT="0", TIDINGS_LOG_LEVEL="INFO")
    try:
        stderr = Lines(process.stderr)
        port = int(stderr.wait_for(r"/metrics and /healthz on port (\d+)")[1])
        stderr.wait_for(r" (ERROR|WARNING) librdkafka .*Connection refused")
        deadline = time.monotonic() + 60
        while True:  # the stream consumer learns of the outage from its error callback
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
                answer = None
            except urllib.error.HTTPError as exc:
                answer = (exc.code, json.loads(exc.read()))
            if answer is not None and "broker" in answer[1]:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        assert answer[0] == 503 and answer[1]["status"] == "unhealthy"
        assert process.poll() is None, "the service exited instead of waiting for the broker"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        stderr.finish()
        assert not [line for line in stderr.lines if line.startswith("%")], "librdkafka printed by itself"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
