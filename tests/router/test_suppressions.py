"""The suppression list (router/suppressions.py) on a real Postgres: normalised addresses, one list
per tenant, the batch lookup the router makes, soft bounces counted within a window by an injected
clock, and the router suppressing a listed address end to end (real broker, a real receiver)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from consumer.codec import Codec
from consumer.events import CHANNEL_MESSAGE, utcnow
from consumer.settings import Settings
from consumer.text_rules import ControlCharacter
from consumer.topics import Topics
from router.personalize import Personalizer
from router.suppressions import SoftBounceRule, SuppressionInvalid, SuppressionList, listed_key
from tests.pipeline import publish, read_topic, wait_for_statuses
from tracking.migrate import migrate

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def conn(database_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def suppressions(conn, clock):
    return SuppressionList(conn, SoftBounceRule(3, 7 * 86400), clock)


def soft_bounce_rows(conn) -> list[tuple]:
    return conn.execute("SELECT tenant, address, receipt FROM soft_bounces ORDER BY bounced_at").fetchall()


def test_addresses_are_listed_normalised_per_tenant_and_removed(suppressions):
    row, created = suppressions.suppress("acme", "email", "Ada@Example.COM", "hard_bounce", "provider:ses",
                                         detail="550 5.1.1 user unknown")
    assert created and row["address"] == "Ada@example.com"  # the domain lower-cased, the mailbox as it was
    assert (row["tenant"], row["reason"], row["source"], row["detail"]) == (
        "acme", "hard_bounce", "provider:ses", "550 5.1.1 user unknown")
    assert datetime.fromisoformat(row["created_at"]) == T0  # the injected clock
    again, created = suppressions.suppress("acme", "email", "Ada@example.com", "complaint", "provider:ses")
    assert not created and again == row  # the first reason stands
    suppressions.suppress("acme", "sms", "+1 (415) 555-0100", "unreachable", "provider:twilio")

    assert suppressions.is_suppressed("acme", "email", "Ada@EXAMPLE.com") == row
    assert suppressions.is_suppressed("acme", "sms", "+14155550100")["reason"] == "unreachable"
    assert suppressions.is_suppressed("globex", "email", "Ada@example.com") is None  # another tenant's list
    assert suppressions.is_suppressed("acme", "email", "ada@example.com") is None  # another mailbox
    assert suppressions.is_suppressed("acme", "email", "not an address") is None

    found = suppressions.lookup([("acme", "email", "Ada@example.com"), ("globex", "email", "Ada@example.com"),
                                 ("acme", "sms", "+14155550100"), ("acme", "sms", "+14155550100")])
    assert set(found) == {("acme", "email", "Ada@example.com"), ("acme", "sms", "+14155550100")}
    assert suppressions.lookup([]) == {}

    rows, cursor = suppressions.list()
    assert [(r["channel"], r["address"]) for r in rows] == [("sms", "+14155550100"), ("email", "Ada@example.com")]
    assert cursor is None
    assert suppressions.list(tenants=["globex"]) == ([], None)
    assert [r["address"] for r in suppressions.list(channel="email", address="ada@EXAMPLE.com")[0]] == []
    assert [r["address"] for r in suppressions.list(channel="email", address="Ada@EXAMPLE.com")[0]] == \
        ["Ada@example.com"]

    assert suppressions.remove("globex", "email", "Ada@example.com") is False
    assert suppressions.remove("acme", "email", "Ada@EXAMPLE.COM") is True
    assert suppressions.remove("acme", "email", "Ada@example.com") is False
    assert suppressions.remove("acme", "email", "nonsense") is False
    assert suppressions.is_suppressed("acme", "email", "Ada@example.com") is None


def test_listing_pages_newest_first(suppressions):
    for n in range(5):
        suppressions.suppress("acme", "sms", f"+1415555010{n}", "manual", "cli")
    first, cursor = suppressions.list(limit=2)
    second, cursor2 = suppressions.list(limit=2, before=cursor)
    third, cursor3 = suppressions.list(limit=2, before=cursor2)
    assert [r["address"][-1] for r in first + second + third] == ["4", "3", "2", "1", "0"]
    assert cursor3 is None


@pytest.mark.parametrize("tenant, channel, address, reason, says", [
    ("acme", "fax", "123", "manual", "channel: 'fax' is not one of"),
    ("acme", "email", "ada-at-example.com", "manual", "address: 'ada-at-example.com' is not an address"),
    ("acme", "sms", "4155550100", "manual", "address: '4155550100': give the number in international form"),
    ("acme", "email", "", "manual", "address: required"),
    ("acme", "email", "a@b.c", "bored", "reason: 'bored' is not one of hard_bounce, complaint"),
    ("", "email", "a@b.c", "manual", "tenant: required"),
    ("acme", "email", "a@b.c" + "x" * 2400, "manual", "address: longer than 2400"),
])
def test_a_bad_suppression_is_refused_and_nothing_is_stored(suppressions, conn, tenant, channel, address, reason,
                                                             says):
    with pytest.raises(SuppressionInvalid, match=says):
        suppressions.suppress(tenant, channel, address, reason, "cli")
    assert conn.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 0


def test_a_control_character_is_its_own_error(suppressions):
    with pytest.raises(ControlCharacter, match="address: contains a control character"):
        suppressions.suppress("acme", "email", "a@b.c\r\nBcc: eve@example.com", "manual", "cli")
    with pytest.raises(ControlCharacter, match="tenant: contains a control character"):
        suppressions.suppress("ac\x00me", "email", "a@b.c", "manual", "cli")
    # A provider's wording is stored as text can hold it, not refused: the suppression matters more.
    row, _ = suppressions.suppress("acme", "email", "a@b.c", "hard_bounce", "provider:x", detail="5.1.1\x00 gone\r\n")
    assert row["detail"] == "5.1.1\ufffd gone\r\n"


def test_soft_bounces_suppress_at_the_third_within_seven_days(suppressions, conn, clock):
    bounce = lambda days, receipt=None, tenant="acme": suppressions.soft_bounce(  # noqa: E731
        tenant, "email", "ada@example.com", T0 + days * DAY, receipt=receipt)
    assert bounce(0, "d1") is None
    assert bounce(0, "d1") is None  # the provider retried its callback: still one
    assert bounce(1, "d2") is None
    assert bounce(1, "d3", tenant="globex") is None  # another tenant's count
    clock.now = T0 + 8 * DAY
    assert bounce(8) is None  # 1d, 8d: two within any seven days (0d has left the window)
    assert bounce(9) is None
    assert suppressions.is_suppressed("acme", "email", "ada@example.com") is None
    clock.now = T0 + 10 * DAY
    row = bounce(10)
    assert row is not None and (row["reason"], row["source"]) == ("soft_bounces", "receipt")
    assert row["detail"] == "3 soft bounces within 7d" and datetime.fromisoformat(row["created_at"]) == T0 + 10 * DAY
    assert suppressions.is_suppressed("acme", "email", "ada@example.com") == row
    assert bounce(11) is None  # listed already: nothing more is counted
    # What no window counts any more was forgotten on the way, and the listed address's count with it.
    assert soft_bounce_rows(conn) == []


def test_soft_bounces_received_out_of_order_count_in_their_own_window(suppressions):
    bounce = lambda days: suppressions.soft_bounce("acme", "sms", "+14155550100", T0 + days * DAY)  # noqa: E731
    assert bounce(6) is None and bounce(0) is None
    assert bounce(3) is not None  # 0d, 3d, 6d


def test_a_delivery_or_a_removal_starts_the_count_again(suppressions, conn):
    bounce = lambda days: suppressions.soft_bounce("acme", "email", "ada@example.com", T0 + days * DAY)  # noqa: E731
    bounce(0), bounce(1)
    assert suppressions.delivered("acme", "email", "ada@EXAMPLE.com") == 2
    assert bounce(2) is None and bounce(3) is None
    assert bounce(4) is not None
    assert suppressions.remove("acme", "email", "ada@example.com") is True
    assert bounce(5) is None and soft_bounce_rows(conn) == [("acme", "ada@example.com", (T0 + 5 * DAY).isoformat())]


def test_the_rule_comes_from_one_setting_and_zero_means_never(conn, clock):
    assert SoftBounceRule.from_settings(Settings()) == SoftBounceRule(3, 7 * 86400.0)
    never = SuppressionList.from_settings(conn, Settings(soft_bounce_limit="0/1d"), clock)
    assert all(never.soft_bounce("acme", "email", "a@b.c", T0 + n * timedelta(minutes=1)) is None for n in range(5))
    once = SuppressionList.from_settings(conn, Settings(soft_bounce_limit="1/1h"), clock)
    assert once.soft_bounce("acme", "email", "a@b.c", T0)["reason"] == "soft_bounces"


def test_the_router_key_is_the_normalised_address_of_the_messages_tenant():
    message = {"tenant": "acme", "channel": "email", "address": "Ada@EXAMPLE.com"}
    assert listed_key(message) == ("acme", "email", "Ada@example.com")
    assert listed_key({**message, "address": "nonsense"}) is None
    assert listed_key({**message, "channel": "fax"}) is None
    assert listed_key({**message, "address": ""}) is None


def event(tenant: str, recipient: dict, channels=("sms", "email"), category="security") -> dict:
    return {"id": str(uuid.uuid4()), "created_at": T0, "priority": "HIGH", "source": "t", "tenant": tenant,
            "category": category, "channels": list(channels), "data": json.dumps({}), "expires_at": None,
            "idempotency_key": None,
            "recipient": {"email": None, "phone": None, "slack": None, "webhook_url": None, "locale": None,
                          "timezone": None, **recipient},
            "content": {"default": {"template": None, "subject": "s", "text": "t", "html": None, "options": "{}"}}}


def test_the_router_plans_listed_addresses_as_suppressed_in_one_query(database_url, conn, suppressions):
    """Whatever the category (critical ones bypass opt-outs, not this), with the address from the
    event or the directory, written any way its channel normalises."""
    suppressions.suppress("acme", "sms", "+14155550100", "unreachable", "provider:twilio")
    suppressions.suppress("acme", "email", "ada@example.com", "complaint", "provider:ses")
    conn.execute("INSERT INTO recipients (id, addresses) VALUES ('dir', '{\"sms\": \"+14155550100\"}')")
    personalizer = Personalizer.from_settings(Settings(database_url=database_url, critical_categories="security"))
    try:
        queries = []
        execute = personalizer.conn.execute
        personalizer.conn.execute = lambda query, *a, **k: (queries.append(query), execute(query, *a, **k))[1]
        inline, directory, other = personalizer.plan([
            event("acme", {"id": "u1", "phone": "+1 415-555-0100", "email": "ada@Example.COM"}),
            event("acme", {"id": "dir"}, channels=("sms",)),
            event("globex", {"id": "u1", "phone": "+14155550100", "email": "ada@example.com"})])
    finally:
        personalizer.close()
    assert [(d.channel, d.suppressed) for d in inline.deliveries] == [("sms", "address_suppressed"),
                                                                     ("email", "address_suppressed")]
    assert inline.deliveries[0].detail.startswith("the sms address is on tenant 'acme''s suppression list (unreachable")
    assert [d.suppressed for d in directory.deliveries] == ["address_suppressed"]
    assert [d.suppressed for d in other.deliveries] == [None, None]  # globex never listed them
    assert sum("FROM suppressions" in str(q) for q in queries) == 1


def test_a_listed_address_is_suppressed_by_the_router_and_never_reaches_the_provider(pipeline, services,
                                                                                     webhook_receiver):
    """Real broker, Postgres, router, webhook worker and sink, a real receiver: the listed address
    gets nothing and its channel topic holds nothing for it; another tenant's event to the same
    address is delivered."""
    listed_url, other_url = f"{webhook_receiver.url}?who=listed", f"{webhook_receiver.url}?who=other"
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        SuppressionList(conn).suppress("acme", "webhook", listed_url, "manual", "cli")
    services.start_pipeline("webhook")

    def notification(tenant: str, url: str) -> dict:
        made = event(tenant, {"id": f"{tenant}-user", "webhook_url": url}, channels=("webhook",), category="orders")
        return {**made, "created_at": utcnow()}

    suppressed, elsewhere, unlisted = (notification("acme", listed_url), notification("globex", listed_url),
                                       notification("acme", other_url))
    publish(pipeline, [suppressed, elsewhere, unlisted])
    wait_for_statuses(pipeline.database_url, [suppressed["id"]], statuses=("suppressed",))
    wait_for_statuses(pipeline.database_url, [elsewhere["id"], unlisted["id"]], statuses=("sent",))

    with psycopg.connect(pipeline.database_url) as conn:
        stage, provider, reason, message = conn.execute(
            "SELECT stage, provider, reason, error_message FROM deliveries WHERE notification_id = %s",
            [suppressed["id"]]).fetchone()
    assert (stage, provider, reason) == ("router", None, "address_suppressed")
    assert message.startswith("the webhook address is on tenant 'acme''s suppression list (manual, since ")
    assert set(webhook_receiver.notification_ids()) == {elsewhere["id"], unlisted["id"]}
    codec = Codec.from_settings(pipeline)
    routed = {str(codec.decode(CHANNEL_MESSAGE, m.value())["notification_id"])
              for m in read_topic(pipeline, Topics(pipeline.topic_prefix).channel("webhook", "high"))}
    assert routed == {elsewhere["id"], unlisted["id"]}
