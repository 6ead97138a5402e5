"""410 Gone disables an endpoint in Postgres for every worker; `tidings endpoints enable URL`
turns it back on without a restart. A real receiver on loopback and a real Postgres."""
from __future__ import annotations

import asyncio
import json

import psycopg
from aiohttp import web

from channels.webhook.provider import WebhookProvider
from consumer.outcomes import Delivered, Permanent, Suppressed
from consumer.settings import Settings
from tests.channels.test_webhook_provider import Receiver, message, serving
from tests.cli.run import tidings
from tracking.migrate import migrate


def test_410_disables_the_endpoint_for_every_worker_until_enabled(database_url):
    migrate(database_url)
    settings = Settings(database_url=database_url, webhook_allowed_targets="127.0.0.1",
                        webhook_endpoints_refresh_s=0.2, webhook_timeout_s=5.0)

    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: (web.Response(status=410, text="unsubscribed")
                                           if request.path == "/gone" else web.json_response({"ok": True}))
        async with serving(receiver) as url:
            first, second = WebhookProvider(settings), WebhookProvider(settings)
            await first.start()
            try:
                gone = await first.send(message(f"{url}/gone"))
                await second.start()  # another worker, started after the 410: reads the table
                again = [await p.send(message(f"{url}/gone")) for p in (first, second)]
                other = await first.send(message(f"{url}/fine"))
                listed = await asyncio.to_thread(tidings, settings, "endpoints", "list", "--json")
                enabled = await asyncio.to_thread(tidings, settings, "endpoints", "enable", f"{url}/gone")
                twice = await asyncio.to_thread(tidings, settings, "endpoints", "enable", f"{url}/gone")
                receiver.answer = lambda request: web.json_response({"ok": True})
                await asyncio.sleep(1.0)  # several refresh rounds
                back = await second.send(message(f"{url}/gone"))
            finally:
                await first.close()
                await second.close()
            return url, gone, again, other, listed, enabled, twice, back, receiver.requests

    url, gone, again, other, listed, enabled, twice, back, requests = asyncio.run(scenario())
    assert isinstance(gone, Permanent) and gone.error_class == "endpoint_gone" and gone.status_code == 410
    assert [(type(o), o.reason) for o in again] == [(Suppressed, "endpoint_disabled")] * 2
    assert isinstance(other, Delivered)  # only that URL is disabled
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["url"], r["status_code"], r["reason"]) for r in rows] == [(f"{url}/gone", 410, "unsubscribed")]
    assert enabled.returncode == 0 and "deliver to it again" in enabled.stdout
    assert twice.returncode == 1 and "is not disabled" in twice.stderr
    assert isinstance(back, Delivered)
    # The receiver saw: the 410, the other URL, and the delivery after enabling; nothing in between.
    assert [r["path"] for r in requests] == ["/gone", "/fine", "/gone"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM disabled_webhook_endpoints").fetchone()[0] == 0


def test_without_a_database_the_worker_remembers_on_its_own():
    async def scenario():
        receiver = Receiver()
        receiver.answer = lambda request: web.Response(status=410)
        async with serving(receiver) as url:
            provider = WebhookProvider(Settings(webhook_allowed_targets="127.0.0.1", webhook_timeout_s=5.0))
            await provider.start()
            try:
                return [await provider.send(message(f"{url}/x")) for _ in range(3)], receiver.requests
            finally:
                await provider.close()

    outcomes, requests = asyncio.run(scenario())
    assert [getattr(o, "error_class", None) or o.reason for o in outcomes] == [
        "endpoint_gone", "endpoint_disabled", "endpoint_disabled"]
    assert isinstance(outcomes[1], Suppressed) and len(requests) == 1
