"""The device directory (router/devices.py) on a real Postgres, and the router's fan-out to every
device of a channel with devices (router/fanout.py)."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from router import devices as devices_module
from router.devices import DeviceDirectory, DeviceInvalid
from router.fanout import fan_out

APNS = "a" * 64
FCM = "d1X:APA91b" + "x" * 40


@pytest.fixture
def directory(database_url):
    from tracking.migrate import migrate

    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield DeviceDirectory(conn)


def test_devices_are_checked_normalised_listed_moved_and_removed(directory):
    stored = directory.add("ada", "push", f"apns:com.example.app:{APNS.upper()}")
    assert stored["address"] == f"apns:com.example.app:{APNS}"  # normalised by the push channel
    directory.add("ada", "push", f"fcm:com.example.app:{FCM}")
    directory.add("ada", "push", f"apns:com.example.app:{APNS}")  # again: still one
    assert [d["address"] for d in directory.list("ada")] == [f"apns:com.example.app:{APNS}", f"fcm:com.example.app:{FCM}"]

    directory.add("bob", "push", f"fcm:com.example.app:{FCM}")  # the phone changed hands
    assert [d["address"] for d in directory.list("ada")] == [f"apns:com.example.app:{APNS}"]
    assert directory.lookup(["ada", "bob", "nobody"]) == {"ada": {"push": [f"apns:com.example.app:{APNS}"]},
                                                          "bob": {"push": [f"fcm:com.example.app:{FCM}"]}}
    assert directory.remove("ada", "push", f"apns:com.example.app:{APNS.upper()}") is True
    assert directory.remove("ada", "push", f"apns:com.example.app:{APNS}") is False
    assert directory.forget("push", f"fcm:com.example.app:{FCM}") is True and directory.list("bob") == []


@pytest.mark.parametrize("channel, address, says", [
    ("push", "gcm:com.example.app:" + FCM, "not one of fcm, apns, apns-sandbox"),
    ("push", "apns:com.example.app:xyz", "64-200 hexadecimal"),
    ("push", "fcm:com.example.app:" + FCM + "\x00", "control character"),
    ("push", "fcm:com.example.app:" + "x" * 2049, "20-2048 characters"),  # would not fit the table's key
    ("email", "ada@example.com", "has no devices"),
    ("pager", "anything", "has no devices"),
])
def test_a_bad_device_is_refused_and_nothing_is_stored(directory, channel, address, says):
    with pytest.raises(DeviceInvalid, match=says):
        directory.add("ada", channel, address)
    assert directory.list("ada") == []


def test_a_recipient_has_a_bounded_number_of_devices(directory, monkeypatch):
    monkeypatch.setattr(devices_module, "MAX_DEVICES", 2)
    directory.add("ada", "push", f"fcm:a:{FCM}1")
    directory.add("ada", "push", f"fcm:a:{FCM}2")
    directory.add("ada", "push", f"fcm:a:{FCM}2")  # the same one again is not one more
    with pytest.raises(DeviceInvalid, match="already has 2 push devices"):
        directory.add("ada", "push", f"fcm:a:{FCM}3")


def event(recipient: dict, channels=("push", "email")) -> dict:
    return {"id": str(uuid.uuid4()), "channels": list(channels), "priority": "HIGH", "created_at": 0,
            "source": "t", "tenant": "acme", "category": "orders", "data": "{}", "expires_at": None,
            "content": {"default": {"subject": "Hi", "text": "there"}},
            "recipient": {"id": "ada", "addresses": {}, **recipient}}


def test_a_notification_fans_out_to_each_device_with_a_delivery_id_of_its_own():
    own, phone = f"fcm:a:{FCM}1", f"fcm:a:{FCM}2"
    e = event({"addresses": {"push": own, "email": "ada@example.com"}, "devices": {"push": [phone, own]}})
    deliveries = fan_out(e)
    assert [(d.channel, d.message["address"]) for d in deliveries] == [("push", own), ("push", phone),
                                                                      ("email", "ada@example.com")]
    ids = [d.message["delivery_id"] for d in deliveries]
    assert len(set(ids)) == 3 and ids == [d.message["delivery_id"] for d in fan_out(e)]  # stable across redos
    assert all(d.suppressed is None for d in deliveries)
    [none] = fan_out(event({}, channels=("push",)))
    assert none.suppressed == "no_address"


def test_a_composed_address_cannot_smuggle_part_of_the_app_into_the_token():
    from channels.push.device import device_address
    from consumer.channel_specs import AddressInvalid

    with pytest.raises(AddressInvalid, match="hold no ':'"):
        device_address("fcm", "com.example:evil", "x" * 30)
    assert device_address("apns", "com.example.App", APNS.upper()) == f"apns:com.example.App:{APNS}"


def test_a_control_character_is_its_own_error(directory):
    from consumer.text_rules import ControlCharacter

    with pytest.raises(ControlCharacter):
        directory.add("ada\x00", "push", f"fcm:a:{FCM}")
    with pytest.raises(ControlCharacter):
        directory.add("ada", "push", f"fcm:a:{FCM}\x1b")
