"""Push provider: reads the device from the address and hands the message to FCM (`fcm:` devices)
or APNs (`apns:`, `apns-sandbox:`). Either may be left unconfigured (its devices then fail as
`push_not_configured`); with neither, the worker does not start."""
from __future__ import annotations

import functools
import time
from typing import Callable

from aiohttp.abc import AbstractResolver

from channels.answer_excerpt import AnswerExcerpt, secret_values
from channels.outbound import TargetPolicy
from channels.push.credentials import apns_key, service_account
from channels.push.device import parse_device
from channels.push.options import PushOptions
from channels.push.settings import PushSettings
from consumer.channel_options import read_options
from consumer.channel_specs import AddressInvalid
from consumer.outcomes import Outcome, Permanent
from consumer.settings import Settings, SettingsError

MISSING = {"fcm": "TIDINGS_PUSH_FCM_SERVICE_ACCOUNT (or _FILE)",
           "apns": "TIDINGS_PUSH_APNS_KEY (or _FILE) with TIDINGS_PUSH_APNS_KEY_ID and TIDINGS_PUSH_APNS_TEAM_ID"}
# Options texts repeat (every device of a notification, every push of a template): the last ones
# read are kept, validated, so that a repeat costs a lookup instead of pydantic's validation.
OPTIONS_KEPT = 512


class PushProvider:
    name = "push"

    def __init__(self, settings: Settings, *, resolver: AbstractResolver | None = None,
                 clock: Callable[[], float] = time.time):
        own = settings.section(PushSettings)
        info, key = service_account(own), apns_key(own)
        if info is None and key is None:
            raise SettingsError(f"the push channel needs FCM ({MISSING['fcm']}) or APNs ({MISSING['apns']}), or both")
        policy = TargetPolicy.from_setting(own.push_allowed_targets, "push_allowed_targets")
        # The keys may come from files, which the settings' own redaction does not know.
        secrets = secret_values(settings) | {info["private_key"] if info else "", key or ""}
        self.excerpt = AnswerExcerpt(secrets)
        self.options_for = functools.lru_cache(maxsize=OPTIONS_KEPT)(functools.partial(read_options, PushOptions))
        self.senders = {}
        if info is not None:
            from channels.push.fcm import FcmSender  # google-auth only where FCM is configured
            self.senders["fcm"] = FcmSender(own, info, policy, self.excerpt, resolver=resolver, clock=clock)
        if key is not None:
            from channels.push.apns import ApnsSender  # httpx and h2 only where APNs is configured
            self.senders["apns"] = ApnsSender(own, key, policy, self.excerpt, resolver=resolver, clock=clock)

    def name_for(self, message: dict) -> str:
        return "apns" if str(message.get("address", "")).lower().startswith("apns") else "fcm"

    async def start(self) -> None:
        for sender in self.senders.values():
            await sender.start()

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()

    async def send(self, message: dict) -> Outcome:
        try:
            device = parse_device(message["address"])
        except AddressInvalid as exc:
            return Permanent("invalid_address", str(exc), provider=self.name_for(message))
        sender = self.senders.get(device.provider)
        if sender is None:
            return Permanent("push_not_configured", f"{device.platform} devices need {MISSING[device.provider]}",
                             provider=device.provider)
        raw = message.get("options")
        # Only text is a cache key; anything else is refused by read_options as it always was.
        options = self.options_for(raw) if isinstance(raw, str) else read_options(PushOptions, raw)
        if isinstance(options, Permanent):
            return options
        return await sender.send(device, message, options)
