"""Sends to one Android, iOS or web device through Firebase Cloud Messaging's HTTP v1 API
(`POST /v1/projects/<project>/messages:send`) with a cached OAuth2 access token, through the
outbound HTTP kit (SSRF guard, timeouts, capped answers)."""
from __future__ import annotations

import dataclasses
import re
import time
from typing import Callable

from channels.outbound import TargetPolicy, parse_url
from channels.outbound_http import Answer, OutboundHttp
from channels.push.answers import fcm_outcome
from channels.push.device import Device
from channels.push.fcm_auth import AccessTokens
from channels.push.fcm_message import fcm_body
from channels.push.options import PushOptions
from channels.push.settings import PushSettings
from consumer.outcomes import Outcome, Permanent
from consumer.settings import SettingsError

# FCM's answers are a message name or a google.rpc.Status: small.
MAX_ANSWER = 16 * 1024
_PROJECT = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class FcmSender:
    name = "fcm"

    def __init__(self, own: PushSettings, info: dict, policy: TargetPolicy, excerpt, *, resolver=None,
                 clock: Callable[[], float] = time.time):
        project = own.push_fcm_project_id or info.get("project_id") or ""
        if not _PROJECT.fullmatch(project):
            raise SettingsError("setting push_fcm_project_id: set it (the service account names no project_id)"
                                if not project else f"setting push_fcm_project_id: {project[:100]!r} is no project id")
        url = parse_url(f"{own.push_fcm_api_base.rstrip('/')}/v1/projects/{project}/messages:send")
        if isinstance(url, Permanent):
            raise SettingsError(f"setting push_fcm_api_base: {url.message}")
        self.url = url
        self.excerpt = excerpt
        self.clock = clock
        self.tokens = AccessTokens(info, policy, timeout_s=own.push_timeout_s, excerpt=excerpt)
        self.http = OutboundHttp(policy, timeout_s=own.push_timeout_s, max_answer_bytes=MAX_ANSWER,
                                 resolver=resolver, excerpt=excerpt)

    async def start(self) -> None:
        await self.http.start()
        await self.tokens.start()

    async def close(self) -> None:
        await self.http.close()
        await self.tokens.close()

    async def send(self, device: Device, message: dict, options: PushOptions) -> Outcome:
        body = fcm_body(device, message, options, self.clock())
        for _ in range(2):  # a second time only after FCM refused the access token itself
            token = await self.tokens.current()
            if not isinstance(token, str):
                return token
            answer = await self.http.request("POST", self.url, data=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"})
            if not isinstance(answer, Answer):
                return dataclasses.replace(answer, provider=self.name)
            if not _access_token_refused(answer):
                break
            self.tokens.forget(token)
        return fcm_outcome(answer.status, answer.text, answer.retry_after_s(), lambda text: self.excerpt(text, token))


def _access_token_refused(answer: Answer) -> bool:
    """401 UNAUTHENTICATED without an FcmError: Google refused the OAuth2 token (revoked or expired
    early), unlike THIRD_PARTY_AUTH_ERROR, which is about APNs' or web push's credentials."""
    return answer.status == 401 and b"google.firebase.fcm.v1.FcmError" not in answer.body
