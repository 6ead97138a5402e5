"""Settings per owner: every environment variable the docs mention (README.md and docs/) is still
read, by the owner whose model declares it (the runtime, a channel, the gateway), and `tidings
config show` prints the effective values with every secret masked."""
from __future__ import annotations

import json
import re
from pathlib import Path

import gateway.settings  # noqa: F401 - registers the gateway's model
from consumer.channel_specs import channel_names
from consumer.settings import known_sections
from tests.cli.run import tidings

ROOT = Path(__file__).parents[2]
# Every page a user reads a variable on: the README and docs/ (the generated pages and the hand-written ones).
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# The config file itself, and variables of the test suite and the benchmarks, not of a process.
NOT_A_SETTING = {"TIDINGS_CONFIG", "TIDINGS_TEST_KAFKA", "TIDINGS_TEST_DATABASE_URL", "TIDINGS_TEST_OUTAGE_S",
                 "TIDINGS_BENCH_DATABASE_URL", "TIDINGS_FUZZ_EXAMPLES"}


def documented() -> set[str]:
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    return set(re.findall(r"\bTIDINGS_[A-Z0-9_]*[A-Z0-9]\b", text)) - NOT_A_SETTING


def owner_of(field_name: str) -> tuple[str, object]:
    for model in known_sections():
        if field_name in model.model_fields:
            name = model.__name__
            owner = ("runtime" if name == "Settings" else "gateway" if name == "GatewaySettings"
                     else f"channel {next(c for c in channel_names() if name.lower().startswith(c))}")
            return owner, model.model_fields[field_name]
    raise AssertionError(f"no settings model declares {field_name}")


def sample(field) -> tuple[str, object]:
    """A value to set (as text) and what config show prints for it."""
    text = str(field.annotation)
    if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("type") == "rate":
        return "5/1d", "5/1d"  # checked when the settings are read
    if "SecretStr" in text:
        return "a-secret-value-0123456789abcdef0123456789", "**********"
    if text.startswith("int") or text == "<class 'int'>":
        return "7", 7
    if "float" in text:
        return "7.5", 7.5
    if "dict" in text:
        return '{"a": "b"}', {"a": "b"}
    return "sample-value", "sample-value"


def test_every_documented_variable_is_read_by_its_owner_and_shown_masked():
    assert len(DOCUMENTS) > 15 and {"TIDINGS_SMTP_HOST", "TIDINGS_GATEWAY_MAX_BATCH"} <= documented()
    tier_channels = {f"TIDINGS_RETRY_TIERS_{c.upper()}" for c in channel_names()}
    environ, expected = {}, {}
    for variable in sorted(documented() - tier_channels):
        field_name = variable.removeprefix("TIDINGS_").lower()
        owner, field = owner_of(field_name)
        text, shown = sample(field)
        environ[variable], expected[(owner, field_name)] = text, shown
    environ["TIDINGS_RETRY_TIERS_SMS"] = "1s,2s"
    result = tidings(None, "config", "show", "--json", **environ)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    wrong = {key: shown[key[0]][key[1]] for key, value in expected.items() if shown[key[0]][key[1]] != value}
    assert wrong == {}
    assert shown["runtime"]["retry_tiers_by_channel"] == {"sms": "1s,2s"}
    assert "a-secret-value" not in result.stdout and "a-secret-value" not in result.stderr


def test_secrets_are_secret_str_in_their_owners_models():
    owners = {name: model.__module__ for model in known_sections() for name, field in model.model_fields.items()
              if "SecretStr" in str(field.annotation)}
    known = {"smtp_password": "channels.email.settings", "slack_bot_token": "channels.slack.settings",
             "sms_twilio_auth_token": "channels.sms.settings", "sms_http_headers": "channels.sms.settings",
             "webhook_signing_secrets": "channels.webhook.settings",
             "webhook_credentials": "channels.webhook.settings",
             "webhook_endpoint_secrets": "channels.webhook.settings",
             "gateway_jwt_secret": "gateway.settings", "gateway_static_tokens": "gateway.settings",
             "gateway_unsubscribe_secret": "gateway.settings"}
    assert {name: owners.get(name) for name in known} == known
    # Every other channel's secrets are named after it and live in its own folder.
    others = {name: module for name, module in owners.items() if name not in known}
    assert all(module == f"channels.{name.split('_')[0]}.settings" for name, module in others.items()), others


def test_the_plain_form_masks_secrets_and_names_every_owner(tmp_path):
    config = tmp_path / "tidings.toml"
    config.write_text('[tidings]\nsmtp_host = "mail.example.com"\n')
    result = tidings(None, "config", "show", TIDINGS_CONFIG=str(config), TIDINGS_SMTP_PASSWORD="hunter2-secret")
    assert result.returncode == 0, result.stderr
    owners = re.findall(r"^# (.+)$", result.stdout, flags=re.M)
    assert owners == ["runtime", *(f"channel {c}" for c in channel_names()), "gateway"]
    assert "TIDINGS_SMTP_HOST=mail.example.com" in result.stdout  # from the config file
    assert "TIDINGS_SMTP_PASSWORD=**********" in result.stdout and "hunter2" not in result.stdout
