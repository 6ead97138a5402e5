"""The push channel's key material, read once at start from its settings: the Firebase service
account (JSON) and the APNs authentication key (.p8 PEM), each given as text or as a file. A
problem is a SettingsError naming the setting, never showing the key."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from channels.push.settings import PushSettings
from consumer.settings import SettingsError


def service_account(own: PushSettings) -> dict | None:
    """The service account's JSON key as a dict, or None when FCM is not configured."""
    text, setting = _text_or_file(own.push_fcm_service_account, own.push_fcm_service_account_file,
                                  "push_fcm_service_account")
    if text is None:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        raise SettingsError(f"setting {setting}: not JSON (expected a service account key file's content)") from None
    missing = [k for k in ("client_email", "private_key", "token_uri") if not isinstance(info, dict) or not info.get(k)]
    if missing or info.get("type") != "service_account":
        raise SettingsError(f"setting {setting}: not a service account key (type service_account with "
                            f"client_email, private_key and token_uri; missing {', '.join(missing) or 'type'})")
    return info


def apns_key(own: PushSettings) -> str | None:
    """The APNs authentication key's PEM text, or None when APNs is not configured."""
    text, setting = _text_or_file(own.push_apns_key, own.push_apns_key_file, "push_apns_key")
    if text is None:
        return None
    missing = [name for name in ("push_apns_key_id", "push_apns_team_id") if not getattr(own, name)]
    if missing:
        raise SettingsError(f"setting {setting} needs {' and '.join(missing)} as well")
    if "PRIVATE KEY" not in text:
        raise SettingsError(f"setting {setting}: not a PEM private key (the .p8 file's content)")
    return text


def _text_or_file(secret: SecretStr | None, path: str | None, setting: str) -> tuple[str | None, str]:
    if secret is not None and path:
        raise SettingsError(f"settings {setting} and {setting}_file: set one of them, not both")
    if secret is not None:
        return secret.get_secret_value(), setting
    if not path:
        return None, setting
    try:
        return Path(path).read_text(), f"{setting}_file"
    except (OSError, UnicodeError) as exc:
        raise SettingsError(f"setting {setting}_file: cannot read {path!r} ({type(exc).__name__})") from None
