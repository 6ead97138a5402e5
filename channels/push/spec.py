"""The push channel's declaration for the registry (consumer/channel_specs.py): one device per
address (`fcm:<package>:<token>`, `apns:<bundle id>:<hex token>`), the subject as the title, the
text as the body and a `data` part for the app's own key/values."""
from __future__ import annotations

from channels.push.options import PushOptions
from channels.push.settings import PushSettings
from consumer.channel_specs import ChannelSpec, Failure, TemplatePart


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
    failures=(
        Failure("invalid_address", "permanent", "not a device address"),
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("push_not_configured", "permanent", "no credentials for the device's platform"),
        Failure("apns_payload_too_large", "permanent", "the payload is over APNs' limit"),
        Failure("device_unregistered", "suppressed", "the token is dead (uninstalled, expired)"),
        Failure("fcm_<code>", "transient", "FCM's 429, 408 or 5xx (QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL)"),
        Failure("fcm_<code>", "permanent", "FCM refused the message (SENDER_ID_MISMATCH, ...)"),
        Failure("fcm_token_refused", "permanent", "the service account's key was refused"),
        Failure("fcm_token_refused", "transient", "the token endpoint asked for a retry"),
        Failure("fcm_token_unreachable", "transient", "the token endpoint could not be reached"),
        Failure("apns_<reason>", "transient", "APNs' 429, 500, 503 or a passing reason (IdleTimeout, ...)"),
        Failure("apns_<reason>", "permanent", "APNs refused the message (BadTopic, ...)"),
    ),
    http_kit=True,
    compose_profile="push",
    compose_environment={"TIDINGS_PUSH_FCM_SERVICE_ACCOUNT": "${TIDINGS_PUSH_FCM_SERVICE_ACCOUNT:-}",
                         "TIDINGS_PUSH_APNS_KEY": "${TIDINGS_PUSH_APNS_KEY:-}",
                         "TIDINGS_PUSH_APNS_KEY_ID": "${TIDINGS_PUSH_APNS_KEY_ID:-}",
                         "TIDINGS_PUSH_APNS_TEAM_ID": "${TIDINGS_PUSH_APNS_TEAM_ID:-}"},
)
