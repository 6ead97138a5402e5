"""Malicious templates and data end to end: router, channel worker and sink as processes, a real
broker and Postgres. A runaway render holds up no other event (an URGENT one behind it is
delivered while it still runs) and is dead-lettered; Slack receives data escaped for mrkdwn."""
from __future__ import annotations

import time
import uuid

import psycopg

from router.template_store import TemplateStore
from tests.fixtures.slack import TOKEN
from tests.pipeline import current_statuses, publish, wait_for_statuses
from tests.router.test_personalized_pipeline import deliveries, event

BODY = '{"notification_id": {{ notification.id|tojson }}, "text": %s}'
TEMPLATES = [
    # Loops over a string call nothing the sandbox intercepts; before the fix only their data bounded them.
    {"name": "spin", "sample": {"s": "ab"},
     "parts": {"webhook": {"default": {"body": "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
                                               + BODY % '"spun"'}}}},
    {"name": "wide", "sample": {"width": "4"},
     "parts": {"webhook": {"default": {"body": BODY % "{{ '{:{}}'.format('x', width)|tojson }}"}}}},
    {"name": "grow", "sample": {"s": "ab"},
     "parts": {"webhook": {"default": {"body": BODY % "{{ s|replace('x', s)|length }}"}}}},
    {"name": "hello", "sample": {},
     "parts": {"webhook": {"default": {"body": BODY % '"hello"'}}}},
]


def templated(template: str, url: str, priority: str, data: dict) -> dict:
    made = event({"id": f"user-{uuid.uuid4().hex[:6]}", "webhook_url": url}, template=template, data=data)
    return {**made, "priority": priority}


def test_an_urgent_event_behind_a_runaway_template_is_delivered_while_it_runs(pipeline, services, webhook_receiver):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push(TEMPLATES)
    router = services.start("run", "router", wait=False, TIDINGS_TEMPLATE_MAX_RENDER_S="8")
    started = (router, services.start("run", "channel", "webhook", wait=False),
               services.start("run", "sink", wait=False))
    for process in started:
        process.wait_assigned()

    spin = templated("spin", webhook_receiver.url, "LOW", {"s": "x" * 20000})
    publish(pipeline, [spin])
    deadline = time.monotonic() + 60
    while router.metric("tidings_in_flight_messages", service="router") < 1:  # it is being rendered
        assert time.monotonic() < deadline, "the router never picked up the runaway event"
        time.sleep(0.05)

    urgent = templated("hello", webhook_receiver.url, "URGENT", {})
    wide = templated("wide", webhook_receiver.url, "NORMAL", {"width": "400000000"})
    grow = templated("grow", webhook_receiver.url, "NORMAL", {"s": "x" * 20000})
    publish(pipeline, [urgent, wide, grow])
    wait_for_statuses(pipeline.database_url, [urgent["id"]])
    assert spin["id"] not in current_statuses(pipeline.database_url, [spin["id"]])  # still rendering

    wait_for_statuses(pipeline.database_url, [spin["id"], wide["id"], grow["id"]], statuses=("dead_lettered",))
    got = deliveries(pipeline.database_url)
    assert got[spin["id"]] == ("dead_lettered", "render_failed", "render_too_slow")
    assert got[wide["id"]] == got[grow["id"]] == ("dead_lettered", "render_failed", "output_too_large")
    assert [b["text"] for b in webhook_receiver.bodies] == ["hello"]

    after = templated("hello", webhook_receiver.url, "LOW", {})  # the render workers serve on
    publish(pipeline, [after])
    wait_for_statuses(pipeline.database_url, [after["id"]])
    assert router.process.poll() is None and router.get("/healthz")[0] == 200


PAGE = {"name": "page", "sample": {"title": "disk full", "runbook": "<https://runbooks.example/disk|runbook>"},
        "parts": {"slack": {"default": {
            "text": "<!here> Incident: {{ title }} ({{ runbook|safe }})",
            "blocks": '[{"type": "section", "text": {"type": "mrkdwn", "text": {{ ("*" ~ title ~ "*")|tojson }}}}]'}}}}


def test_slack_gets_template_data_escaped_for_mrkdwn(pipeline, services, fake_slack):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([PAGE])
    services.start_pipeline("slack", TIDINGS_SLACK_API_URL=f"{fake_slack.base}/api", TIDINGS_SLACK_BOT_TOKEN=TOKEN)
    title = "<!everyone> <!channel> <@U123> <http://evil.example|click> & co"
    page = event({"id": "oncall", "slack": "C0001"}, channels=("slack",), template="page",
                 data={"title": title, "runbook": "<https://runbooks.example/disk|runbook>"})
    publish(pipeline, [page])
    wait_for_statuses(pipeline.database_url, [page["id"]])
    escaped = "&lt;!everyone&gt; &lt;!channel&gt; &lt;@U123&gt; &lt;http://evil.example|click&gt; &amp; co"
    (post,) = fake_slack.posts
    assert post["body"]["text"] == f"<!here> Incident: {escaped} (<https://runbooks.example/disk|runbook>)"
    assert post["body"]["blocks"][0]["text"]["text"] == f"*{escaped}*"


def test_markdown_v2_parts_escape_every_reserved_character_of_the_data_only():
    from router.sandbox import TemplateSandbox

    env = TemplateSandbox(64 * 1024, escaping="markdownv2")
    data = {"name": "*bold* _it_ [x](http://e.x) ~s~ `c` >q #h +p -m =e |b {c} .d !e \\"}
    out = env.from_string("*Hello* {{ name }}").render(data)
    assert out == ("*Hello* \\*bold\\* \\_it\\_ \\[x\\]\\(http://e\\.x\\) \\~s\\~ \\`c\\` \\>q \\#h \\+p \\-m "
                   "\\=e \\|b \\{c\\} \\.d \\!e \\\\")
    assert env.from_string("{{ link|safe }}").render(link="[site](https://e.x)") == "[site](https://e.x)"
    assert env.from_string("{{ [name]|tojson }}").render(name="a.b") == '["a\\\\.b"]'
