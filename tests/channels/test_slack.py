"""The Slack provider against a fake Slack that enforces Slack's request shapes: webhook and
chat.postMessage bodies, threads (also across a restart, in Postgres), outcomes, 429, pacing, secrets."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid

import psycopg
import pytest

from channels.registry import provider_for
from channels.slack.provider import SlackProvider
from channels.slack.errors import ERRORS, PERMANENT
from channels.slack.threads import MemoryThreads
from consumer.outcomes import Deferred, Delivered, Permanent, Transient
from consumer.settings import Settings
from tests.fixtures.slack import LOOPBACK_WEBHOOKS, TOKEN, WEBHOOK_ERROR_STATUS, FakeSlack  # noqa: F401
from tracking.migrate import migrate
from channels.slack.settings import SlackSettings


class FakeClock:
    """Monotonic time that moves only when told; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def settings_for(slack: FakeSlack, **changes) -> Settings:
    values = dict(slack_bot_token=TOKEN, slack_api_url=slack.api_url, slack_per_channel_per_s=0.0,
                  slack_timeout_s=5.0, **LOOPBACK_WEBHOOKS)
    return Settings(**{**values, **changes})


def message(address: str, text: str | None = "Disk almost full", subject: str | None = None, **options) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "slack",
            "priority": "HIGH", "address": address, "subject": subject, "text": text, "attempt": 1,
            "options": json.dumps(options)}


def send_all(settings: Settings, messages: list[dict], concurrently: bool = False, **provider_args) -> list:
    async def run() -> list:
        provider = SlackProvider(settings, **provider_args)
        await provider.start()
        try:
            if concurrently:
                return list(await asyncio.gather(*(provider.send(m) for m in messages)))
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()

    return asyncio.run(run())


def test_webhook_posts_slack_json_and_never_the_token(fake_slack):
    sent = message(fake_slack.webhook_url(), "Deploy finished", subject="prod", username="deploybot",
                   icon_emoji=":rocket:", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}],
                   attachments=[{"color": "#36a64f", "fields": [{"title": "env", "value": "prod", "short": True}]}],
                   unfurl_links=False)
    [outcome] = send_all(settings_for(fake_slack), [sent])
    assert outcome == Delivered(status_code=200, provider_message_id=None)
    [post] = fake_slack.posts
    assert post["kind"] == "webhook" and post["channel"] == "C0001"
    assert post["body"] == {"text": "*prod*\nDeploy finished", "username": "deploybot", "icon_emoji": ":rocket:",
                            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}],
                            "attachments": [{"color": "#36a64f",
                                             "fields": [{"title": "env", "value": "prod", "short": True}]}],
                            "unfurl_links": False}
    assert post["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in post["headers"]  # the bot token is for slack.com only
    assert SlackProvider(settings_for(fake_slack)).name_for(sent) == "slack-webhook"


def test_chat_post_message_shape_with_every_option(fake_slack):
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Invoice"}}]
    attachments = [{"color": "danger", "fields": [{"title": "total", "value": "12.50"}]}]
    sent = message("C0001", "Your invoice is ready", channel="C0002", blocks=blocks, attachments=attachments,
                   username="billing", icon_url="https://example.com/i.png", unfurl_links=True, unfurl_media=False)
    [outcome] = send_all(settings_for(fake_slack), [sent])
    [post] = fake_slack.posts
    assert outcome == Delivered(status_code=200, provider_message_id=post["ts"])
    assert post["kind"] == "api" and post["channel"] == "C0002"  # options["channel"] overrides the address
    assert post["body"] == {"channel": "C0002", "text": "Your invoice is ready", "blocks": blocks,
                            "attachments": attachments, "username": "billing",
                            "icon_url": "https://example.com/i.png", "unfurl_links": True, "unfurl_media": False}
    assert post["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert post["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert SlackProvider(settings_for(fake_slack)).name_for(sent) == "slack-api"


def test_blocks_alone_are_enough_and_bad_options_are_permanent_without_a_request(fake_slack):
    blocks_only = message("C0001", text=None, blocks=[{"type": "divider"}])
    not_json = {**message("C0001"), "options": "{not json"}
    not_object = {**message("C0001"), "options": "[1, 2]"}
    delivered, bad, also_bad = send_all(settings_for(fake_slack), [blocks_only, not_json, not_object])
    assert isinstance(delivered, Delivered) and fake_slack.posts[0]["body"] == {"channel": "C0001",
                                                                              "blocks": [{"type": "divider"}]}
    assert bad.error_class == also_bad.error_class == "slack_invalid_options" and isinstance(bad, Permanent)
    assert fake_slack.requests == 1


def test_thread_key_replies_in_the_first_messages_thread(fake_slack, caplog):
    messages = [message("C0001", "opened", thread_key="incident-7"),
                message("C0001", "update", thread_key="incident-7"),
                message("C0002", "elsewhere", thread_key="incident-7"),  # same key, other channel: own thread
                message("C0001", "other", thread_key="incident-8"),
                message("C0001", "resolved", thread_key="incident-7")]
    with caplog.at_level(logging.WARNING):
        outcomes = send_all(settings_for(fake_slack, database_url=None), messages)
    assert all(isinstance(o, Delivered) for o in outcomes)
    first, update, elsewhere, other, resolved = fake_slack.posts
    assert "thread_ts" not in first["body"] and "thread_ts" not in elsewhere["body"]
    assert "thread_ts" not in other["body"]
    assert update["body"]["thread_ts"] == resolved["body"]["thread_ts"] == first["ts"] == outcomes[0].provider_message_id
    assert sum("in memory only" in r.getMessage() for r in caplog.records) == 1


def test_concurrent_first_messages_of_a_thread_start_one_thread(fake_slack):
    messages = [message("C0001", f"m{i}", thread_key="deploy-42") for i in range(5)]
    outcomes = send_all(settings_for(fake_slack), messages, concurrently=True, threads=MemoryThreads())
    assert all(isinstance(o, Delivered) for o in outcomes)
    roots = [p for p in fake_slack.posts if "thread_ts" not in p["body"]]
    assert len(roots) == 1
    assert {p["body"]["thread_ts"] for p in fake_slack.posts if p is not roots[0]} == {roots[0]["ts"]}


def test_threads_survive_a_restart_in_postgres(fake_slack, database_url):
    migrate(database_url)
    settings = settings_for(fake_slack, database_url=database_url)
    [first] = send_all(settings, [message("C0003", "opened", thread_key="order-9")])
    [reply] = send_all(settings, [message("C0003", "shipped", thread_key="order-9")])  # a new provider
    assert isinstance(first, Delivered) and isinstance(reply, Delivered)
    assert fake_slack.posts[1]["body"]["thread_ts"] == first.provider_message_id
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT thread_key, channel, ts FROM slack_threads").fetchall()
    assert rows == [("order-9", "C0003", first.provider_message_id)]


class UnreachableThreads(MemoryThreads):
    """A thread store whose database is down."""

    async def start(self) -> None:
        pass

    async def get(self, thread_key: str, channel: str) -> str | None:
        raise psycopg.OperationalError("connection refused")


def test_a_broken_thread_store_is_transient_and_posts_nothing(fake_slack):
    [outcome] = send_all(settings_for(fake_slack), [message("C0001", thread_key="k")], threads=UnreachableThreads())
    assert isinstance(outcome, Transient) and outcome.error_class == "slack_thread_store"
    assert fake_slack.posts == [] and fake_slack.requests == 0


# The outcome of every Slack error the issue names, written out here (not read from the table).
API_PERMANENT = ["invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found",
                 "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks", "restricted_action"]
API_TRANSIENT = ["ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"]
WEBHOOK_PERMANENT = ["invalid_payload", "channel_not_found", "channel_is_archived", "action_prohibited",
                     "no_service", "no_text", "no_team", "team_disabled", "invalid_token"]


def test_every_web_api_error_is_mapped_as_the_issue_says(fake_slack):
    for error in API_PERMANENT + API_TRANSIENT:
        fake_slack.api_error_next(error)
    outcomes = send_all(settings_for(fake_slack), [message("C0001") for _ in API_PERMANENT + API_TRANSIENT])
    got = {o.error_class: type(o) for o in outcomes}
    assert got == {**{f"slack_{e}": Permanent for e in API_PERMANENT},
                   **{f"slack_{e}": Transient for e in API_TRANSIENT}}
    assert fake_slack.posts == []


def test_every_webhook_error_is_permanent_with_its_status(fake_slack):
    for error in WEBHOOK_PERMANENT:
        fake_slack.webhook_error_next(error)
    outcomes = send_all(settings_for(fake_slack), [message(fake_slack.webhook_url()) for _ in WEBHOOK_PERMANENT])
    assert [(type(o), o.error_class, o.status_code) for o in outcomes] == [
        (Permanent, f"slack_{e}", WEBHOOK_ERROR_STATUS[e]) for e in WEBHOOK_PERMANENT]


@pytest.mark.parametrize("error", sorted(ERRORS))
def test_the_table_is_what_send_returns(fake_slack, error):
    fake_slack.api_error_next(error)
    [outcome] = send_all(settings_for(fake_slack), [message("C0001")])
    assert isinstance(outcome, Permanent if ERRORS[error] == PERMANENT else Transient)
    assert outcome.error_class == f"slack_{error}"


def test_errors_slack_itself_produces_from_bad_requests(fake_slack):
    fake_slack.archived.add("C0003")
    outcomes = send_all(settings_for(fake_slack), [message("C9999"), message("C0003"), message("C0001", text=None),
                                                   message(fake_slack.webhook_url("T0/B0/gone")),
                                                   message(fake_slack.webhook_url(), text=None)])
    assert [(type(o), o.error_class) for o in outcomes] == [
        (Permanent, "slack_channel_not_found"), (Permanent, "slack_is_archived"), (Permanent, "slack_no_text"),
        (Permanent, "slack_no_service"), (Permanent, "slack_no_text")]
    [without] = send_all(settings_for(fake_slack, slack_bot_token=None), [message("C0001")])
    [wrong] = send_all(settings_for(fake_slack, slack_bot_token="xoxb-wrong"), [message("C0001")])
    assert (type(without), without.error_class) == (Permanent, "slack_not_authed")
    assert (type(wrong), wrong.error_class) == (Permanent, "slack_invalid_auth")
    assert fake_slack.posts == []


BAD_URLS = {
    "port 99999": "http://127.0.0.1:99999/services/T0/B0/good",
    "70-character label": "https://" + "a" * 70 + ".slack.com/services/T0/B0/good",  # stopped the worker
    "empty label": "https://hooks..slack.com/services/T0/B0/good",
    "broken IPv6 literal": "http://[::1/services/T0/B0/good",
    "NUL in host": "https://hooks.slack.com\x00.evil/services/T0/B0/good",
    "space": "https://hooks.slack.com /services/T0/B0/good",
}


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_webhook_url_that_cannot_be_parsed_is_a_permanent_invalid_url(fake_slack, url):
    [outcome] = send_all(settings_for(fake_slack, slack_webhook_hosts="*"), [message(url)])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_url", outcome
    assert "\x00" not in outcome.message and fake_slack.requests == 0


def test_webhooks_are_accepted_on_the_configured_hosts_only(fake_slack):
    default = Settings(slack_bot_token=TOKEN, slack_api_url=fake_slack.api_url, slack_per_channel_per_s=0.0)
    assert default.section(SlackSettings).slack_webhook_hosts == "hooks.slack.com"
    [off_host] = send_all(default, [message(fake_slack.webhook_url())])
    assert isinstance(off_host, Permanent) and off_host.error_class == "invalid_address"
    # Listed as a host but not as an allowed internal target: the SSRF guard still refuses loopback.
    [unguarded] = send_all(settings_for(fake_slack, slack_allowed_targets=None), [message(fake_slack.webhook_url())])
    assert isinstance(unguarded, Permanent) and unguarded.error_class == "target_refused"
    assert fake_slack.requests == 0 and fake_slack.posts == []
    # The Web API base URL is the operator's own setting, and still guarded: loopback must be listed.
    [unlisted_api] = send_all(default, [message("C0001")])
    assert isinstance(unlisted_api, Permanent) and unlisted_api.error_class == "target_refused"
    assert fake_slack.requests == 0
    [api] = send_all(default.replace(slack_allowed_targets="127.0.0.0/8"), [message("C0001")])
    assert isinstance(api, Delivered) and len(fake_slack.posts) == 1


def test_http_5xx_timeouts_and_refused_connections_are_transient(fake_slack):
    fake_slack.answer_next(503, "upstream unavailable")  # webhook: plain text, not a Slack code
    fake_slack.answer_next(502, "<html>Bad Gateway</html>")  # Web API: not JSON
    webhook_5xx, api_5xx = send_all(settings_for(fake_slack), [message(fake_slack.webhook_url()), message("C0001")])
    assert (type(webhook_5xx), webhook_5xx.error_class, webhook_5xx.status_code) == (Transient, "http_503", 503)
    assert (type(api_5xx), api_5xx.error_class, api_5xx.status_code) == (Transient, "http_502", 502)
    fake_slack.delay_s = 2.0
    [slow] = send_all(settings_for(fake_slack, slack_timeout_s=0.2), [message("C0001")])
    assert (type(slow), slow.error_class) == (Transient, "timeout")
    refused = settings_for(fake_slack, slack_api_url="http://127.0.0.1:9/api")
    [down, hook_down] = send_all(refused, [message("C0001"), message("http://127.0.0.1:9/services/x")])
    assert isinstance(down, Transient) and isinstance(hook_down, Transient)
    assert down.error_class == hook_down.error_class == "ClientConnectorError"


def test_a_long_message_posted_with_the_web_api_is_delivered_once(fake_slack):
    """chat.postMessage answers with the posted message: an answer cut at a few KB read as "not
    JSON", a transient failure, and the retry posted the message a second time."""
    [outcome] = send_all(settings_for(fake_slack), [message("C0001", "x" * 20_000)])
    assert isinstance(outcome, Delivered) and outcome.provider_message_id == fake_slack.posts[0]["ts"]
    assert len(fake_slack.posts) == 1


def test_429_is_transient_with_slacks_retry_after(fake_slack):
    fake_slack.answer_next(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    fake_slack.answer_next(429, "rate_limited", {"Retry-After": "30"})
    api, hook = send_all(settings_for(fake_slack), [message("C0001"), message(fake_slack.webhook_url())])
    assert api == Transient("slack_ratelimited", api.message, 429, 7.0)
    assert hook == Transient("slack_ratelimited", hook.message, 429, 30.0)


def test_provider_paces_sends_per_channel(fake_slack):
    clock = FakeClock()
    messages = [message("C0001", f"a{i}") for i in range(3)] + [message("C0002", "b")] + \
               [message(fake_slack.webhook_url(), f"h{i}") for i in range(2)]
    outcomes = send_all(settings_for(fake_slack, slack_per_channel_per_s=1.0), messages, concurrently=True,
                        clock=clock, sleep=clock.sleep)
    assert all(isinstance(o, Delivered) for o in outcomes)
    # C0001: slots 0, 1, 2; the webhook URL: slots 0, 1; C0002 waited for nobody.
    assert sorted(clock.sleeps) == [1.0, 1.0, 2.0]
    assert sorted(p["body"]["text"] for p in fake_slack.posts) == ["a0", "a1", "a2", "b", "h0", "h1"]


def test_a_long_queue_for_one_channel_parks_instead_of_holding_the_worker(fake_slack):
    clock = FakeClock()
    messages = [message("C0001", f"a{i}") for i in range(5)] + [message("C0002", "b")]
    outcomes = send_all(settings_for(fake_slack, slack_per_channel_per_s=1.0, slack_max_pacing_wait_s=2.0),
                        messages, concurrently=True, clock=clock, sleep=clock.sleep)
    # C0001 takes slots 0, 1 and 2 s; waiting 3 s or more is handed back to the runtime.
    assert [type(o).__name__ for o in outcomes] == ["Delivered"] * 3 + ["Deferred"] * 2 + ["Delivered"]
    assert outcomes[3] == Deferred("slack_paced", 3.0) and outcomes[4] == Deferred("slack_paced", 3.0)
    assert sorted(p["body"]["text"] for p in fake_slack.posts) == ["a0", "a1", "a2", "b"]


def test_the_token_appears_in_no_log_and_no_repr(fake_slack, caplog):
    settings = Settings.load({"TIDINGS_SLACK_BOT_TOKEN": TOKEN, "TIDINGS_SLACK_API_URL": fake_slack.api_url,
                              "TIDINGS_SLACK_PER_CHANNEL_PER_S": "0", "TIDINGS_SLACK_ALLOWED_TARGETS": "127.0.0.0/8"})
    slack = settings.section(SlackSettings)
    assert slack.slack_bot_token.get_secret_value() == TOKEN and TOKEN not in repr(slack) and TOKEN not in str(slack)
    fake_slack.api_error_next("invalid_auth")
    fake_slack.answer_next(500, "oops")
    with caplog.at_level(logging.DEBUG):
        outcomes = send_all(settings, [message("C0001"), message("C0001"), message("C0001"), message("C9999")])
        provider = SlackProvider(settings)
        logging.getLogger("test").info("provider %r", provider)
    assert len(caplog.records) >= 4  # the provider logged each outcome at debug
    assert TOKEN not in caplog.text and "xoxb" not in caplog.text
    assert all(TOKEN not in repr(o) for o in outcomes)


def test_settings_and_registry():
    settings = Settings.load({"TIDINGS_SLACK_TIMEOUT_S": "3", "TIDINGS_SLACK_PER_CHANNEL_PER_S": "2.5"})
    slack = settings.section(SlackSettings)
    assert (slack.slack_timeout_s, slack.slack_per_channel_per_s) == (3.0, 2.5)
    assert slack.slack_api_url == "https://slack.com/api" and slack.slack_bot_token is None
    assert isinstance(provider_for("slack", settings), SlackProvider)
