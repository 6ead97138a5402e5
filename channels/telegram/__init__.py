"""The Telegram channel: Bot API `sendMessage` to a chat id or @channel, plain, HTML or MarkdownV2."""
