"""The Telegram channel's settings (TIDINGS_TELEGRAM_*), read by its provider through
`settings.section(TelegramSettings)`."""
from __future__ import annotations

from pydantic import Field, SecretStr

from consumer.settings import Section


class TelegramSettings(Section):
    telegram_bot_token: SecretStr | None = Field(None, description=(
        "the bot's token from @BotFather (`123456789:AA...`); required to run the worker; it travels in the "
        "request path and is never logged or shown"))
    telegram_api_base: str = Field("https://api.telegram.org", description=(
        "the Bot API base URL (a local Bot API server, a proxy or a fake on an internal host must be listed "
        "in `TIDINGS_TELEGRAM_ALLOWED_TARGETS`)"))
    telegram_allowed_targets: str | None = Field(None, description=(
        "like `TIDINGS_WEBHOOK_ALLOWED_TARGETS`, for the Bot API base URL; unset: public addresses only"))
    telegram_timeout_s: float = Field(10.0, description="timeout of one request")
    # Telegram's limits: about one message a second in one chat, about 30 a second for the whole bot.
    telegram_per_chat_per_s: float = Field(1.0, description="messages per second to one chat (0: no pacing)")
    telegram_per_s: float = Field(30.0, description="messages per second for the whole bot (0: no pacing)")
    telegram_max_pacing_wait_s: float = Field(5.0, description=(
        "longest wait for a chat's slot inside the worker; longer waits are parked on a retry tier"))
