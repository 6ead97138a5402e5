"""The sms channel: its provider(s) and what they need."""
