"""The push channel's options (`content.push.options`): what FCM and APNs both know (collapse key,
sound, badge, thread, push type), the custom data (also the template's `data` part), and FCM's
per-platform overrides. Read by channels/push/fcm.py and apns.py."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from consumer.channel_options import ChannelOptions

# APNs refuses an apns-collapse-id over 64 bytes (BadCollapseId); FCM keeps 4 keys per device.
MAX_COLLAPSE_KEY_BYTES = 64
# Keys APNs and FCM keep for themselves in the custom data.
_RESERVED_DATA_KEYS = frozenset({"aps", "from", "notification", "message_type", "collapse_key"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")


class PushOptions(ChannelOptions):
    data: dict[str, Any] | None = Field(None, description=(
        "custom key/values delivered to the app (FCM `data`, values other than strings as JSON text; "
        "APNs: keys beside `aps`); the template's `data` part"))
    push_type: Literal["alert", "background"] = Field("alert", description=(
        "`alert` shows the subject and text; `background` wakes the app with the data only (APNs "
        "content-available at priority 5, an FCM data message)"))
    collapse_key: str | None = Field(None, description=(
        "a newer message with the same key replaces an undelivered older one (FCM collapse_key, "
        "apns-collapse-id; at most 64 bytes)"))
    sound: str | None = Field(None, description="the sound to play (`default` or a file in the app)")
    badge: int | None = Field(None, ge=0, description="the number on the app icon (iOS; 0 removes it)")
    thread_id: str | None = Field(None, description="groups notifications (APNs thread-id, Android tag)")
    category: str | None = Field(None, description=(
        "the notification category (APNs category, Android click_action) that picks the app's actions"))
    mutable_content: bool = Field(False, description="lets an iOS notification service extension change it")
    android: dict[str, Any] | None = Field(None, description="merged into the FCM message's `android` object")
    apns: dict[str, Any] | None = Field(None, description="merged into the FCM message's `apns` object")
    webpush: dict[str, Any] | None = Field(None, description="merged into the FCM message's `webpush` object")

    @field_validator("collapse_key")
    @classmethod
    def _short_key(cls, key: str | None) -> str | None:
        if key is not None and not 0 < len(key.encode()) <= MAX_COLLAPSE_KEY_BYTES:
            raise ValueError(f"a collapse key is 1-{MAX_COLLAPSE_KEY_BYTES} bytes")
        return key

    @field_validator("data")
    @classmethod
    def _own_keys(cls, data: dict[str, Any] | None) -> dict[str, Any] | None:
        # Every push with data asks: sorted only for the refusal's message.
        reserved = [k for k in data or () if k in _RESERVED_DATA_KEYS or k.startswith(_RESERVED_DATA_PREFIXES)]
        if reserved:
            raise ValueError(f"data keys {', '.join(sorted(reserved))} are reserved by FCM or APNs")
        return data
