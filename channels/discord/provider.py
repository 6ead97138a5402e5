"""Discord provider: executes the recipient's webhook (`?wait=true`, so Discord answers with the
message it posted) through the outbound HTTP kit (SSRF guard, timeouts, capped answers), paced per
webhook and held while Discord's rate-limit headers say its limit is spent. The URL comes from the
event, so only the configured Discord hosts are accepted (anything else is `invalid_address`,
nothing sent). Its token is a secret: outcomes and logs name the host and webhook id only."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

from aiohttp.abc import AbstractResolver
from yarl import URL

from channels.answer_excerpt import AnswerExcerpt
from channels.discord.address import WebhookAddress, webhook_address
from channels.discord.answers import outcome_for, throttle_of
from channels.discord.message import discord_message
from channels.discord.options import DiscordOptions
from channels.discord.rate_limits import RateLimits
from channels.discord.settings import DiscordSettings
from channels.outbound import HostList, TargetPolicy
from channels.outbound_http import Answer, OutboundHttp, OverHttp
from consumer.channel_options import read_options
from consumer.outcomes import Deferred, Outcome, Permanent
from consumer.pacing import MonotonicClock, Pacer, Sleep
from consumer.settings import Settings

log = logging.getLogger(__name__)

# The answer is the posted message: up to 2,000 characters of content and 6,000 of embeds, echoed
# with the webhook's details. Read it whole, or its id would be lost to a cut.
MAX_ANSWER = 256 * 1024


class DiscordProvider(OverHttp):
    name = "discord"

    def __init__(self, settings: Settings, *, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 resolver: AbstractResolver | None = None):
        own = settings.section(DiscordSettings)
        self.hosts = HostList.parse(own.discord_webhook_hosts, "discord_webhook_hosts")
        self.targets = TargetPolicy.from_setting(own.discord_allowed_targets, "discord_allowed_targets")
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = OutboundHttp(self.targets, timeout_s=own.discord_timeout_s, max_answer_bytes=MAX_ANSWER,
                                 resolver=resolver, excerpt=self.excerpt)
        self.sleep = sleep
        self.pacer = Pacer(own.discord_per_webhook_per_s, clock, sleep)
        self.limits = RateLimits(clock)
        self.max_pacing_wait_s = own.discord_max_pacing_wait_s

    async def send(self, message: dict) -> Outcome:
        hook = self._webhook(message["address"])
        if isinstance(hook, Permanent):
            return hook
        options = read_options(DiscordOptions, message.get("options"))
        if isinstance(options, Permanent):
            return options
        body = discord_message(message, options)
        if isinstance(body, Permanent):
            return body
        if parked := await self._wait_for_turn(hook.webhook_id):
            return parked
        answer = await self.http.request("POST", execute_url(hook, options),
                                         headers={"Content-Type": "application/json"},
                                         data=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        if not isinstance(answer, Answer):  # the kit's own messages may quote the URL
            return dataclasses.replace(answer, message=self.excerpt(answer.message, hook.token))
        self.limits.observe(hook.webhook_id, answer.headers)
        if throttle := throttle_of(answer):
            self.limits.throttled(hook.webhook_id, throttle.retry_after_s, throttle.is_global)
        outcome = outcome_for(answer, lambda text: self.excerpt(text, hook.token))
        log.debug("discord delivery %s to %s -> %s", message.get("delivery_id"), hook, outcome)
        return outcome

    async def _wait_for_turn(self, webhook_id: str) -> Deferred | None:
        """Wait for the webhook's rate limit to reset and for its pacing slot, or park the message
        on a retry tier when that is longer than max_pacing_wait_s: one busy webhook must not hold
        the worker's slots."""
        limited = self.limits.wait_s(webhook_id)
        if limited > self.max_pacing_wait_s:
            return Deferred("discord_rate_limited", limited)
        if limited > 0:
            await self.sleep(limited)
        return await self.pacer.turn(webhook_id, self.max_pacing_wait_s, "discord_paced")

    def _webhook(self, address: str) -> WebhookAddress | Permanent:
        hook = webhook_address(address)
        if isinstance(hook, Permanent):
            return hook
        if not self.hosts.allows(hook.host):
            return Permanent("invalid_address", f"Discord webhooks are accepted on {self.hosts} only, not "
                                                f"{hook.host[:100]!r} (discord_webhook_hosts)")
        return self.targets.screen(hook.url) or hook


def execute_url(hook: WebhookAddress, options: DiscordOptions) -> URL:
    """The webhook's URL asking Discord to wait for the post and answer with it, in the options' thread."""
    query = {"wait": "true"}
    if options.thread_id:
        query["thread_id"] = options.thread_id
    return hook.url.update_query(query)
