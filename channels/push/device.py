"""A push address names one device: `<platform>:<app>:<token>` (`fcm:com.example.app:<token>`,
`apns:com.example.App:<hex>`). Read by the channel's spec and provider and by the device directory
in core, so it imports nothing beyond the registry's own module."""
from __future__ import annotations

import re
from dataclasses import dataclass

from consumer.channel_specs import AddressInvalid

PLATFORMS = ("fcm", "apns", "apns-sandbox")
_APP = re.compile(r"[A-Za-z0-9._-]{1,255}")
# APNs device tokens are hex (32 bytes today; Apple says their length may grow).
_APNS_TOKEN = re.compile(r"[0-9a-f]{64,200}")
# FCM registration tokens are opaque; today `<instance id>:<base64url>`, about 150-200 characters.
# Bounded well under what a Postgres index entry holds (the device directory's key).
_FCM_TOKEN = re.compile(r"[A-Za-z0-9:_-]{20,2048}")


@dataclass(frozen=True)
class Device:
    platform: str  # fcm, apns or apns-sandbox
    app: str       # the Android package or the iOS bundle id (APNs: the apns-topic)
    token: str     # the registration (FCM) or device (APNs) token

    @property
    def provider(self) -> str:
        """fcm or apns: the service that delivers to this device."""
        return "fcm" if self.platform == "fcm" else "apns"

    @property
    def address(self) -> str:
        return f"{self.platform}:{self.app}:{self.token}"


def parse_device(address: str) -> Device:
    """The device an address names, normalised (APNs tokens lower-cased); AddressInvalid saying why
    it is not one. FCM tokens may hold `:`, so only the first two colons split."""
    parts = address.strip().split(":", 2) if isinstance(address, str) else []
    if len(parts) != 3:
        raise AddressInvalid(f"{str(address)[:80]!r}: a push address is <platform>:<app>:<token> "
                             f"(platform {', '.join(PLATFORMS)})")
    platform, app, token = parts[0].lower(), parts[1], parts[2]
    if platform not in PLATFORMS:
        raise AddressInvalid(f"push platform {platform[:20]!r} is not one of {', '.join(PLATFORMS)}")
    if not _APP.fullmatch(app):
        raise AddressInvalid(f"push app {app[:80]!r} is not a package or bundle id (letters, digits, . _ -)")
    if platform == "fcm":
        if not _FCM_TOKEN.fullmatch(token):
            raise AddressInvalid("an FCM registration token is 20-2048 characters of letters, digits, : _ -")
    else:
        token = token.lower()
        if not _APNS_TOKEN.fullmatch(token):
            raise AddressInvalid("an APNs device token is 64-200 hexadecimal digits")
    return Device(platform, app, token)


def device_address(platform: str, app: str, token: str) -> str:
    """The address of a device, checked and normalised as parse_device does."""
    if ":" in platform or ":" in app:  # it would move into the token when the address is split
        raise AddressInvalid(f"push platform and app hold no ':' ({platform[:20]!r}, {app[:80]!r})")
    return parse_device(f"{platform}:{app}:{token}").address
