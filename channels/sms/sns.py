"""AWS SNS SMS through boto3: one `Publish` to the phone number per delivery, in a small thread pool
(boto3 is synchronous). URGENT/HIGH go as Transactional SMS, NORMAL/LOW as Promotional; sender id
and origination number when configured. Numbers that opted out (AWS keeps the list; re-read every
`sms_sns_opt_out_refresh_s`, see sms_sns_opt_outs.py) are not published to: the channel records
them as suppressed.

Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
an instance or task role), never from events. botocore's own retries are off: a failure is one
attempt, retried through Tidings' retry tiers like every other provider."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from channels.sms.settings import SmsSettings
from channels.sms.sns_opt_outs import OptOutList
from consumer.outcomes import Delivered, Outcome, Permanent, Transient
from consumer.settings import Settings

TRANSACTIONAL = frozenset({"URGENT", "HIGH"})
THROTTLED = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"})
INVALID = frozenset({"InvalidParameter", "InvalidParameterValue", "ValidationError"})


class SnsSms:
    name = "sns"

    def __init__(self, settings: Settings):
        own = settings.section(SmsSettings)
        self.settings = own
        self.pool = ThreadPoolExecutor(max_workers=own.sms_sns_concurrency, thread_name_prefix="sns")
        self.client = None
        self.opted_out = OptOutList(lambda: self._call(self._read_opt_outs), self._check_opt_out,
                                    own.sms_sns_opt_out_refresh_s)

    def name_for(self, message: dict) -> str:
        return self.name

    async def start(self) -> None:
        s = self.settings
        config = Config(connect_timeout=s.sms_timeout_s, read_timeout=s.sms_timeout_s,
                        retries={"total_max_attempts": 1}, max_pool_connections=s.sms_sns_concurrency)
        self.client = boto3.session.Session().client("sns", region_name=s.sms_sns_region,
                                                     endpoint_url=s.sms_sns_endpoint_url, config=config)

    async def close(self) -> None:
        await self.opted_out.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def send(self, message: dict) -> Outcome:
        number = message["address"]
        try:
            if await self.opted_out.contains(number):
                return Permanent("opted_out", f"{number} opted out of SMS from this AWS account")
            answer = await self._call(self.client.publish, PhoneNumber=number, Message=message["text"],
                                      MessageAttributes=self.attributes(message["priority"]))
        except ClientError as exc:
            return outcome_for_error(exc)
        except BotoCoreError as exc:  # connection refused, timeouts, endpoint errors
            return Transient(type(exc).__name__, str(exc))
        return Delivered(status_code=200, provider_message_id=answer["MessageId"])

    def attributes(self, priority: str) -> dict:
        s = self.settings
        values = {"AWS.SNS.SMS.SMSType": "Transactional" if priority in TRANSACTIONAL else "Promotional",
                  "AWS.SNS.SMS.SenderID": s.sms_sns_sender_id,
                  "AWS.MM.SMS.OriginationNumber": s.sms_sns_origination_number}
        return {k: {"DataType": "String", "StringValue": v} for k, v in values.items() if v}

    def _read_opt_outs(self) -> set[str]:
        numbers, token = set(), None
        while True:
            page = self.client.list_phone_numbers_opted_out(**({"nextToken": token} if token else {}))
            numbers.update(page.get("phoneNumbers", []))
            token = page.get("nextToken")
            if not token:
                return numbers

    async def _check_opt_out(self, number: str) -> bool:
        answer = await self._call(self.client.check_if_phone_number_is_opted_out, phoneNumber=number)
        return bool(answer.get("isOptedOut"))

    async def _call(self, function, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: function(*args, **kwargs))


def outcome_for_error(exc: ClientError) -> Outcome:
    error = exc.response.get("Error", {})
    code, text = error.get("Code", ""), f"sns {error.get('Code')}: {error.get('Message', '')}"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if "opted out" in text.lower() or code == "OptedOut":
        return Permanent("opted_out", text, status)
    if code in THROTTLED:
        return Transient("rate_limited", text, status)
    if code in INVALID:
        return Permanent("invalid_parameter", text, status)
    if status is not None and (status == 429 or status >= 500):
        return Transient(f"http_{status}", text, status)
    return Permanent(f"sns_{code}" if code else f"http_{status}", text, status)
