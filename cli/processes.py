"""Tidings services as child processes (`python -m cli.main run ...`), for the demo and the
benchmarks: start them, wait until each has joined its consumer group, stop them all."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cli.embedded import free_port
from consumer.settings import Settings

PIPELINE = (["run", "router"], ["run", "channel", "webhook"], ["run", "sink"])


def start_services(settings: Settings, workdir: Path, services=PIPELINE, **extra_env: str) -> list[subprocess.Popen]:
    env = {**os.environ,
           "TIDINGS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
           "TIDINGS_GROUP_PREFIX": settings.group_prefix,
           **({"TIDINGS_DATABASE_URL": settings.database_url} if settings.database_url else {}),
           **({"TIDINGS_WEBHOOK_ALLOWED_TARGETS": targets} if (targets := _webhook_targets(settings)) else {}),
           "TIDINGS_METRICS_HOST": "127.0.0.1",
           "TIDINGS_SESSION_TIMEOUT_MS": "6000",
           "TIDINGS_RETRY_TIERS": settings.retry_tiers,
           **extra_env}
    children = []
    for args in services:
        log = open(workdir / f"{'-'.join(args[1:])}.log", "wb")
        port = free_port()
        child = subprocess.Popen([sys.executable, "-m", "cli.main", *args],
                                 env={**env, "TIDINGS_METRICS_PORT": str(port)},
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        child.metrics_port = port
        children.append(child)
    return children


def wait_until_consuming(children: list[subprocess.Popen], timeout: float = 60) -> None:
    """Each service reports partitions on /healthz once it has joined its consumer group."""
    deadline = time.monotonic() + timeout
    for child in children:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{' '.join(child.args[3:])} exited with code {child.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{child.metrics_port}/healthz", timeout=2) as r:
                    if json.load(r).get("assigned_partitions"):
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("services did not join their consumer groups in time")
            time.sleep(0.1)


def stop_processes(children: list[subprocess.Popen], timeout: float = 15.0) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _webhook_targets(settings: Settings) -> str | None:
    from channels.webhook.settings import WebhookSettings
    return settings.section(WebhookSettings).webhook_allowed_targets
