"""The Apprise provider against fakes of ntfy and Gotify on loopback, reached through the real Apprise
library: what the services received, a refusal as transient `apprise_failed` with Apprise's redacted
reason, schemes outside the allow-list and internal hosts refused with nothing sent, credentials in
no outcome and no log line, concurrency bounded, and the event loop free while Apprise blocks."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid

import pytest

from channels.apprise.provider import AppriseProvider
from channels.apprise.settings import AppriseSettings
from channels.apprise.spec import check_address
from consumer.channel_specs import AddressInvalid
from consumer.outcomes import Delivered, Permanent, Transient
from consumer.settings import Settings, SettingsError
from tests.channels import test_outbound_ssrf as ssrf
from tests.fixtures.apprise import GOTIFY_TOKEN, LOOPBACK, NTFY_PASSWORD, FakeGotify, FakeNtfy, gotify_error


@pytest.fixture
def ntfy():
    server = FakeNtfy()
    yield server
    server.release()
    server.close()


@pytest.fixture
def gotify():
    server = FakeGotify()
    yield server
    server.release()
    server.close()


def message(address: str, subject: str | None = "Disk full", text: str | None = "node-7 at 97%",
            html: str | None = None, options: dict | None = None) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "apprise",
            "priority": "HIGH", "address": address, "subject": subject, "text": text, "html": html,
            "options": json.dumps(options or {}), "attempt": 1}


class FakeDns(ssrf.FakeDns):
    """The SSRF suite's names, and an IP literal as itself (as the system resolver answers it)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host not in self.table:
            return [{"hostname": host, "host": host, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
                     "family": socket.AF_INET6 if ":" in host else socket.AF_INET}]
        return await super().resolve(host, port, family)


def provider(**settings) -> AppriseProvider:
    return AppriseProvider(Settings(**{**LOOPBACK, "apprise_timeout_s": 5.0, **settings}))


async def running(settings: dict, scenario):
    p = AppriseProvider(Settings(**{**LOOPBACK, "apprise_timeout_s": 5.0, **settings}), resolver=FakeDns(ssrf.DNS))
    await p.start()
    try:
        return await scenario(p)
    finally:
        await p.close()


def send_all(messages: list[dict], **settings) -> list:
    return asyncio.run(running(settings, lambda p: asyncio.gather(*(p.send(m) for m in messages))))


def test_a_notification_reaches_ntfy_and_gotify_as_they_expect(ntfy, gotify):
    outcomes = send_all([message(ntfy.url()), message(gotify.url())])
    assert outcomes == [Delivered(), Delivered()]
    assert ntfy.received == [{"topic": "alerts", "title": "Disk full", "message": "node-7 at 97%", "priority": None}]
    [got] = gotify.received
    assert (got["title"], got["message"], got["priority"]) == ("Disk full", "node-7 at 97%", 5)
    assert got["headers"]["X-Gotify-Key"] == GOTIFY_TOKEN and ntfy.requests == gotify.requests == 1


def test_apprise_retries_are_off_even_when_the_url_asks_for_them(gotify):
    gotify.answer_next(500, gotify_error(500, "Internal Server Error", "database is locked"), times=3)
    [outcome] = send_all([message(gotify.url() + "?retry=2&wait=0&optional=yes")])
    assert isinstance(outcome, Transient) and outcome.error_class == "apprise_failed", outcome
    assert outcome.status_code == 500 and gotify.requests == 1  # one attempt; Tidings' tiers decide the rest


@pytest.mark.parametrize("status, body", [
    (500, gotify_error(500, "Internal Server Error", "database is locked")),
    (401, gotify_error(401, "Unauthorized", "you need to provide a valid access token")),
    (400, gotify_error(400, "Bad Request", "Field 'message' is required")),
])
def test_any_refusal_is_transient_since_apprise_does_not_say_which_kind(gotify, status, body):
    gotify.answer_next(status, body)
    [outcome] = send_all([message(gotify.url())])
    assert isinstance(outcome, Transient) and outcome.error_class == "apprise_failed", outcome
    assert outcome.status_code == status and outcome.message.startswith("gotify://127.0.0.1 ")


def test_credentials_reach_no_outcome_and_no_log_line(ntfy, gotify, caplog):
    caplog.set_level(logging.DEBUG, logger="apprise")  # Apprise's debug lines hold payloads and answers
    gotify.answer_next(500, {"error": f"echo of {GOTIFY_TOKEN}", "errorCode": 500, "errorDescription": "x"})
    wrong = ntfy.url().replace("ntfy-Pa55word%21", "Wrong-Secret-9")
    # One at a time: the scripted 500 is for the first Gotify request, whichever send made it.
    outcomes = [send_all([m])[0] for m in (message(gotify.url()), message(wrong), message(gotify.url("Bogus.Token-77")))]
    assert [o.error_class for o in outcomes] == ["apprise_failed"] * 3
    assert ntfy.requests == 1 and gotify.requests == 2  # all sent, all refused
    kept = " ".join(o.message for o in outcomes) + caplog.text
    assert "apprise" in caplog.text.lower()  # the records were there, redacted
    for secret in (GOTIFY_TOKEN, "Wrong-Secret-9", "Bogus.Token-77", NTFY_PASSWORD):
        assert secret not in kept


def test_a_scheme_outside_the_allow_list_is_refused_and_nothing_sent(gotify):
    default = AppriseSettings()
    assert not {"json", "jsons", "xml", "xmls", "form", "forms"} & set(default.apprise_schemes.replace(" ", "")
                                                                        .split(","))
    generic = "json://" + gotify.base.removeprefix("http://") + "/message"
    outcomes = send_all([message(generic), message(gotify.url())], apprise_schemes="ntfy")
    assert [(type(o), o.error_class) for o in outcomes] == [(Permanent, "scheme_not_allowed")] * 2
    assert gotify.requests == 0
    with pytest.raises(SettingsError, match="nosuch"):
        provider(apprise_schemes="discord, nosuch")


def test_a_self_hosted_host_goes_through_the_ssrf_guard(gotify):
    outcomes = send_all([message(gotify.url()), message(f"gotify://metadata.test/{GOTIFY_TOKEN}"),
                         message(f"ntfy://intranet.test/{GOTIFY_TOKEN}")], apprise_allowed_targets=None)
    assert [(type(o), o.error_class) for o in outcomes] == [(Permanent, "target_refused")] * 3
    assert "169.254.169.254" in outcomes[1].message and GOTIFY_TOKEN not in outcomes[1].message
    assert gotify.requests == 0


@pytest.mark.parametrize("destination", sorted(ssrf.MATRIX))
def test_the_ssrf_matrix_reaches_no_internal_address(destination):
    async def scenario():
        hits = []
        canary = await asyncio.start_server(lambda r, w: (hits.append(1), w.close()), "127.0.0.1", 0)
        port = canary.sockets[0].getsockname()[1]
        host = ssrf.MATRIX[destination].format(port=port).removeprefix("http://").split("/")[0]
        outcome = await running({"apprise_allowed_targets": None},
                                lambda p: p.send(message(f"gotify://{host}/{GOTIFY_TOKEN}")))
        canary.close()
        return outcome, hits

    outcome, hits = asyncio.run(scenario())
    # Refused by the guard, or a spelling Apprise itself cannot parse: nothing sent either way.
    assert isinstance(outcome, Permanent) and outcome.error_class in ("target_refused", "invalid_address"), outcome
    assert hits == []


def test_control_an_allowed_loopback_target_is_reached(gotify):
    [outcome] = send_all([message(gotify.url())])
    assert outcome == Delivered() and gotify.requests == 1


def test_at_most_apprise_concurrency_sends_run_at_once(gotify):
    gotify.hold_s = 0.3
    outcomes = send_all([message(gotify.url()) for _ in range(9)], apprise_concurrency=3)
    assert outcomes == [Delivered()] * 9
    assert gotify.max_in_flight == 3


def test_the_event_loop_stays_free_while_apprise_blocks(gotify):
    gotify.hold()

    async def scenario(p):
        sending = asyncio.create_task(p.send(message(gotify.url())))
        ticks = 0
        while gotify.in_flight < 1:  # this loop turns only if Apprise blocks a thread, not the loop
            await asyncio.sleep(0.01)
            ticks += 1
            assert ticks < 1000, "the request never reached the fake"
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert not sending.done()
        gotify.release()
        return await asyncio.wait_for(sending, 10)

    assert asyncio.run(running({}, scenario)) == Delivered()


def test_a_service_that_does_not_answer_in_time_is_transient(gotify):
    gotify.hold()
    [outcome] = send_all([message(gotify.url())], apprise_timeout_s=0.5)
    assert isinstance(outcome, Transient) and outcome.error_class in ("apprise_failed", "apprise_timeout"), outcome
    assert GOTIFY_TOKEN not in outcome.message


def test_html_and_options(ntfy):
    outcomes = send_all([message(ntfy.url(), options={"notify_type": "warning", "text_format": "markdown"}),
                         message(ntfy.url(), options={"notify_type": "loud"})])
    assert outcomes[0] == Delivered()
    assert isinstance(outcomes[1], Permanent) and outcomes[1].error_class == "invalid_options"
    assert ntfy.requests == 1


def test_check_address_knows_apprise_urls_and_shows_no_token(caplog):
    caplog.set_level(logging.DEBUG, logger="apprise")
    assert check_address("discord://1234567890/abcdefTOKENxyz") == "discord://1234567890/abcdefTOKENxyz"
    assert check_address("json://example.com/hook")  # known to Apprise; the worker's allow-list refuses it
    for bad, reason in [("not a url", "not an Apprise URL"), ("nosuch://x/y", "not an Apprise scheme"),
                        ("tgram://Bad-Secret-Token/123", "cannot use this tgram://"),
                        ("gotify://", "not an Apprise URL")]:
        with pytest.raises(AddressInvalid, match=reason) as refused:
            check_address(bad)
        assert "Secret" not in str(refused.value)
    assert "Bad-Secret-Token" not in caplog.text
