"""The push channel's settings (TIDINGS_PUSH_*), read by its provider through
`settings.section(PushSettings)`. FCM, APNs or both may be configured; neither stops the worker."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class PushSettings(Section):
    push_fcm_service_account: SecretStr | None = Field(None, description=(
        "the Firebase service account's JSON key (the text); or `TIDINGS_PUSH_FCM_SERVICE_ACCOUNT_FILE`"))
    push_fcm_service_account_file: str | None = Field(None, description=(
        "path of the Firebase service account's JSON key file"))
    push_fcm_project_id: str | None = Field(None, description=(
        "the Firebase project messages are sent in; unset: the service account's `project_id`"))
    push_fcm_api_base: str = Field("https://fcm.googleapis.com", description="the FCM HTTP v1 API's base URL")
    push_apns_key: SecretStr | None = Field(None, description=(
        "the APNs authentication key (the .p8 file's PEM text); or `TIDINGS_PUSH_APNS_KEY_FILE`"))
    push_apns_key_file: str | None = Field(None, description="path of the APNs authentication key (.p8)")
    push_apns_key_id: str | None = Field(None, description="the APNs key's 10-character Key ID")
    push_apns_team_id: str | None = Field(None, description="the Apple developer Team ID that owns the key")
    push_apns_production_url: str = Field("https://api.push.apple.com", description=(
        "APNs for `apns:` devices (apps from the App Store or TestFlight)"))
    push_apns_sandbox_url: str = Field("https://api.sandbox.push.apple.com", description=(
        "APNs for `apns-sandbox:` devices (development builds)"))
    push_apns_ca_file: str | None = Field(None, description=(
        "an extra CA bundle to trust for APNs (a test double or a TLS-inspecting proxy); the system's "
        "CAs are always trusted"))
    push_timeout_s: float = Field(10.0, description="timeout of one request to FCM, APNs or Google's token endpoint")
    push_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for FCM's, Google's token and APNs' URLs; unset: "
        "public addresses only"))
