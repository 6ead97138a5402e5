"""AWS SNS through the real boto3 client against moto in server mode on loopback: what SNS
recorded is read back from /moto-api/data.json; the request parameters from botocore's own hooks."""
from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from channels.sms.provider import SmsProvider
from channels.sms.sns import SnsSms, outcome_for_error
from consumer.outcomes import Delivered, Permanent, Suppressed, Transient
from consumer.settings import Settings

OPTED_OUT = "+447420500600"  # on moto's (and so our fake AWS account's) opted-out list


@pytest.fixture(scope="module")
def sns_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def recorded(sns_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{sns_url}/moto-api/data.json") as answer:
        return json.load(answer)["sns"]["SMS"]


def message(address: str, text: str = "Your code is 123456", priority: str = "URGENT") -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "sms",
            "priority": priority, "created_at": datetime.now(timezone.utc), "source": "tests", "tenant": "default",
            "category": "security", "recipient_id": "user-1", "address": address, "subject": None, "text": text,
            "html": None, "template": None, "data": "{}", "expires_at": None, "attempt": 1, "replay": 0,
            "options": "{}"}


def send_all(provider, messages: list[dict], published: list[dict] | None = None):
    async def scenario():
        await provider.start()
        sns = next(p for p in getattr(provider, "providers", [provider]) if p.name == "sns")
        if published is not None:
            sns.client.meta.events.register("provide-client-params.sns.Publish",
                                            lambda params, **_: published.append(dict(params)))
        try:
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()
    return asyncio.run(scenario())


def test_sms_is_published_with_type_by_priority_sender_id_and_cost(sns_url):
    settings = Settings(sms_providers="sns", sms_sns_endpoint_url=sns_url, sms_sns_sender_id="Tidings",
                        sms_prices="sns=0.00645")
    published: list[dict] = []
    number = f"+1415555{uuid.uuid4().int % 10000:04d}"
    urgent, low = send_all(SmsProvider(settings), [message(number, priority="URGENT"),
                                                   message(number, "Sale ends today", priority="LOW")], published)
    assert isinstance(urgent, Delivered) and urgent.provider == "sns" and str(urgent.cost) == "0.00645"
    sms = {s["message_id"]: s for s in recorded(sns_url)}
    assert sms[urgent.provider_message_id] == {"message": "Your code is 123456", "message_id": urgent.provider_message_id,
                                               "phone_number": number}
    assert sms[low.provider_message_id]["message"] == "Sale ends today"
    types = [p["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] for p in published]
    assert types == ["Transactional", "Promotional"]
    assert {p["MessageAttributes"]["AWS.SNS.SMS.SenderID"]["StringValue"] for p in published} == {"Tidings"}


def test_national_numbers_are_normalised_before_publishing(sns_url):
    settings = Settings(sms_providers="sns", sms_sns_endpoint_url=sns_url, sms_default_region="GB")
    [sent] = send_all(SmsProvider(settings), [message("07911 123456")])
    assert isinstance(sent, Delivered)
    assert {s["message_id"]: s["phone_number"] for s in recorded(sns_url)}[sent.provider_message_id] == "+447911123456"


def test_an_opted_out_number_is_suppressed_and_nothing_is_published(sns_url):
    before = len(recorded(sns_url))
    settings = Settings(sms_providers="sns", sms_sns_endpoint_url=sns_url)
    [outcome] = send_all(SmsProvider(settings), [message(OPTED_OUT)])
    assert isinstance(outcome, Suppressed) and outcome.reason == "opted_out" and outcome.provider == "sns"
    assert len(recorded(sns_url)) == before


def send_at_once(provider: SnsSms, messages: list[dict], **hooks) -> list:
    """All `messages` sent concurrently right after start, as a worker does with a backlog; `hooks`
    are botocore event handlers (event name -> handler) registered on the client first."""
    async def scenario():
        await provider.start()
        for event, handler in hooks.items():
            provider.client.meta.events.register(event, handler)
        try:
            return await asyncio.gather(*(provider.send(m) for m in messages))
        finally:
            await provider.close()
    return asyncio.run(scenario())


def test_sends_in_the_first_moments_wait_for_the_opted_out_list(sns_url):
    """The list used to be marked read when its read began: every send that came meanwhile saw it
    empty and published to opted-out numbers."""
    before = len(recorded(sns_url))
    outcomes = send_at_once(SnsSms(Settings(sms_sns_endpoint_url=sns_url)), [message(OPTED_OUT) for _ in range(8)])
    assert [o.error_class for o in outcomes] == ["opted_out"] * 8
    assert len(recorded(sns_url)) == before


def test_while_the_list_cannot_be_read_each_number_is_checked_on_its_own(sns_url):
    """moto answers CheckIfPhoneNumberIsOptedOut true for numbers ending in 99."""
    def list_refused(**_):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "ListPhoneNumbersOptedOut")

    checked: list[str] = []
    before = len(recorded(sns_url))
    opted_out, fine = "+447911123499", "+447911123456"
    outcomes = send_at_once(
        SnsSms(Settings(sms_sns_endpoint_url=sns_url)), [message(opted_out), message(fine), message(opted_out)],
        **{"before-call.sns.ListPhoneNumbersOptedOut": list_refused,
           "provide-client-params.sns.CheckIfPhoneNumberIsOptedOut": lambda params, **_: checked.append(
               params["phoneNumber"])})
    assert [type(o).__name__ for o in outcomes] == ["Permanent", "Delivered", "Permanent"]
    assert outcomes[0].error_class == "opted_out" and sorted(checked) == sorted([opted_out, fine, opted_out])
    assert [s["phone_number"] for s in recorded(sns_url)[before:]] == [fine]


def test_sns_refusing_a_parameter_is_permanent(sns_url):
    [outcome] = send_all(SnsSms(Settings(sms_sns_endpoint_url=sns_url)), [message("not-a-number")])
    assert isinstance(outcome, Permanent) and outcome.error_class == "invalid_parameter"
    assert outcome.status_code == 400 and "E164" in outcome.message


def test_an_unreachable_endpoint_is_transient():
    [outcome] = send_all(SnsSms(Settings(sms_sns_endpoint_url="http://127.0.0.1:9", sms_timeout_s=2)),
                         [message("+14155550100")])
    assert isinstance(outcome, Transient)


def error(code: str, status: int, text: str = "") -> ClientError:
    return ClientError({"Error": {"Type": "Sender", "Code": code, "Message": text},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Publish")


@pytest.mark.parametrize("exc,kind,error_class", [
    (error("Throttling", 400, "Rate exceeded"), Transient, "rate_limited"),
    (error("ThrottlingException", 400), Transient, "rate_limited"),
    (error("InvalidParameter", 400, "Invalid parameter: PhoneNumber"), Permanent, "invalid_parameter"),
    (error("InvalidParameter", 400, "Phone number is opted out"), Permanent, "opted_out"),
    (error("InternalError", 500), Transient, "http_500"),
    (error("AuthorizationError", 403, "not authorized"), Permanent, "sns_AuthorizationError"),
])
def test_sns_error_codes(exc, kind, error_class):
    outcome = outcome_for_error(exc)
    assert isinstance(outcome, kind) and outcome.error_class == error_class


def test_the_list_is_re_read_in_the_background_and_a_failed_read_is_retried_later():
    from channels.sms.sns_opt_outs import OptOutList

    now, reads, checks = [0.0], [], []
    answers = [RuntimeError("throttled"), {"+1"}, {"+2"}]

    async def read_all():
        reads.append(now[0])
        await asyncio.sleep(0)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def check_one(number):
        checks.append(number)
        return number == "+1"

    async def scenario():
        opt_outs = OptOutList(read_all, check_one, refresh_s=300, retry_s=30, clock=lambda: now[0])
        first = await opt_outs.contains("+1")  # the read fails: asked about on its own
        again = await opt_outs.contains("+1")  # not re-read at once
        now[0] = 30
        listed = await opt_outs.contains("+1")  # re-read after retry_s: {"+1"}
        now[0] = 400
        during = await opt_outs.contains("+2")  # stale: re-read starts, the old list answers meanwhile
        while opt_outs.reading is not None:  # the background re-read finishes
            await asyncio.sleep(0)
        after = await opt_outs.contains("+2")
        return first, again, listed, during, after

    assert asyncio.run(scenario()) == (True, True, True, False, True)
    assert reads == [0.0, 30, 400] and checks == ["+1", "+1"]
