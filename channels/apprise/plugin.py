"""The Apprise service for one URL, made the way Tidings needs it: Apprise's own retries off (the
retry tiers decide), redirects never followed, TLS always verified, no background waiting inside
Apprise, and the channel's timeouts on every request. The one module that imports Apprise."""
from __future__ import annotations

import apprise
from apprise.manager_plugins import NotificationManager

from channels.apprise.log_redaction import UrlLog

_PLUGINS = NotificationManager()  # Apprise's registry of schemes (one per process)


def known(scheme: str) -> bool:
    return scheme in _PLUGINS


def names_host(scheme: str) -> bool:
    """Whether the scheme's URL names the host Apprise connects to (a self-hosted ntfy, Gotify,
    Mattermost...): Apprise declares a `host` token for it. The others talk to their service's
    own hosts, and their URL's "host" is an id or a token."""
    return known(scheme) and "host" in (getattr(_PLUGINS[scheme], "template_tokens", None) or {})


def asset() -> apprise.AppriseAsset:
    # async_mode off and no service timeout: Apprise sends in the calling thread (the provider's
    # bounded pool) instead of handing the send to a thread of its own and abandoning it on timeout.
    return apprise.AppriseAsset(async_mode=False, http_redirects=False, service_timeout=0, secure_logging=True)


def service_for(address: str, asset: apprise.AppriseAsset, log: UrlLog, timeout_s: float | None = None):
    """Apprise's plugin for the URL with Tidings' limits imposed on it, or None when Apprise cannot
    use the URL (what it logged is redacted in `log`)."""
    with log.active():
        service = apprise.Apprise.instantiate(address, asset=asset)
    if service is None:
        return None
    # The URL comes from an event: `?retry=`, `?optional=yes` (a failure reported as success),
    # `?redirect=yes`, `?verify=no`, `?cto=`/`?rto=` are not the sender's to choose.
    service.retry, service.optional, service.redirects, service.verify_certificate = 0, False, False, True
    if timeout_s is not None:
        service.socket_connect_timeout = service.socket_read_timeout = timeout_s
    return service


def notify(service, asset: apprise.AppriseAsset, log: UrlLog, *, title: str, body: str, body_format: str,
           notify_type: str):
    """Send through Apprise (blocking: run it in a worker thread). Apprise's result: true when the
    service took the message, with a `status` (SUCCESS, FAILURE, TIMEOUT) from Apprise 2.x."""
    with log.active():
        notifier = apprise.Apprise(asset=asset)
        notifier.add(service)
        return notifier.notify(body=body, title=title, body_format=body_format, notify_type=notify_type)
