"""The Apprise channel's declaration for the registry (consumer/channel_specs.py): an Apprise URL
per recipient (`discord://...`, `tgram://...`, `ntfys://...`), a subject and a text or HTML part."""
from __future__ import annotations

from channels.apprise.options import AppriseOptions
from channels.apprise.settings import AppriseSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart


def check_address(address: str) -> str:
    """The URL's form, and, where this process has Apprise, that Apprise knows its scheme and can
    use it. The operator's scheme allow-list (`apprise_schemes`) is a worker setting: an address
    check gets no settings, so the provider enforces it (`scheme_not_allowed`, nothing sent)."""
    from channels.apprise.address import scheme_of, secrets_of
    from channels.apprise.log_redaction import UrlLog, install

    scheme = scheme_of(address)
    if scheme is None:
        raise AddressInvalid("not an Apprise URL (scheme://..., no spaces, at most 4096 characters)")
    try:
        from channels.apprise import plugin
    except ModuleNotFoundError as exc:
        if exc.name != "apprise":
            raise
        return address  # a gateway without the apprise extra: the worker checks the rest
    if not plugin.known(scheme):
        raise AddressInvalid(f"{scheme}:// is not an Apprise scheme")
    install()
    if plugin.service_for(address, plugin.asset(), UrlLog(secrets_of(address))) is None:
        raise AddressInvalid(f"Apprise cannot use this {scheme}:// URL (a token, host or part of it is "
                             "missing or malformed; see Apprise's page for the service)")
    return address


SPEC = ChannelSpec(
    name="apprise",
    summary="the long tail of chat and push services (Discord, Telegram, Pushover, ntfy, Gotify...) through "
            "the Apprise library",
    address="an Apprise URL (`discord://webhook_id/webhook_token`, `ntfys://host/topic`...) of a scheme in "
            "`TIDINGS_APPRISE_SCHEMES`",
    check_address=check_address,
    parts=(TemplatePart("subject", "one_line"), TemplatePart("text"), TemplatePart("html", "html")),
    options=AppriseOptions,
    settings=AppriseSettings,
    provider="channels.apprise.provider:AppriseProvider",
    providers=("apprise",),
    failures=(
        Failure("invalid_address", "permanent", "not an Apprise URL, or one Apprise cannot use"),
        Failure("scheme_not_allowed", "permanent", "the scheme is not in TIDINGS_APPRISE_SCHEMES"),
        Failure("invalid_options", "permanent", "the options do not fit the model"),
        Failure("target_refused", "permanent", "the SSRF guard refused the service's host"),
        Failure("apprise_unresolved", "transient", "the service's host did not resolve"),
        Failure("apprise_timeout", "transient", "Apprise did not finish in time"),
        Failure("apprise_failed", "transient", "the service did not take the notification"),
    ),
)
