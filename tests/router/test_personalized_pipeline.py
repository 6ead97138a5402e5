"""Templates, the recipient directory and preferences end to end: real broker, real Postgres,
router + channel worker + sink as processes, a real webhook receiver and a fake Twilio."""
from __future__ import annotations

import json
import time
import uuid

import psycopg

from consumer import failure_headers as h
from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, utcnow
from consumer.topics import Topics
from router.preferences import Preferences
from router.recipients import RecipientDirectory
from router.template_store import TemplateStore
from tests.cli.run import tidings
from tests.fixtures.twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.pipeline import publish, read_topic, wait_for_statuses

ALERT_BODY = ('{"notification_id": {{ notification.id|tojson }}, "version": 1, "tz": {{ recipient.timezone|tojson }}, '
              '"message": {{ (("Olá " if recipient.locale == "pt-BR" else "Hello ") ~ name)|tojson }}}')
ALERT = {"name": "alert", "sample": {"name": "Ada", "key": "upper"},
         "parts": {"webhook": {"default": {"body": ALERT_BODY}},
                   "email": {"default": {"subject": "Alert for {{ name }}", "text": "{{ (name|attr(key))() }}"}}}}


def event(recipient: dict, channels=("webhook",), template="alert", version=None, data=None, category="general"):
    return {"id": str(uuid.uuid4()), "created_at": utcnow(), "priority": "HIGH", "source": "tests", "tenant": "acme",
            "category": category, "channels": list(channels),
            "recipient": {"email": None, "phone": None, "slack": None, "webhook_url": None, "locale": None,
                          "timezone": None, **recipient},
            "content": {"default": {"template": {"name": template, "version": version}, "subject": None, "text": None,
                                    "html": None, "options": "{}"}},
            "data": json.dumps(data if data is not None else {"name": "Ada", "key": "upper"}),
            "expires_at": None, "idempotency_key": None}


def start(services, channel: str, router_env: dict, **channel_env):
    started = (services.start("run", "router", wait=False, **router_env),
               services.start("run", "channel", channel, wait=False, **channel_env),
               services.start("run", "sink", wait=False))
    for process in started:
        process.wait_assigned()
    return started


def deliveries(database_url: str) -> dict[str, tuple]:
    """notification id -> (status, reason, error_class) of its webhook (or only) delivery."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT notification_id::text, channel, status, reason, error_class FROM deliveries").fetchall()
    return {n: (status, reason, error) for n, channel, status, reason, error in rows if channel == "webhook"} | \
        {n: (status, reason, error) for n, channel, status, reason, error in rows if channel != "webhook"
         and n not in {r[0] for r in rows if r[1] == "webhook"}}


def test_templates_directory_and_preferences_through_the_router(pipeline, services, webhook_receiver):
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([ALERT])
        RecipientDirectory(conn).upsert([
            {"id": "dir-user", "webhook_url": webhook_receiver.url, "locale": "pt-BR", "timezone": "America/Sao_Paulo"},
            {"id": "opted", "webhook_url": webhook_receiver.url},
            {"id": "no-address", "email": "someone@example.com"}])
        Preferences(conn).set("opted", channel="webhook", enabled=False)
    start(services, "webhook", {"TIDINGS_CRITICAL_CATEGORIES": "security", "TIDINGS_TEMPLATE_CACHE_TTL_S": "0"})

    resolved = event({"id": "dir-user"})  # only a recipient id: address and locale from the directory
    inline = event({"id": "dir-user", "webhook_url": webhook_receiver.url + "?inline=1", "locale": "en",
                    "timezone": "UTC"})
    no_address = event({"id": "no-address"})
    opted = event({"id": "opted"}, category="promo")
    critical = event({"id": "opted"}, category="security")
    missing_variable = event({"id": "dir-user"}, data={"key": "upper"})
    escape = event({"id": "dir-user", "email": "ada@example.com"}, channels=("email",),
                   data={"name": "Ada", "key": "__class__"})  # data steering the email text at a dunder
    half = event({"id": "dir-user", "email": "ada@example.com"}, channels=("webhook", "email"), data={"name": "Ada"})
    publish(pipeline, [resolved, inline, no_address, opted, critical, missing_variable, escape, half])

    wait_for_statuses(pipeline.database_url, [resolved["id"], inline["id"], critical["id"]], statuses=("sent",))
    wait_for_statuses(pipeline.database_url, [no_address["id"], opted["id"]], statuses=("suppressed",))
    wait_for_statuses(pipeline.database_url, [missing_variable["id"], escape["id"], half["id"]],
                      statuses=("dead_lettered",))
    got = deliveries(pipeline.database_url)
    assert got[no_address["id"]] == ("suppressed", "no_address", None)
    assert got[opted["id"]] == ("suppressed", "opted_out", None)
    assert got[missing_variable["id"]] == ("dead_lettered", "render_failed", "missing_variable")
    assert got[escape["id"]] == ("dead_lettered", "render_failed", "sandbox_violation")
    assert got[half["id"]][1:] == ("render_failed", "missing_variable")  # the email part lacks `key`

    bodies = {b["notification_id"]: b for b in webhook_receiver.bodies}
    assert set(bodies) == {resolved["id"], inline["id"], critical["id"]}  # nothing half-rendered, nothing opted out
    assert bodies[resolved["id"]] == {"notification_id": resolved["id"], "version": 1, "tz": "America/Sao_Paulo",
                                      "message": "Olá Ada"}
    assert (bodies[inline["id"]]["message"], bodies[inline["id"]]["tz"]) == ("Hello Ada", "UTC")  # inline wins

    names, codec = Topics(pipeline.topic_prefix), Codec.from_settings(pipeline)
    messages = [codec.decode(CHANNEL_MESSAGE, m.value()) for m in read_topic(pipeline, names.channel("webhook", "high"))]
    addresses = {str(m["notification_id"]): m["address"] for m in messages}
    assert addresses[resolved["id"]] == webhook_receiver.url and addresses[inline["id"]].endswith("?inline=1")
    assert {m["template"] for m in messages} == {"alert@1"}
    assert read_topic(pipeline, names.channel("email", "high"), idle_s=0.5) == []  # `half` sent no channel anything
    dead = {h.read(m)[h.NOTIFICATION_ID]: h.read(m) for m in read_topic(pipeline, names.dlq)}
    assert dead[escape["id"]][h.REASON] == "render_failed"
    assert dead[escape["id"]][h.ERROR_CLASS] == "sandbox_violation" and "__class__" in dead[escape["id"]][h.ERROR_MESSAGE]
    assert set(dead) == {missing_variable["id"], escape["id"], half["id"]}

    # A new version is picked up without restarting the router; a pinned event keeps version 1.
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        v2 = {**ALERT, "parts": {**ALERT["parts"], "webhook": {"default": {"body": ALERT_BODY.replace('"version": 1',
                                                                                                   '"version": 2')}}}}
        assert TemplateStore(conn).push([v2])[0]["version"] == 2
    latest, pinned = event({"id": "dir-user"}), event({"id": "dir-user"}, version=1)
    publish(pipeline, [latest, pinned])
    wait_for_statuses(pipeline.database_url, [latest["id"], pinned["id"]])
    bodies = {b["notification_id"]: b for b in webhook_receiver.bodies}
    assert (bodies[latest["id"]]["version"], bodies[pinned["id"]]["version"]) == (2, 1)


def test_an_sms_stop_at_the_provider_suppresses_the_next_notification_in_the_router(pipeline, services, fake_twilio):
    env = {"TIDINGS_SMS_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TIDINGS_SMS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TIDINGS_SMS_TWILIO_FROM": "+15005550006", "TIDINGS_SMS_TWILIO_BASE_URL": fake_twilio.base_url}
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([{"name": "code", "sample": {"code": "1"},
                                   "parts": {"sms": {"default": {"text": "Code {{ code }}\nfrom Tidings"}}}}])
        RecipientDirectory(conn).upsert([{"id": "stopper", "phone": "+14155550199"},
                                         {"id": "happy", "phone": "+14155550100"}])
    start(services, "sms", {}, **env)
    fake_twilio.opted_out.add("+14155550199")

    first, happy = event({"id": "stopper"}, ("sms",), "code", data={"code": "42"}), \
        event({"id": "happy"}, ("sms",), "code", data={"code": "7"})
    publish(pipeline, [first, happy])
    wait_for_statuses(pipeline.database_url, [first["id"]], statuses=("suppressed",))
    wait_for_statuses(pipeline.database_url, [happy["id"]])
    assert [(m["To"], m["Body"]) for m in fake_twilio.messages] == [("+14155550100", "Code 7 from Tidings")]
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        assert Preferences(conn).check("stopper", "sms", "general")["reason"] == "opted_out"
        assert Preferences(conn).show("stopper")[0]["source"] == "provider:twilio"

    requests_before = fake_twilio.requests
    second = event({"id": "stopper"}, ("sms",), "code", data={"code": "43"})
    publish(pipeline, [second])
    wait_for_statuses(pipeline.database_url, [second["id"]], statuses=("suppressed",))
    with psycopg.connect(pipeline.database_url) as conn:
        stage, provider, reason = conn.execute(
            "SELECT stage, provider, reason FROM deliveries WHERE notification_id = %s", [second["id"]]).fetchone()
    assert (stage, provider, reason) == ("router", None, "opted_out")  # the router, not Twilio, refused it
    assert fake_twilio.requests == requests_before


def test_a_render_failure_replayed_after_a_fixed_push_is_delivered(pipeline, services, webhook_receiver):
    greeting = {"name": "greeting", "sample": {"name": "Ada"},
                "parts": {"webhook": {"default": {"body": '{"notification_id": {{ notification.id|tojson }}, '
                                                          '"text": {{ ("Hello " ~ name)|tojson }}}'}}}}
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([greeting])
    start(services, "webhook", {"TIDINGS_TEMPLATE_CACHE_TTL_S": "0"})
    nameless = event({"id": "u9", "webhook_url": webhook_receiver.url}, template="greeting", data={})
    publish(pipeline, [nameless])
    wait_for_statuses(pipeline.database_url, [nameless["id"]], statuses=("dead_lettered",))
    assert webhook_receiver.bodies == []

    fixed = {**greeting, "parts": {"webhook": {"default": {"body": greeting["parts"]["webhook"]["default"]["body"]
                                                           .replace('name)', 'name|default("there"))')}}}}
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        assert TemplateStore(conn).push([fixed])[0]["version"] == 2
    replay = tidings(pipeline, "dlq", "replay", "--error", "render_failed", "--yes", "--idle", "1")
    assert replay.returncode == 0, replay.stderr
    wait_for_statuses(pipeline.database_url, [nameless["id"]])
    assert webhook_receiver.bodies == [{"notification_id": nameless["id"], "text": "Hello there"}]


WELCOME = {"name": "welcome", "sample": {"name": "Ada", "plan": "pro"},
           "parts": {"email": {"default": {"subject": "Welcome, {{ name }}", "text": "Hi {{ name }},\nplan: {{ plan }}",
                                           "html": "<p>Hi {{ name }}</p>"},
                               "pt": {"subject": "Bem-vindo, {{ name }}"}},
                     "slack": {"default": {"text": "New user {{ name }}",
                                           "blocks": '[{"type": "section", "text": {"type": "mrkdwn", '
                                                     '"text": {{ ("*" ~ name ~ "* on " ~ plan)|tojson }}}}]'}}}}


def test_rendered_email_and_slack_parts_reach_the_servers(pipeline, services, smtp_server, fake_slack):
    server = smtp_server(tls="none", auth=False)
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        TemplateStore(conn).push([WELCOME])
        RecipientDirectory(conn).upsert([{"id": "ada", "email": "ada@example.com", "slack": "C0001",
                                          "locale": "pt-BR"}])
    started = (services.start("run", "router", wait=False),
               services.start("run", "channel", "email", wait=False, TIDINGS_SMTP_HOST=server.host,
                              TIDINGS_SMTP_PORT=str(server.port), TIDINGS_SMTP_TLS="none",
                              TIDINGS_SMTP_FROM="noreply@example.com"),
               services.start("run", "channel", "slack", wait=False, TIDINGS_SLACK_API_URL=f"{fake_slack.base}/api",
                              TIDINGS_SLACK_BOT_TOKEN="xoxb-test-0000-secret-token", TIDINGS_SLACK_PER_CHANNEL_PER_S="0"),
               services.start("run", "sink", wait=False))
    for process in started:
        process.wait_assigned()

    welcome = event({"id": "ada"}, channels=("email", "slack"), template="welcome",
                    data={"name": "<b>Ada</b>\r\nBcc: eve@example.com", "plan": "pro & more"})
    publish(pipeline, [welcome])
    with psycopg.connect(pipeline.database_url) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and conn.execute(
                "SELECT count(*) FROM deliveries WHERE notification_id = %s AND status = 'sent'",
                [welcome["id"]]).fetchone()[0] < 2:
            time.sleep(0.25)
    (received,) = server.received
    message = received.email
    assert received.rcpt_tos == ["ada@example.com"]
    assert message["Subject"] == "Bem-vindo, <b>Ada</b> Bcc: eve@example.com"  # pt from pt-BR, one line
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n").strip()
    assert html == "<p>Hi &lt;b&gt;Ada&lt;/b&gt;\nBcc: eve@example.com</p>"  # escaped in HTML only
    assert "plan: pro & more" in message.get_body(("plain",)).get_content()  # text parts are not escaped
    (post,) = fake_slack.posts
    assert post["channel"] == "C0001"
    # Slack parts escape data for mrkdwn (& < >), as the html part escapes it for HTML.
    assert post["body"]["blocks"] == [{"type": "section", "text": {
        "type": "mrkdwn", "text": "*&lt;b&gt;Ada&lt;/b&gt;\r\nBcc: eve@example.com* on pro &amp; more"}}]
    assert post["body"]["text"] == "New user &lt;b&gt;Ada&lt;/b&gt;\r\nBcc: eve@example.com"
