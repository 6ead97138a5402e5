"""The Teams provider against a fake that speaks Teams' request and answer shapes: an Adaptive Card
from the subject and text or the template's card, each documented answer to its outcome, 429 and
Retry-After, pacing per URL, only Teams' hosts accepted, and the SSRF matrix refused."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from channels.outbound import parse_url
from channels.teams.provider import TeamsProvider
from channels.teams.settings import TeamsSettings
from consumer.outcomes import Deferred, Delivered, Permanent, Transient
from consumer.settings import Settings
from tests.channels import test_outbound_ssrf as ssrf
from tests.fixtures.teams import LOOPBACK, FakeTeams, logic_apps_error


@pytest.fixture
def teams():
    server = FakeTeams()
    yield server
    server.close()


def message(address: str, subject: str | None = "Disk full", text: str | None = "node-7 at 97%",
            options: dict | None = None) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "teams",
            "priority": "HIGH", "address": address, "subject": subject, "text": text,
            "options": json.dumps(options or {}), "attempt": 1}


def send_all(messages: list[dict], **settings) -> list:
    async def run():
        provider = TeamsProvider(Settings(**{**LOOPBACK, "teams_per_webhook_per_s": 0, **settings}))
        await provider.start()
        try:
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()
    return asyncio.run(run())


def test_a_card_from_the_subject_and_text_reaches_a_workflow_and_a_webhook(teams):
    outcomes = send_all([message(teams.workflow_url()), message(teams.webhook_url())])
    assert outcomes == [Delivered(status_code=202), Delivered(status_code=200)]
    card = teams.cards[0]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert [(b["type"], b["text"]) for b in card["body"]] == [("TextBlock", "Disk full"), ("TextBlock", "node-7 at 97%")]
    assert card["body"][0]["weight"] == "Bolder" and all(b["wrap"] for b in card["body"])


def test_the_template_card_is_sent_whole_or_as_the_body(teams):
    whole = {"type": "AdaptiveCard", "body": [{"type": "FactSet", "facts": [{"title": "host", "value": "node-7"}]}],
             "actions": [{"type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks.example/disk"}]}
    elements = [{"type": "TextBlock", "text": "only this"}]
    bad = {"type": "MessageCard"}
    outcomes = send_all([message(teams.workflow_url(), options={"card": whole}),
                         message(teams.workflow_url(), options={"card": elements}),
                         message(teams.workflow_url(), options={"card": bad})])
    assert outcomes[:2] == [Delivered(status_code=202)] * 2
    assert isinstance(outcomes[2], Permanent) and outcomes[2].error_class == "invalid_options"
    assert teams.cards[0]["actions"][0]["url"] == "https://runbooks.example/disk"
    assert teams.cards[1]["body"] == elements and teams.requests == 2  # the bad card was never sent


@pytest.mark.parametrize("status, body, headers, expected", [
    (429, "", {"Retry-After": "7"}, Transient("teams_throttled", "", 429, 7.0)),
    (429, "", {}, Transient("teams_throttled", "", 429, 30.0)),
    (200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with "
          "ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=nJ1F.0", {}, "teams_throttled"),
    (400, logic_apps_error("TriggerInputSchemaMismatch", "did not match its schema definition"), {}, "teams_bad_payload"),
    (400, "Bad payload received by generic incoming webhook.", {}, "teams_bad_payload"),
    (401, logic_apps_error("DirectApiAuthorizationRequired", "must be authenticated"), {}, "teams_unauthorized"),
    (403, logic_apps_error("AuthorizationFailed", "sig is not valid"), {}, "teams_unauthorized"),
    (404, logic_apps_error("WorkflowNotFound", "The workflow 'f0' could not be found."), {}, "teams_webhook_gone"),
    (410, "", {}, "teams_webhook_gone"),
    (413, "Microsoft Teams endpoint returned HTTP error 413", {}, "teams_payload_too_large"),
    (500, logic_apps_error("InternalServerError", "oops"), {}, "teams_http_500"),
    (502, "", {"Retry-After": "3"}, "teams_http_502"),
])
def test_each_documented_answer_is_its_outcome(teams, status, body, headers, expected):
    teams.answer_next(status, body, headers)
    [outcome] = send_all([message(teams.workflow_url())])
    if isinstance(expected, Transient):
        assert (type(outcome), outcome.error_class, outcome.status_code, outcome.retry_after_s) == (
            Transient, expected.error_class, expected.status_code, expected.retry_after_s)
        return
    assert outcome.error_class == expected, outcome
    assert isinstance(outcome, Transient if expected in ("teams_throttled", "teams_http_500", "teams_http_502")
                      else Permanent)


def test_only_teams_hosts_are_accepted_and_the_guard_still_applies(teams):
    default = Settings(teams_per_webhook_per_s=0)
    assert default.section(TeamsSettings).teams_webhook_hosts.startswith("*.logic.azure.com")
    [off_host] = send_all([message("https://evil.example/workflows/x")])
    assert isinstance(off_host, Permanent) and off_host.error_class == "invalid_address"
    # A Teams host that resolves internally (or loopback, not in the allowed targets) is refused.
    [guarded] = send_all([message(teams.workflow_url())], teams_allowed_targets=None)
    assert isinstance(guarded, Permanent) and guarded.error_class == "target_refused"
    assert teams.requests == 0


def test_posts_to_one_url_are_paced_and_a_long_queue_waits_on_a_retry_tier(teams):
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def run():
        provider = TeamsProvider(Settings(**LOOPBACK, teams_per_webhook_per_s=2.0, teams_max_pacing_wait_s=1.0),
                                 clock=lambda: now[0], sleep=sleep)
        await provider.start()
        try:
            url = teams.workflow_url()
            first = [await provider.send(message(url)) for _ in range(3)]
            other = await provider.send(message(teams.workflow_url("f1")))  # another URL is not held up
            key = str(parse_url(url))  # the provider paces by the URL as parsed
            provider.pacer.reserve(key)
            provider.pacer.reserve(key)
            parked = await provider.send(message(url))
            return first, other, parked
        finally:
            await provider.close()

    first, other, parked = asyncio.run(run())
    assert first == [Delivered(status_code=202)] * 3 and other == Delivered(status_code=202)
    assert slept == [0.5, 0.5]  # 2 a second on one URL
    assert isinstance(parked, Deferred) and parked.reason == "teams_paced"


def teams_provider(allowed: str | None, url: str) -> TeamsProvider:
    """Every host accepted as a Teams host, so that only the SSRF guard stands in the way."""
    settings = Settings(teams_webhook_hosts="*", teams_allowed_targets=allowed, teams_timeout_s=5.0,
                        teams_per_webhook_per_s=0)
    return TeamsProvider(settings, resolver=ssrf.FakeDns(ssrf.DNS))


# The SSRF matrix, a redirect to an internal address, and the control case (tests/channels/test_outbound_ssrf.py).
(test_the_ssrf_matrix_reaches_no_internal_address, test_a_redirect_to_an_internal_address_is_not_followed,
 test_control_an_allowed_internal_target_does_reach_the_canary) = ssrf.cases_for("teams", teams_provider, message)
