"""The channels `tidings demo` delivers on, each to a local fake of its service (cli/demo_fakes.py),
apart from the fakes so that declaring the CLI's options imports no web server."""

# APNs (HTTP/2 over TLS), email and SMS have no fake.
DEMO_CHANNELS = ("webhook", "teams", "discord", "telegram", "push", "apprise", "slack")
