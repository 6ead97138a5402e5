"""Telegram provider: each message is one Bot API `sendMessage` to the recipient's chat, paced per
chat and for the whole bot, through the outbound HTTP kit (SSRF guard on the operator's API base,
timeouts, capped answers). The bot token is part of the request path, so no URL is ever put in
an outcome, and every excerpt of an answer has the token redacted."""
from __future__ import annotations

import asyncio
import json
import re
import time

from aiohttp.abc import AbstractResolver
from pydantic import SecretStr

from channels.answer_excerpt import AnswerExcerpt
from channels.outbound import TargetPolicy, parse_url
from channels.outbound_http import Answer, OutboundHttp, OverHttp
from channels.telegram.answers import PROVIDER, outcome_for
from channels.telegram.options import TelegramOptions
from channels.telegram.request import send_message_body
from channels.telegram.settings import TelegramSettings
from consumer.channel_options import read_options
from consumer.outcomes import Outcome, Permanent
from consumer.pacing import MonotonicClock, Pacer, Sleep
from consumer.settings import Settings, SettingsError

# sendMessage answers with the Message it sent, text and entities included (4096 characters).
MAX_ANSWER = 64 * 1024
# A bot token as @BotFather issues it: the bot's id, a colon, a secret. Anything else would also
# change the request path.
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


def bot_token(value: SecretStr | None) -> str:
    token = value.get_secret_value().strip() if value is not None else ""
    if not token:
        raise SettingsError("telegram_bot_token: required (TIDINGS_TELEGRAM_BOT_TOKEN, the token @BotFather gave)")
    if not _TOKEN.fullmatch(token):
        raise SettingsError("telegram_bot_token: not a bot token (expected <bot id>:<secret>)")
    return token


class TelegramProvider(OverHttp):
    name = PROVIDER

    def __init__(self, settings: Settings, *, clock: MonotonicClock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 resolver: AbstractResolver | None = None):
        own = settings.section(TelegramSettings)
        token = bot_token(own.telegram_bot_token)
        base = parse_url(own.telegram_api_base.rstrip("/"))
        if isinstance(base, Permanent):
            raise SettingsError(f"telegram_api_base: {base.message}")
        self._send_message_url = base / f"bot{token}" / "sendMessage"
        self.targets = TargetPolicy.from_setting(own.telegram_allowed_targets, "telegram_allowed_targets")
        self.excerpt = AnswerExcerpt.from_settings(settings)
        self.http = OutboundHttp(self.targets, timeout_s=own.telegram_timeout_s, max_answer_bytes=MAX_ANSWER,
                                 resolver=resolver, excerpt=self.excerpt)
        self.per_chat = Pacer(own.telegram_per_chat_per_s, clock, sleep)
        self.per_bot = Pacer(own.telegram_per_s, clock, sleep)
        self.max_pacing_wait_s = own.telegram_max_pacing_wait_s

    async def send(self, message: dict) -> Outcome:
        options = read_options(TelegramOptions, message.get("options"))
        if isinstance(options, Permanent):
            return options
        body = send_message_body(message, options)
        if isinstance(body, Permanent):
            return body
        chat = str(body["chat_id"])
        if parked := await self.per_chat.turn(chat, self.max_pacing_wait_s, "telegram_paced"):
            return parked
        await self.per_bot.wait_async()
        answer = await self.http.request("POST", self._send_message_url, headers={"Content-Type": "application/json"},
                                         data=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        if not isinstance(answer, Answer):
            return answer
        return outcome_for(answer.status, answer.text, answer.retry_after_s(), self.excerpt)
