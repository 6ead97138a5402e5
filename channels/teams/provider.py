"""Teams provider: posts each message as an Adaptive Card to the recipient's Workflows (Power
Automate) or incoming-webhook URL, paced per URL, through the outbound HTTP kit (SSRF guard,
timeouts, capped answers). The URL comes from the event, so only the configured Teams hosts are
accepted (anything else is `invalid_address`, nothing sent)."""
from __future__ import annotations

import asyncio
import json
import time

from aiohttp.abc import AbstractResolver
from yarl import URL

from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import HostList, TargetPolicy, parse_url
from channels.outbound_http import Answer, OutboundHttp, OverHttp
from channels.teams.answers import outcome_for
from channels.teams.card import card_of, teams_message
from channels.teams.options import TeamsOptions
from channels.teams.settings import TeamsSettings
from consumer.channel_options import read_options
from consumer.outcomes import Outcome, Permanent
from consumer.pacing import MonotonicClock, Pacer, Sleep
from consumer.settings import Settings

# A card's answer is small; Teams caps the card itself at about 28 KB.
MAX_ANSWER = 16 * 1024


class TeamsProvider(OverHttp):
    name = "teams"

    def __init__(self, settings: Settings, *, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 resolver: AbstractResolver | None = None):
        own = settings.section(TeamsSettings)
        self.hosts = HostList.parse(own.teams_webhook_hosts, "teams_webhook_hosts")
        self.targets = TargetPolicy.from_setting(own.teams_allowed_targets, "teams_allowed_targets")
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = OutboundHttp(self.targets, timeout_s=own.teams_timeout_s, max_answer_bytes=MAX_ANSWER,
                                 resolver=resolver, excerpt=self.excerpt)
        self.pacer = Pacer(own.teams_per_webhook_per_s, clock, sleep)
        self.max_pacing_wait_s = own.teams_max_pacing_wait_s

    async def send(self, message: dict) -> Outcome:
        target = self._target(message["address"])
        if isinstance(target, Permanent):
            return target
        options = read_options(TeamsOptions, message.get("options"))
        if isinstance(options, Permanent):
            return options
        body = teams_message(card_of(message, options.card))
        url = str(target)
        if parked := await self.pacer.turn(url, self.max_pacing_wait_s, "teams_paced"):
            return parked
        answer = await self.http.request("POST", target, headers={"Content-Type": "application/json"},
                                         data=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        if not isinstance(answer, Answer):
            return answer
        return outcome_for(answer.status, answer.text, answer.retry_after_s(), self.excerpt)

    def _target(self, address: str) -> URL | Permanent:
        target = parse_url(address)
        if isinstance(target, Permanent):
            return target
        if not self.hosts.allows(target.raw_host or ""):
            return Permanent("invalid_address", f"Teams URLs are accepted on {self.hosts} only, not "
                                                f"{(target.raw_host or '')[:100]!r} (teams_webhook_hosts)")
        return self.targets.screen(target) or target
