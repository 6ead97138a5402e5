"""The router's Postgres connections (admission, directory, preferences, templates) reconnect after
an outage: with Postgres stopped mid-stream the router holds (503, naming postgres) instead of
exiting or dead-lettering, and once it is back every notification is delivered exactly once."""
from __future__ import annotations

import time

from tests.fixtures.processes import Services
from tests.pipeline import make_notifications, publish, wait_for_statuses
from tracking.migrate import migrate


def test_the_router_waits_out_a_postgres_outage_and_delivers_everything_once(settings, own_postgres,
                                                                             webhook_receiver, tmp_path):
    migrate(own_postgres.url)
    services = Services(settings.replace(database_url=own_postgres.url), tmp_path)
    try:
        router, _, sink = services.start_pipeline()
        before, during = make_notifications(100, webhook_receiver.url), make_notifications(100, webhook_receiver.url)
        publish(settings, before)
        webhook_receiver.wait_for(100, timeout=60)

        own_postgres.stop()
        publish(settings, during)
        held = None
        deadline = time.monotonic() + 60
        while held is None and time.monotonic() < deadline:
            assert router.process.poll() is None, f"the router exited:\n{router.log()}"
            status, body = router.get("/healthz")
            held = body if status == 503 and "postgres" in body else None
            time.sleep(0.2)
        assert held is not None, "the router never said it was waiting for Postgres"
        assert len(webhook_receiver.notification_ids()) == 100  # nothing routed while Postgres is down
        own_postgres.start()

        received = webhook_receiver.wait_for(200, timeout=120)
        assert set(received) == {n["id"] for n in before + during}
        assert all(count == 1 for count in received.values())
        wait_for_statuses(own_postgres.url, received, timeout=120)
        assert router.process.poll() is None and sink.process.poll() is None
        assert router.get("/healthz")[0] == 200
    finally:
        services.stop_all()
