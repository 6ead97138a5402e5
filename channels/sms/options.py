"""The SMS channel's options (`content.sms.options`): none yet. The message is its text part alone,
and the sender is configuration (TIDINGS_SMS_*_FROM); an entry naming an option is refused."""
from __future__ import annotations

from consumer.channel_options import ChannelOptions


class SmsOptions(ChannelOptions):
    """No options: `{}` or left out."""
