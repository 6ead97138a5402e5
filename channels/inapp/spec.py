"""The in-app inbox channel's declaration for the registry (consumer/channel_specs.py): every
recipient has an inbox (the address is the recipient's id); title, body and action_url template
parts; the feed API the gateway mounts; retention for `tidings db prune`."""
from __future__ import annotations

from channels.inapp.options import InboxOptions
from channels.inapp.settings import InappSettings
from consumer.channel_specs import AddressInvalid, ChannelSpec, Failure, TemplatePart
from consumer.text_rules import SINGLE_LINE, field_flaw


def check_address(address: str) -> str:
    if not address.strip():
        raise AddressInvalid("an inbox is named by the recipient's id")
    if problem := field_flaw("address", address, SINGLE_LINE):
        raise AddressInvalid(problem)
    return address


SPEC = ChannelSpec(
    name="inapp",
    summary="the in-app inbox: items in Postgres, a feed API with live updates and the `<tidings-inbox>` bell",
    address="none needed: every recipient has an inbox, named by their id",
    check_address=check_address,
    address_is_recipient=True,
    parts=(TemplatePart("title", "one_line"), TemplatePart("body"), TemplatePart("action_url", "one_line")),
    options=InboxOptions,
    settings=InappSettings,
    provider="channels.inapp.provider:InboxProvider",
    providers=("inbox",),
    failures=(
        Failure("invalid_options", "permanent", "the options do not fit the model (an action URL that is not http(s))"),
        Failure("inbox_empty", "permanent", "neither a title nor a body"),
        Failure("inbox_too_large", "permanent", "the body is over TIDINGS_INAPP_MAX_BODY_CHARS"),
    ),
    gateway_routes="channels.inapp.feed:router",
    prune="channels.inapp.retention:prune",
    docs=("A delivery becomes an item in the recipient's inbox (table `inbox_items`), written once however often "
          "the message is redone, then `sent`. The product reads it through the gateway's feed API "
          "(`/v1/inbox/...`, recipient tokens signed with `TIDINGS_INAPP_TENANT_KEYS`) or embeds the "
          "`<tidings-inbox>` bell; seen, read and archived are recorded as delivery events. See "
          "[the inbox](../inbox.md)."),
)
