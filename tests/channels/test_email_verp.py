"""The email channel's VERP return path against a real SMTP server: with TIDINGS_SMTP_BOUNCE_ADDRESS
set, MAIL FROM names the delivery (and the From header stays the sender's); without it, MAIL FROM is
the From address as before; the address is read back only for this bounce address."""
from __future__ import annotations

import uuid

import pytest

from channels.email.provider import EmailProvider
from channels.email.verp import delivery_of, delivery_of_message_id, return_path
from consumer.outcomes import Delivered
from consumer.settings import Settings, SettingsError
from tests.channels.test_email import SENDER, channel_message, send_all

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def plain_settings(server, **overrides) -> Settings:
    return Settings(smtp_host=server.host, smtp_port=server.port, smtp_tls="none", smtp_from=SENDER,
                    smtp_timeout_s=10.0, smtp_message_id_domain="tidings.test", **overrides)


def test_mail_from_is_the_bounce_address_naming_the_delivery(smtp_server):
    server = smtp_server(tls="none", auth=False)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    outcomes = send_all(plain_settings(server, smtp_bounce_address="bounces@example.com"),
                        [channel_message(first), channel_message(second, options={"cc": ["grace@example.com"]})])
    assert all(isinstance(o, Delivered) for o in outcomes)
    by_id = {r.email["Message-ID"]: r for r in server.received}
    for delivery_id in (first, second):
        got = by_id[f"<{delivery_id}@tidings.test>"]
        assert got.mail_from == f"bounces+{delivery_id}@example.com"
        assert got.email["From"] == SENDER and "bounces+" not in got.content.decode()
        assert delivery_of("bounces@example.com", got.mail_from) == delivery_id


def test_without_a_bounce_address_mail_from_is_the_sender(smtp_server):
    server = smtp_server(tls="none", auth=False)
    send_all(plain_settings(server), [channel_message()])
    assert server.received[0].mail_from == "noreply@tidings.test"


@pytest.mark.parametrize("address", ["not an address", "bounces@", "bøunces@example.com", "a..b@example.com",
                                     "Bounces <bounces@example.com>"])
def test_a_bounce_address_that_is_not_one_plain_address_stops_the_channel(address):
    with pytest.raises(SettingsError, match="TIDINGS_SMTP_BOUNCE_ADDRESS"):
        EmailProvider(Settings(smtp_bounce_address=address))


def test_a_return_path_is_read_back_only_for_its_bounce_address():
    delivery_id = str(uuid.uuid4())
    path = return_path("bounces@example.com", delivery_id)
    assert delivery_of("bounces@example.com", path) == delivery_id
    assert delivery_of("bounces@example.com", f"<{path.upper()}>") == delivery_id
    for other in (f"bounces+{delivery_id}@example.org", f"other+{delivery_id}@example.com",
                  "bounces+not-a-uuid@example.com", "bounces@example.com", "bounces+@example.com"):
        assert delivery_of("bounces@example.com", other) is None, other
    # An id that is not a UUID does not go into an address.
    assert return_path("bounces@example.com", "x@evil") == "bounces@example.com"
    assert delivery_of_message_id("tidings.test", f"<{delivery_id}@tidings.test>") == delivery_id
    assert delivery_of_message_id("tidings.test", f"<{delivery_id}@other.test>") is None
