"""The push channel's declaration for the registry (consumer/channel_specs.py): one device per
address (`fcm:<package>:<token>`, `apns:<bundle id>:<hex token>`), the subject as the title, the
text as the body and a `data` part for the app's own key/values."""
from __future__ import annotations

from channels.push.options import PushOptions
from channels.push.settings import PushSettings
from consumer.channel_specs import ChannelSpec, TemplatePart


def check_address(address: str) -> str:
    from channels.push.device import parse_device  # raises AddressInvalid saying why

    return parse_device(address).address


SPEC = ChannelSpec(
    name="push",
    summary="Mobile push: Firebase Cloud Messaging (Android, iOS, web) and Apple Push Notification service",
    address=("one device: `fcm:<Android package>:<registration token>`, `apns:<bundle id>:<device token>` or "
             "`apns-sandbox:<bundle id>:<device token>` (development builds)"),
    check_address=check_address,
    devices=True,  # `tidings recipients devices`: a notification goes to each of the recipient's devices
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text"), TemplatePart("data", "json")),
    options=PushOptions,
    settings=PushSettings,
    provider="channels.push.provider:PushProvider",
    providers=("fcm", "apns"),
    compose_profile="push",
    compose_environment={"TIDINGS_PUSH_FCM_SERVICE_ACCOUNT": "${TIDINGS_PUSH_FCM_SERVICE_ACCOUNT:-}",
                         "TIDINGS_PUSH_APNS_KEY": "${TIDINGS_PUSH_APNS_KEY:-}",
                         "TIDINGS_PUSH_APNS_KEY_ID": "${TIDINGS_PUSH_APNS_KEY_ID:-}",
                         "TIDINGS_PUSH_APNS_TEAM_ID": "${TIDINGS_PUSH_APNS_TEAM_ID:-}"},
)
