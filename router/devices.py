"""The device directory (table `recipient_devices`): for a channel whose spec declares `devices`
(push), a recipient has any number of addresses, one per device, and the router fans a notification
out to one delivery per device. An address is checked and normalised by its channel's spec; a
device belongs to one recipient at a time. A device the service says is gone is forgotten by the
channel worker (`forget`)."""
from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime

import psycopg

from consumer.channel_specs import AddressInvalid, registry
from consumer.postgres import connect_async
from consumer.text_rules import SINGLE_LINE, ControlCharacter, field_flaw

log = logging.getLogger(__name__)

# A recipient with more devices than this is refused one more: a runaway registration loop must
# not turn one notification into thousands of deliveries.
MAX_DEVICES = 100


class DeviceInvalid(ValueError):
    """A device cannot be registered; the message says why."""


class DeviceCharacter(DeviceInvalid, ControlCharacter):
    """A field holds NUL or another control character."""


# A device the service says is gone, whoever it was registered to.
FORGET = "DELETE FROM recipient_devices WHERE channel = %s AND address = %s"

# Longer addresses are refused: the table's key must fit in one Postgres index entry.
MAX_ADDRESS = 2400


@functools.cache  # the registry is read once per process
def device_channels() -> tuple[str, ...]:
    return tuple(name for name, spec in registry().items() if spec.devices)


def checked(channel: str, address: str) -> str:
    """The address normalised by its channel; DeviceInvalid when the channel has no devices or the
    address is not one of its addresses."""
    spec = registry().get(channel)
    if spec is None or not spec.devices:
        raise DeviceInvalid(f"channel {channel!r} has no devices (channels with devices: "
                            f"{', '.join(device_channels()) or 'none'})")
    if not isinstance(address, str):
        raise DeviceInvalid("address: expected a string")
    if problem := field_flaw("address", address, SINGLE_LINE):
        raise DeviceCharacter(problem)
    if len(address) > MAX_ADDRESS:
        raise DeviceInvalid(f"address: longer than {MAX_ADDRESS} characters")
    try:
        return spec.check_address(address)
    except AddressInvalid as exc:
        raise DeviceInvalid(f"address: {exc}") from None


class DeviceDirectory:
    """Plain methods over one psycopg connection (autocommit)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def add(self, recipient_id: str, channel: str, address: str) -> dict:
        """Register a device for the recipient (moving it from another recipient if it was theirs)."""
        if not isinstance(recipient_id, str) or not recipient_id.strip():
            raise DeviceInvalid("recipient_id: required")
        if problem := field_flaw("recipient_id", recipient_id, SINGLE_LINE):
            raise DeviceCharacter(problem)
        address = checked(channel, address)
        with self.conn.transaction():
            count = self.conn.execute(
                "SELECT count(*) FROM recipient_devices WHERE recipient_id = %s AND channel = %s AND address <> %s",
                [recipient_id, channel, address]).fetchone()[0]
            if count >= MAX_DEVICES:
                raise DeviceInvalid(f"recipient {recipient_id!r} already has {MAX_DEVICES} {channel} devices; "
                                    "remove one first")
            added_at = self.conn.execute(
                "INSERT INTO recipient_devices AS d (channel, address, recipient_id) VALUES (%s, %s, %s)"
                " ON CONFLICT (channel, address) DO UPDATE SET recipient_id = excluded.recipient_id,"
                " added_at = CASE WHEN d.recipient_id = excluded.recipient_id THEN d.added_at ELSE now() END"
                " RETURNING added_at", [channel, address, recipient_id]).fetchone()[0]
        return device_row(channel, address, added_at)

    def list(self, recipient_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT channel, address, added_at FROM recipient_devices WHERE recipient_id = %s"
            " ORDER BY channel, added_at, address", [recipient_id]).fetchall()
        return [device_row(*row) for row in rows]

    def remove(self, recipient_id: str, channel: str, address: str) -> bool:
        try:
            address = checked(channel, address)
        except DeviceInvalid:
            return False  # never registered, since every stored address was checked
        return self.conn.execute(
            "DELETE FROM recipient_devices WHERE recipient_id = %s AND channel = %s AND address = %s",
            [recipient_id, channel, address]).rowcount == 1

    def forget(self, channel: str, address: str) -> bool:
        """The service said the device is gone: whoever it was registered to."""
        return self.conn.execute(FORGET, [channel, address]).rowcount == 1

    def lookup(self, recipient_ids: list[str]) -> dict[str, dict[str, list[str]]]:
        """recipient id -> channel -> addresses, oldest first (one query for a batch)."""
        if not recipient_ids:
            return {}
        rows = self.conn.execute(
            "SELECT recipient_id, channel, address FROM recipient_devices WHERE recipient_id = ANY(%b)"
            " ORDER BY added_at, address", [list(set(recipient_ids))]).fetchall()
        out: dict[str, dict[str, list[str]]] = {}
        for recipient_id, channel, address in rows:
            out.setdefault(recipient_id, {}).setdefault(channel, []).append(address)
        return out


def device_row(channel: str, address: str, added_at: datetime) -> dict:
    return {"channel": channel, "address": address, "added_at": added_at.isoformat()}


class DeadDevices:
    """What a channel worker with devices does when the service says a device is gone (a
    `suppressed` outcome with reason `device_unregistered`): forget it, so the next notification
    does not go to it. One connection, made when first needed; a failure is logged and the device
    is forgotten at its next refusal instead (the delivery's own record does not wait for it)."""

    REASON = "device_unregistered"

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def forget(self, channel: str, address: str) -> bool:
        async with self._lock:
            try:
                if self.conn is None or self.conn.closed or self.conn.broken:
                    self.conn = await connect_async(self.database_url)
                cursor = await self.conn.execute(FORGET, [channel, address])
                return cursor.rowcount == 1
            except psycopg.Error as exc:
                log.warning("could not forget a %s device the service refused (%s); it is forgotten at its "
                            "next refusal", channel, type(exc).__name__)
                return False

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
