"""The Telegram channel's declaration for the registry (consumer/channel_specs.py): a chat id or
@channel; plain `text`, HTML-escaped `html` and MarkdownV2-escaped `markdown` template parts, the
subject a bold first line."""
from __future__ import annotations

import re

from channels.telegram.options import TelegramOptions
from channels.telegram.settings import TelegramSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart

# A user's, group's or channel's id (supergroups and channels are -100...), or a public channel.
_CHAT_ID = re.compile(r"-?[1-9][0-9]{0,15}")
_CHANNEL_USERNAME = re.compile(r"@[A-Za-z0-9_]{5,32}")


def check_address(address: str) -> str:
    address = address.strip()
    if not (_CHAT_ID.fullmatch(address) or _CHANNEL_USERNAME.fullmatch(address)):
        raise AddressInvalid(f"{address[:80]!r} is neither a Telegram chat id (123456789, -1001234567890) nor "
                             "a public channel (@channelusername)")
    return address


SPEC = ChannelSpec(
    name="telegram",
    summary="Telegram: Bot API sendMessage to a chat id or @channel, plain, HTML or MarkdownV2, paced per chat",
    address="a Telegram chat id (123456789, -1001234567890) or a public channel (@channelusername)",
    check_address=check_address,
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text"), TemplatePart("html", "html"),
           TemplatePart("markdown", escape="markdownv2")),
    options=TelegramOptions,
    settings=TelegramSettings,
    provider="channels.telegram.provider:TelegramProvider",
    providers=("telegram",),
    failures=(
        Failure("invalid_options", "permanent", "the options do not fit the model or the text part"),
        Failure("telegram_empty_text", "permanent", "no text or subject"),
        Failure("telegram_text_too_long", "permanent", "over 4,096 characters once parsed"),
        Failure("telegram_throttled", "transient", "429: waits as long as Telegram says"),
        Failure("opted_out", "suppressed", "the user blocked the bot or left the chat"),
        Failure("telegram_forbidden", "permanent", "the bot may not post in the chat"),
        Failure("telegram_unauthorized", "permanent", "the bot token was refused"),
        Failure("telegram_chat_migrated", "permanent", "the group became a supergroup with a new id"),
        Failure("telegram_chat_not_found", "permanent", "no such chat"),
        Failure("telegram_bad_markup", "permanent", "the HTML or MarkdownV2 does not parse"),
        Failure("telegram_bad_request", "permanent", "another 400"),
        Failure("telegram_http_<status>", "transient", "408, 425 or 5xx"),
        Failure("telegram_http_<status>", "permanent", "any other refusal"),
    ),
    http_kit=True,
    # docker-compose.yml: it sends nothing without a bot token, so it waits behind a profile.
    compose_profile="telegram",
    compose_environment={"TIDINGS_TELEGRAM_BOT_TOKEN": "${TIDINGS_TELEGRAM_BOT_TOKEN:-}"},
)
