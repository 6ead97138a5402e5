"""Slack provider throughput against the fake Slack on loopback (tests/fixtures/slack.py).

  python -m bench.slack [--messages 2000] [--channels 500] [--per-channel-per-s 1]

Sends N messages at once, as the channel worker does with a batch, through one SlackProvider:
1. chat.postMessage, unpaced, and 2. paced with every message to its own channel (the pacer's
cost when it never has to wait), 3. paced over --channels channels, where the pace is the limit
(expected about channels x per-channel rate), and 4. incoming webhooks, unpaced. The fake runs in
this process, so the numbers are a floor for the provider, not Slack's capacity."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid

from channels.slack.provider import SlackProvider
from consumer.outcomes import Delivered
from consumer.settings import Settings
from tests.fixtures.slack import LOOPBACK_WEBHOOKS, TOKEN, FakeSlack
from channels.slack.settings import SlackSettings


def messages(addresses: list[str]) -> list[dict]:
    return [{"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "address": address,
             "subject": None, "text": f"message {i}", "options": json.dumps({"unfurl_links": False})}
            for i, address in enumerate(addresses)]


async def run(settings: Settings, batch: list[dict]) -> tuple[float, int]:
    provider = SlackProvider(settings)
    await provider.start()
    try:
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(provider.send(m) for m in batch))
        elapsed = time.perf_counter() - started
    finally:
        await provider.close()
    return elapsed, sum(isinstance(o, Delivered) for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=500, help="channels in the pace-limited run")
    parser.add_argument("--per-channel-per-s", type=float, default=1.0)
    args = parser.parse_args()
    logging.getLogger("channels.slack.threads").setLevel(logging.ERROR)  # no database here, on purpose
    n = args.messages
    own = [f"C{i:07d}" for i in range(n)]
    shared = [f"C{i % args.channels:07d}" for i in range(n)]
    slack = FakeSlack(channels=own)
    base = Settings(slack_bot_token=TOKEN, slack_api_url=slack.api_url, **LOOPBACK_WEBHOOKS)
    runs = [
        ("chat.postMessage, unpaced", base.replace(slack_per_channel_per_s=0.0), own),
        (f"chat.postMessage, paced {args.per_channel_per_s}/s, {n} channels",
         base.replace(slack_per_channel_per_s=args.per_channel_per_s), own),
        (f"chat.postMessage, paced {args.per_channel_per_s}/s, {args.channels} channels",
         base.replace(slack_per_channel_per_s=args.per_channel_per_s), shared),
        ("incoming webhook, unpaced", base.replace(slack_per_channel_per_s=0.0), [slack.webhook_url()] * n),
    ]
    try:
        for label, settings, addresses in runs:
            elapsed, delivered = asyncio.run(run(settings, messages(addresses)))
            expected = ""
            per_s = settings.section(SlackSettings).slack_per_channel_per_s
            if addresses is shared and per_s > 0:
                slots = -(-n // args.channels)  # the busiest channel's messages
                expected = f"  (pace bound: {(slots - 1) / per_s:.1f}s minimum)"
            print(f"{label:55s} {delivered:6d}/{n} delivered in {elapsed:6.2f}s = {n / elapsed:8.0f} msg/s{expected}")
    finally:
        slack.close()


if __name__ == "__main__":
    main()
