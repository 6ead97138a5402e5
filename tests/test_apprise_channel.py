"""The Apprise channel end to end: router, `tidings run channel apprise` and sink as processes, fakes
of Gotify and ntfy on loopback reached through Apprise URLs. Notifications are delivered and recorded
`sent`; a URL of a scheme outside `TIDINGS_APPRISE_SCHEMES` is dead-lettered at once as
`scheme_not_allowed` with nothing sent, and the one behind it on the same key is still delivered."""
from __future__ import annotations

import psycopg
import pytest

from tests.fixtures.apprise import GOTIFY_TOKEN, LOOPBACK_ENV, FakeGotify, FakeNtfy
from tests.pipeline import make_notifications, publish, wait_for_statuses


@pytest.fixture
def gotify():
    server = FakeGotify()
    yield server
    server.close()


@pytest.fixture
def ntfy():
    server = FakeNtfy()
    yield server
    server.close()


def apprise_notifications(count: int, address: str) -> list[dict]:
    notifications = make_notifications(count, address, channels=("apprise",))
    for n in notifications:
        n["recipient"]["addresses"] = {"apprise": address}
        n["recipient"]["webhook_url"] = None
        n["content"] = {"apprise": {"template": None, "subject": "Deploy finished", "text": "api is live",
                                    "html": None, "options": "{}"}}
    return notifications


def test_notifications_reach_services_through_apprise_and_refusals_are_dead_lettered(pipeline, services, gotify,
                                                                                      ntfy):
    services.start_pipeline("apprise", **{**LOOPBACK_ENV, "TIDINGS_APPRISE_SCHEMES": "gotify, ntfy"})

    to_gotify = apprise_notifications(2, gotify.url())
    to_ntfy = apprise_notifications(1, ntfy.url("deploys"))
    generic, behind = apprise_notifications(2, "json://" + gotify.base.removeprefix("http://") + "/message")
    behind["recipient"]["addresses"] = {"apprise": gotify.url()}
    for n in (generic, behind):
        n["recipient"]["id"] = "same-key"  # one partition: the second waits behind the first
    publish(pipeline, [*to_gotify, *to_ntfy, generic, behind])

    wait_for_statuses(pipeline.database_url, [n["id"] for n in (*to_gotify, *to_ntfy, behind)], timeout=120)
    wait_for_statuses(pipeline.database_url, [generic["id"]], statuses=("dead_lettered",), timeout=60)
    with psycopg.connect(pipeline.database_url) as conn:
        refused = conn.execute("SELECT provider, status, error_class, error_message FROM deliveries"
                               " WHERE notification_id = %s", [generic["id"]]).fetchall()
        sent = conn.execute("SELECT DISTINCT provider FROM deliveries WHERE notification_id = %s",
                            [behind["id"]]).fetchall()
    [(provider, status, error_class, error_message)] = refused
    assert (provider, status, error_class) == ("apprise", "dead_lettered", "scheme_not_allowed")
    assert error_message.startswith("json://") and sent == [("apprise",)]
    assert [(m["title"], m["message"]) for m in gotify.received] == [("Deploy finished", "api is live")] * 3
    assert ntfy.received == [{"topic": "deploys", "title": "Deploy finished", "message": "api is live",
                              "priority": None}]
    assert gotify.requests == 3 and GOTIFY_TOKEN not in error_message  # the json:// URL was never sent
