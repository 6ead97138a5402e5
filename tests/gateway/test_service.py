"""`tidings run gateway` as a real process (ready when the broker and Postgres answer, /metrics,
a clean exit 0 on SIGTERM) and `tidings gateway openapi` with no broker and no database."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from cli.embedded import free_port
from tests.cli.run import tidings
from tests.gateway.conftest import SECRET, make_token
from tests.gateway.test_notifications import ONE


def test_run_gateway_serves_until_sigterm(pipeline, tmp_path):
    port = free_port()
    env = {**os.environ, "TIDINGS_BOOTSTRAP_SERVERS": pipeline.bootstrap_servers,
           "TIDINGS_TOPIC_PREFIX": pipeline.topic_prefix, "TIDINGS_DATABASE_URL": pipeline.database_url,
           "TIDINGS_GATEWAY_HOST": "127.0.0.1", "TIDINGS_GATEWAY_PORT": str(port),
           "TIDINGS_GATEWAY_JWT_SECRET": SECRET, "TIDINGS_GATEWAY_JWT_ISSUER": "https://issuer.test",
           "TIDINGS_GATEWAY_JWT_AUDIENCE": "tidings"}
    log = open(tmp_path / "gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "gateway"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gateway.log").read_text()
            time.sleep(0.2)
        assert ready.json() == {"status": "ready", "broker": "ok", "postgres": "ok"}
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        posted = httpx.post(f"{base}/v1/notifications", json=ONE,
                            headers={"Authorization": f"Bearer {make_token()}"}, timeout=60)
        assert posted.status_code == 202, posted.text
        metrics = httpx.get(f"{base}/metrics").text
        assert 'tidings_gateway_notifications_published_total{origin="api",priority="high"} 1.0' in metrics
        assert 'tidings_gateway_requests_total{method="POST",route="/v1/notifications",status="202"} 1.0' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Application shutdown complete" in (tmp_path / "gateway.log").read_text()


def test_gateway_refuses_bad_settings_by_name(pipeline):
    result = tidings(pipeline, "run", "gateway", TIDINGS_GATEWAY_RATE_LIMIT="many")
    assert result.returncode == 2 and "TIDINGS_GATEWAY_RATE_LIMIT" in result.stderr
    result = tidings(pipeline, "run", "gateway", TIDINGS_GATEWAY_JWT_SECRET="short")
    assert result.returncode == 2 and "TIDINGS_GATEWAY_JWT_SECRET" in result.stderr and "short" not in result.stderr
    result = tidings(None, "run", "gateway", TIDINGS_DATABASE_URL="")
    assert result.returncode == 2 and "TIDINGS_DATABASE_URL" in result.stderr


def test_openapi_needs_no_broker_or_database():
    result = tidings(None, "gateway", "openapi", TIDINGS_BOOTSTRAP_SERVERS="127.0.0.1:1", TIDINGS_DATABASE_URL="")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["openapi"].startswith("3.")
    for path in ("/v1/notifications", "/v1/notifications/{notification_id}", "/v1/stats", "/v1/templates",
                 "/v1/recipients/{recipient_id}/preferences", "/v1/dlq", "/v1/dlq/replay", "/v1/alertmanager",
                 "/v1/unsubscribe", "/healthz", "/readyz", "/metrics"):
        assert path in document["paths"], path
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_readyz_says_what_is_unreachable(start_gateway):
    gateway = start_gateway(bootstrap_servers=f"127.0.0.1:{free_port()}")
    ready = gateway.request("GET", "/readyz")
    assert ready.status_code == 503
    assert ready.json()["postgres"] == "ok" and ready.json()["broker"].startswith("unreachable")
