"""The webhook channel: its provider(s) and what they need."""
