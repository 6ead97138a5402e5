"""Real Prometheus and Alertmanager on loopback for the alerting-path tests, run from temp copies of
the shipped deploy/ files with only addresses, secrets and intervals changed."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from cli.embedded import free_port
from tests.deploy.conftest import DEPLOY

# Seconds, not minutes: what the rules say and how they are routed is under test, not their timing
# (the `for` durations have their promtool unit tests in alerts.test.yml).
FAST_FOR = "1s"


class Server:
    """One child process with a log file, ready once GET /-/ready answers 200."""

    def __init__(self, argv: list[str], port: int, log_path: Path):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"{argv[0]} exited:\n{self.log()}"
            try:
                with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{argv[0]} not ready in 60 s:\n{self.log()}"
            time.sleep(0.1)

    def get(self, path: str, **query: str) -> dict:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_alertmanager(binary: str, workdir: Path, gateway_url: str, token: str) -> Server:
    """deploy/alertmanager/alertmanager.yml with its Tidings receiver pointed at `gateway_url`,
    its secrets in files of `workdir`, short group timers, and e-mail to a closed loopback port."""
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    (workdir / "tidings-gateway-token").write_text(token)
    (workdir / "smtp-password").write_text("unused")
    config["global"].update(smtp_smarthost=f"127.0.0.1:{free_port()}",
                            smtp_auth_password_file=str(workdir / "smtp-password"))
    config["route"].update(group_wait="1s", group_interval="2s")
    (tidings,) = [r for r in config["receivers"] if r["name"] == "tidings"]
    for webhook in tidings["webhook_configs"]:
        path = urllib.parse.urlsplit(webhook["url"]).path
        webhook["url"] = gateway_url + path
        webhook["http_config"]["authorization"]["credentials_file"] = str(workdir / "tidings-gateway-token")
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    (workdir / "alertmanager-data").mkdir()
    return Server([binary, f"--config.file={workdir / 'alertmanager.yml'}",
                   f"--storage.path={workdir / 'alertmanager-data'}", f"--web.listen-address=127.0.0.1:{port}",
                   "--cluster.listen-address=", "--log.level=debug"], port, workdir / "alertmanager.log")


def start_prometheus(binary: str, workdir: Path, targets: dict[str, str], alertmanager: Server) -> Server:
    """deploy/prometheus/prometheus.yml and alerts.yml with the compose targets in `targets`
    (compose address -> loopback address; the others dropped), 1 s scrapes and evaluations, and
    every alert's `for` shortened to FAST_FOR."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]
    shipped = {t for job in config["scrape_configs"] for static in job["static_configs"] for t in static["targets"]}
    assert set(targets) <= shipped, f"prometheus.yml does not scrape {set(targets) - shipped}"
    port = free_port()
    targets = {**targets, "localhost:9090": f"127.0.0.1:{port}"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{**static, "targets": [targets[t] for t in static["targets"] if t in targets]}
                                 for static in job["static_configs"] if set(static["targets"]) & set(targets)]
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["static_configs"]]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    (workdir / "alerts.yml").write_text(re.sub(r"(?m)^(\s+for:) \S+$", rf"\1 {FAST_FOR}", rules))
    (workdir / "prometheus-data").mkdir()
    return Server([binary, f"--config.file={workdir / 'prometheus.yml'}",
                   f"--storage.tsdb.path={workdir / 'prometheus-data'}", f"--web.listen-address=127.0.0.1:{port}"],
                  port, workdir / "prometheus.log")
