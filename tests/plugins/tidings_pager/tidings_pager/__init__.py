"""A tiny channel plugin: `pager` posts each message as JSON to the recipient's pager URL.
Only what a plugin needs: a ChannelSpec and a provider that returns Outcomes."""
from __future__ import annotations

import aiohttp

from consumer.channel_specs import AddressInvalid, ChannelSpec, TemplatePart
from consumer.outcomes import Outcome, Transient, classify_http


def check_address(address: str) -> str:
    if not address.startswith(("http://", "https://")):
        raise AddressInvalid(f"{address!r} is not a pager URL")
    return address


class PagerProvider:
    name = "pager"

    def __init__(self, settings) -> None:
        self.session: aiohttp.ClientSession | None = None

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, message: dict) -> Outcome:
        body = {"notification_id": str(message["notification_id"]), "delivery_id": str(message["delivery_id"]),
                "title": message.get("subject"), "text": message.get("text")}
        try:
            async with self.session.post(message["address"], json=body) as response:
                return classify_http(response.status, (await response.text())[:200])
        except aiohttp.ClientError as exc:
            return Transient(type(exc).__name__, str(exc))


SPEC = ChannelSpec(
    name="pager",
    summary="a pager: each message posted as JSON to the recipient's pager URL",
    address="a pager URL",
    check_address=check_address,
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text")),
    provider="tidings_pager:PagerProvider",
    providers=("pager",),
)
