"""The SMS channel: validates the number (E.164, an allowed kind) and the length (segments, 1,600
cap) once, then tries the configured providers in order, skipping any whose circuit breaker
(consumer/circuit_breaker.py) refuses: open, or half-open with its one probe out."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Callable

from channels.sms.settings import SmsSettings
from channels.provider import Provider
from channels.sms.http_provider import HttpSms
from channels.sms.numbers import parse_allowed_kinds, to_e164
from channels.sms.sns import SnsSms
from channels.sms.segments import check_length, estimate_cost, parse_prices
from channels.sms.twilio_provider import TwilioSms
from consumer.circuit_breaker import OPEN, CircuitBreaker
from consumer.outcomes import Delivered, Outcome, Permanent, Suppressed, Transient
from consumer.settings import Settings, SettingsError

SMS_PROVIDERS: dict[str, Callable[[Settings], Provider]] = {"twilio": TwilioSms, "sns": SnsSms, "http": HttpSms}


class SmsProvider:
    name = "sms"

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic,
                 providers: list[Provider] | None = None):
        own = settings.section(SmsSettings)
        self.region = own.sms_default_region
        try:
            self.prices = parse_prices(own.sms_prices)
            self.allowed_kinds = parse_allowed_kinds(own.sms_allowed_number_types)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if providers is None:
            names = [n.strip() for n in own.sms_providers.split(",") if n.strip()]
            unknown = [n for n in names if n not in SMS_PROVIDERS]
            if unknown or not names:
                raise SettingsError(f"sms_providers: {own.sms_providers!r} (known: {', '.join(SMS_PROVIDERS)})")
            providers = [SMS_PROVIDERS[n](settings) for n in names]
        self.providers = providers
        # At least one failure opens a circuit (0 has always meant 1 here).
        self.circuits = {p.name: CircuitBreaker(own.sms_circuit_cooldown_s, max(1, own.sms_circuit_failures),
                                                clock) for p in providers}

    def name_for(self, message: dict) -> str:
        # Which provider delivers is only known afterwards: see Delivered.detail {"provider": ...}.
        return self.name

    def open_circuits(self) -> dict[str, int]:
        """1 per provider whose breaker is open now (tidings_circuit_breakers_open)."""
        return {name: int(circuit.state == OPEN) for name, circuit in self.circuits.items()}

    async def start(self) -> None:
        for provider in self.providers:
            await provider.start()

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()

    async def send(self, message: dict) -> Outcome:
        number = to_e164(message["address"], self.region, self.allowed_kinds)
        if isinstance(number, Permanent):
            return number
        text = message.get("text") or message.get("subject") or ""
        length = check_length(text)
        if isinstance(length, Permanent):
            return length
        outgoing = {**message, "address": number, "text": text}
        last: Outcome | None = None
        for provider in self.providers:
            circuit = self.circuits[provider.name]
            admission = circuit.admit()
            if admission is None:
                continue
            try:
                outcome = await provider.send(outgoing)
            except BaseException:  # cancelled, or a defect: no verdict on the provider
                circuit.released(admission)
                raise
            if isinstance(outcome, Transient):
                circuit.failed(admission)
                last = replace(outcome, provider=provider.name)
                continue
            circuit.succeeded(admission)  # a permanent answer is about the message, not the provider
            if isinstance(outcome, Delivered):
                detail = {"provider": provider.name, "segments": length.segments, "encoding": length.encoding}
                return Delivered(outcome.status_code, outcome.provider_message_id,
                                 estimate_cost(length.segments, self.prices.get(provider.name)),
                                 "USD" if provider.name in self.prices else None, json.dumps(detail),
                                 provider=provider.name)
            if isinstance(outcome, Permanent) and outcome.error_class == "opted_out":
                return Suppressed("opted_out", outcome.message, outcome.status_code, provider=provider.name)
            return replace(outcome, provider=provider.name)
        if last is not None:
            return last
        wait = min(c.retry_after_s() for c in self.circuits.values())
        return Transient("circuit_open", "every SMS provider's circuit breaker is open", None, wait)
