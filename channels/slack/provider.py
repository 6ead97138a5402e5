"""Slack provider: posts a channel message to an incoming-webhook URL or with the Web API's
chat.postMessage, paced per Slack channel, in a thread when its options carry a thread_key.

The address picks the way: an http(s) URL is an incoming webhook, anything else is a channel or
user id for chat.postMessage, which options["channel"] overrides. Webhooks cannot thread (Slack
returns no ts for them), so thread_key applies to the Web API only.

A webhook URL comes from the event, so it is accepted only on the slack_webhook_hosts (Slack's
hooks.slack.com by default; anything else is `invalid_address`, nothing sent): an answer's body
becomes the delivery's error message, readable by whoever published it. Both ways go through the
outbound HTTP kit (channels/outbound_http.py) and its SSRF guard, the Web API URL (the operator's
setting) too: an internal host there must be listed in slack_allowed_targets like any other."""
from __future__ import annotations

import asyncio
import json
import logging
import time

import psycopg
from aiohttp.abc import AbstractResolver
from yarl import URL

from channels.slack.settings import SlackSettings
from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import HostList, TargetPolicy, parse_url
from channels.outbound_http import Answer, OutboundHttp
from channels.slack.errors import ERROR_CODE, http_failure, outcome_for, rate_limited
from channels.slack.options import SlackOptions
from channels.slack.threads import ThreadStarts, ThreadStore, thread_store
from consumer.channel_options import read_options
from consumer.outcomes import Delivered, Outcome, Permanent, Transient
from consumer.pacing import MonotonicClock, Pacer, Sleep
from consumer.settings import Settings, SettingsError

log = logging.getLogger(__name__)

WEBHOOK_PROVIDER, API_PROVIDER = "slack-webhook", "slack-api"
MAX_BODY = 4096
# chat.postMessage answers with the message it posted (text up to 40,000 characters, up to 50
# blocks): read it whole, or a long message that was posted would look like a bad answer and be
# posted again.
MAX_API_ANSWER = 1024 * 1024


def is_webhook(address: str) -> bool:
    return address.startswith(("https://", "http://"))


def slack_body(message: dict, options: SlackOptions) -> dict:
    """The JSON both ways share: text (a bold subject line over the text), blocks, attachments, ..."""
    body = options.passed_through()
    subject, text = message.get("subject"), message.get("text")
    text = f"*{subject}*\n{text}" if subject and text else subject or text
    if text:
        body["text"] = text  # with blocks it is the notification fallback
    return body


class SlackProvider:
    name = "slack"

    def __init__(self, settings: Settings, *, clock: MonotonicClock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, threads: ThreadStore | None = None,
                 resolver: AbstractResolver | None = None):
        own = settings.section(SlackSettings)
        self.api_url = own.slack_api_url.rstrip("/")
        self.post_message_url = parse_url(f"{self.api_url}/chat.postMessage")
        if isinstance(self.post_message_url, Permanent):
            raise SettingsError(f"slack_api_url: {self.post_message_url.message}")
        self._token = _secret(own.slack_bot_token)
        self.webhook_hosts = HostList.parse(own.slack_webhook_hosts, "slack_webhook_hosts")
        self.targets = TargetPolicy.from_setting(own.slack_allowed_targets, "slack_allowed_targets")
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = OutboundHttp(self.targets, timeout_s=own.slack_timeout_s, max_answer_bytes=MAX_BODY,
                                 resolver=resolver, excerpt=self.excerpt)
        self.pacer = Pacer(own.slack_per_channel_per_s, clock, sleep)
        self.max_pacing_wait_s = own.slack_max_pacing_wait_s
        self.threads = threads if threads is not None else thread_store(settings.database_url)
        self.starts = ThreadStarts()

    def name_for(self, message: dict) -> str:
        """The provider that delivers this message: slack-webhook or slack-api."""
        return WEBHOOK_PROVIDER if is_webhook(message["address"]) else API_PROVIDER

    async def start(self) -> None:
        if not self._token:
            log.warning("TIDINGS_SLACK_BOT_TOKEN is not set: chat.postMessage sends will fail (not_authed)")
        await self.http.start()
        await self.threads.start()

    async def close(self) -> None:
        await self.http.close()
        await self.threads.close()

    async def send(self, message: dict) -> Outcome:
        options = read_options(SlackOptions, message.get("options"), "slack_invalid_options")
        if isinstance(options, Permanent):
            return options
        address = message["address"]
        if is_webhook(address):
            target = self._webhook_target(address)
            if isinstance(target, Permanent):
                return target
            outcome = await self._post_webhook(target, slack_body(message, options))
        else:
            channel = options.channel or address
            body = {"channel": channel, **slack_body(message, options)}
            key = options.thread_key
            if key is None or "thread_ts" in body:
                outcome = await self._post_api(body)
            else:
                outcome = await self._post_in_thread(key, channel, body)
        log.debug("slack delivery %s -> %s", message.get("delivery_id"), outcome)
        return outcome

    async def _post_in_thread(self, key: str, channel: str, body: dict) -> Outcome:
        """Reply in the key's thread; the first message with a key starts it and records its ts."""
        try:
            if ts := await self.threads.get(key, channel):
                return await self._post_api({**body, "thread_ts": ts})
            async with self.starts.first(key, channel):
                if ts := await self.threads.get(key, channel):  # started while this one waited
                    return await self._post_api({**body, "thread_ts": ts})
                outcome = await self._post_api(body)
                if isinstance(outcome, Delivered) and outcome.provider_message_id:
                    await self._record_thread(key, channel, outcome.provider_message_id)
                return outcome
        except psycopg.Error as exc:
            return Transient("slack_thread_store", f"{type(exc).__name__}: {exc}"[:500])

    async def _record_thread(self, key: str, channel: str, ts: str) -> None:
        try:
            await self.threads.put(key, channel, ts)
        except psycopg.Error as exc:
            # The message is posted; failing it now would post it twice. Later ones start a new thread.
            log.warning("could not record Slack thread %r in %s: %s", key, channel, exc)

    def _webhook_target(self, address: str) -> URL | Permanent:
        target = parse_url(address)
        if isinstance(target, Permanent):
            return target
        host = (target.raw_host or "").lower().rstrip(".")
        if not self.webhook_hosts.allows(host):
            return Permanent("invalid_address", f"Slack incoming webhooks are accepted on "
                             f"{self.webhook_hosts} only, not {host[:100]!r} (slack_webhook_hosts)")
        return self.targets.screen(target) or target

    async def _post_api(self, body: dict) -> Outcome:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        # A long queue for one Slack channel would hold the worker's send slots: past
        # max_pacing_wait_s the message waits on a retry tier instead.
        if parked := await self.pacer.turn(body["channel"], self.max_pacing_wait_s, "slack_paced"):
            return parked
        answer = await self.http.request("POST", self.post_message_url, data=_json(body), headers=headers,
                                         max_answer_bytes=MAX_API_ANSWER)
        if not isinstance(answer, Answer):
            return answer
        retry_after = answer.retry_after_s()
        if answer.status == 429:
            return rate_limited(429, retry_after)
        try:
            document = json.loads(answer.body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            if answer.status == 200:
                return Transient("slack_bad_response", f"not a JSON object: {self.excerpt(answer.body)}", 200)
            return http_failure(answer.status, self.excerpt(answer.body))
        if document.get("ok") is True and answer.status == 200:
            return Delivered(status_code=200, provider_message_id=document.get("ts"))
        if document.get("error"):
            return outcome_for(str(document["error"]), answer.status, retry_after)
        return http_failure(answer.status, self.excerpt(answer.body))

    async def _post_webhook(self, target: URL, body: dict) -> Outcome:
        url = str(target)
        # one webhook URL posts to one channel
        if parked := await self.pacer.turn(url, self.max_pacing_wait_s, "slack_paced"):
            return parked
        answer = await self.http.request("POST", target, data=_json(body), headers={"Content-Type": "application/json"})
        if not isinstance(answer, Answer):
            return answer
        if 200 <= answer.status < 300:
            return Delivered(status_code=answer.status)
        if answer.status == 429:
            return rate_limited(429, answer.retry_after_s())
        text = answer.text.strip()
        if ERROR_CODE.fullmatch(text):
            return outcome_for(text, answer.status)
        return http_failure(answer.status, self.excerpt(text))


def _json(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None
