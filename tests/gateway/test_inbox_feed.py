"""The inbox end to end: notifications published to Kafka reach the recipient's inbox through the
inapp worker, the feed API lists, counts and marks them for that recipient only, and seen/read/
archived are recorded in the delivery log."""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest

from tests.gateway.inbox import Feed, feed_token, inbox_notification
from tests.pipeline import wait_for_statuses
from tests.records import wait_for_events


def test_an_item_is_listed_counted_marked_and_recorded(inbox, pipeline):
    gateway, publish = inbox
    note = inbox_notification("ada", title="Your <b>report</b>",
                              text="**Done**: see [it](https://example.com/r/1) <script>alert(1)</script> "
                                   "[bad](javascript:alert(1))", format="markdown",
                              action_url="https://example.com/r/1", data={"report": 1})
    publish([note])
    wait_for_statuses(pipeline.database_url, [note["id"]])
    gateway.clock.now = datetime.now(timezone.utc)  # the gateway's clock stands still in tests
    ada = Feed(gateway.base, feed_token("ada"))

    [item] = ada.items()["items"]
    assert (item["title"], item["action_url"], item["data"], item["category"]) == (
        "Your <b>report</b>", "https://example.com/r/1", {"report": 1}, "deploys")
    assert item["notification_id"] == note["id"] and item["read_at"] is None and item["seen_at"] is None
    assert "<strong>Done</strong>" in item["body_html"] and '<a href="https://example.com/r/1">' in item["body_html"]
    # Raw HTML is shown as text, a script link is not a link.
    assert "<script>" not in item["body_html"] and "&lt;script&gt;" in item["body_html"]
    assert 'href="javascript' not in item["body_html"].replace(" ", "").lower()
    assert ada.counts() == {"unread": 1, "unseen": 1}

    seen = ada.mark(item["id"], "seen").json()
    assert seen["seen_at"] and seen["read_at"] is None and ada.counts() == {"unread": 1, "unseen": 0}
    read = ada.mark(item["id"], "read")
    assert read.status_code == 200 and read.json()["read_at"]
    assert ada.counts() == {"unread": 0, "unseen": 0}
    assert ada.items(unread="true")["items"] == [] and len(ada.items(unread="false")["items"]) == 1
    # The read is a DeliveryEvent after `sent`, shown by `tidings status`.
    events = wait_for_events(pipeline.database_url, note["id"], "read")
    assert [e[0] for e in events][-3:] == ["sent", "seen", "read"]
    assert ada.mark(item["id"], "unread").json()["read_at"] is None and ada.counts()["unread"] == 1
    gateway.clock.advance(1)
    assert ada.mark(item["id"], "read").status_code == 200  # read again: a second read event
    wait_for_events(pipeline.database_url, note["id"], "read", count=2)

    archived = ada.mark(item["id"], "archived").json()
    assert archived["archived_at"] and ada.items()["items"] == []
    assert [i["id"] for i in ada.items(archived="true")["items"]] == [item["id"]]
    wait_for_events(pipeline.database_url, note["id"], "archived")
    metrics = gateway.http.get("/metrics").text
    assert 'tidings_inbox_marks_total{state="read"} 2.0' in metrics


def test_pages_filters_and_mark_all(inbox, pipeline):
    gateway, publish = inbox
    notes = [inbox_notification("bo", title=f"n{i}", category="billing" if i % 3 == 0 else "deploys") for i in range(7)]
    publish(notes)
    wait_for_statuses(pipeline.database_url, [n["id"] for n in notes])
    bo = Feed(gateway.base, feed_token("bo"))
    first = bo.items(limit=3)
    second = bo.items(limit=3, cursor=first["next_cursor"])
    third = bo.items(limit=3, cursor=second["next_cursor"])
    pages = first["items"] + second["items"] + third["items"]
    assert third["next_cursor"] is None and len(pages) == 7 and len({i["id"] for i in pages}) == 7
    assert [i["seq"] for i in pages] == sorted((i["seq"] for i in pages), reverse=True)  # newest first
    assert {i["title"] for i in bo.items(category="billing")["items"]} == {"n0", "n3", "n6"}
    assert bo.mark_all("seen").json() == {"changed": 7} and bo.counts() == {"unread": 7, "unseen": 0}
    assert bo.mark_all("read").json() == {"changed": 7} and bo.counts() == {"unread": 0, "unseen": 0}
    assert bo.mark_all("read").json() == {"changed": 0}  # nothing left to change, nothing recorded twice
    for note in notes:
        wait_for_events(pipeline.database_url, note["id"], "read")
    assert bo.mark_all("unread").status_code == 404
    # The same notification again (a producer's retry, a replay), then a marker behind it on the same
    # key: once the marker is in, the redone one was handled, and it made no second item.
    marker = inbox_notification("bo", title="marker")
    publish([notes[0], marker])
    wait_for_statuses(pipeline.database_url, [marker["id"]])
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM inbox_items WHERE notification_id = %s",
                            [notes[0]["id"]]).fetchone()[0] == 1
    assert len(bo.items(limit=50)["items"]) == 8
    assert bo.http.get("/v1/inbox/items", params={"cursor": "x"}).status_code == 422


def test_a_recipient_never_reads_or_changes_another_recipients_or_tenants_items(inbox, pipeline):
    gateway, publish = inbox
    mine, theirs, other_tenant = (inbox_notification("cy"), inbox_notification("dee"),
                                  inbox_notification("cy", tenant="globex"))
    publish([mine, theirs, other_tenant])
    wait_for_statuses(pipeline.database_url, [mine["id"], theirs["id"], other_tenant["id"]])
    cy, dee = Feed(gateway.base, feed_token("cy")), Feed(gateway.base, feed_token("dee"))
    cy_at_globex = Feed(gateway.base, feed_token("cy", tenant="globex"))
    [cy_item], [dee_item] = cy.items()["items"], dee.items()["items"]
    [globex_item] = cy_at_globex.items()["items"]
    assert globex_item["id"] not in (cy_item["id"], dee_item["id"])

    for state in ("seen", "read", "archived"):
        assert cy.mark(dee_item["id"], state).status_code == 404
        assert cy.mark(globex_item["id"], state).status_code == 404
    cy.mark_all("read")
    assert dee.counts()["unread"] == 1 and cy_at_globex.counts()["unread"] == 1
    # Tokens that do not open an inbox: signed with another tenant's key, no key, expired, too long-lived.
    forged = Feed(gateway.base, feed_token("dee", tenant="acme", key="globex-inbox-key-with-at-least-32-bytes"))
    unknown = Feed(gateway.base, feed_token("dee", tenant="initech", key="x" * 40))
    expired = Feed(gateway.base, feed_token("dee", lifetime_s=-120))
    forever = Feed(gateway.base, feed_token("dee", lifetime_s=365 * 86400))
    for feed in (forged, unknown, expired, forever):
        answer = feed.http.get("/v1/inbox/items")
        assert answer.status_code == 401, answer.text
        assert feed.http.post(f"/v1/inbox/items/{dee_item['id']}/read").status_code == 401
    assert dee.counts()["unread"] == 1
    # A gateway token is not a feed token.
    from tests.gateway.conftest import make_token
    assert gateway.request("GET", "/v1/inbox/items", make_token()).status_code == 401
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM inbox_items WHERE read_at IS NOT NULL").fetchone()[0] == 1


@pytest.mark.parametrize("options, error_class", [({"action_url": "javascript:alert(1)"}, "invalid_options"),
                                                  ({"title": "", "body": ""}, "inbox_empty")])
def test_an_item_that_cannot_be_shown_is_dead_lettered(inbox, pipeline, options, error_class):
    gateway, publish = inbox
    bad, good = inbox_notification("eve", **options), inbox_notification("eve", title="fine")
    publish([bad, good])
    wait_for_statuses(pipeline.database_url, [bad["id"]], statuses=("dead_lettered",))
    wait_for_statuses(pipeline.database_url, [good["id"]])
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT error_class FROM deliveries WHERE notification_id = %s",
                            [bad["id"]]).fetchone()[0] == error_class
    assert [i["title"] for i in Feed(gateway.base, feed_token("eve")).items()["items"]] == ["fine"]


def test_a_templates_title_body_and_action_url_parts_make_the_item(inbox, pipeline):
    from router.template_store import TemplateStore

    gateway, publish = inbox
    shipped = {"name": "shipped", "sample": {"order": 7, "items": ["a"]},
               "parts": {"inapp": {"default": {
                   "title": "Order {{ order }} shipped",
                   "body": "**{{ items|length }}** item(s) <on the way>",
                   "action_url": "https://shop.example.com/orders/{{ order }}"}}}}
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([shipped])
    note = inbox_notification("gil")
    note["content"] = {"default": {"template": {"name": "shipped", "version": None}, "subject": None, "text": None,
                                   "html": None, "options": '{"format": "markdown"}'}}
    note["data"] = '{"order": 42, "items": ["x", "y"]}'
    publish([note])
    wait_for_statuses(pipeline.database_url, [note["id"]])
    [item] = Feed(gateway.base, feed_token("gil")).items()["items"]
    assert (item["title"], item["body"], item["action_url"]) == (
        "Order 42 shipped", "**2** item(s) <on the way>", "https://shop.example.com/orders/42")
    assert item["body_html"] == "<p><strong>2</strong> item(s) &lt;on the way&gt;</p>\n"
