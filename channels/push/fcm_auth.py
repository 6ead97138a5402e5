"""FCM's OAuth2 access tokens, minted from the service account by google-auth (a signed JWT
assertion posted to the account's token_uri) and kept until they near their expiry: one token
request serves every send of the hour, and one refresh runs at a time."""
from __future__ import annotations

import asyncio
import functools
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account
from yarl import URL

from channels.outbound import GuardedResolver, TargetPolicy, TargetRefused, parse_url
from consumer.outcomes import Permanent, Transient
from consumer.settings import SettingsError

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# A token is minted again this long before it expires, the margin google-auth keeps itself
# (REFRESH_THRESHOLD), so that no send carries one that expires on the way.
EARLY = timedelta(minutes=3, seconds=45)


class AccessTokens:
    def __init__(self, info: dict, policy: TargetPolicy, *, timeout_s: float, excerpt,
                 monotonic: Callable[[], float] = time.monotonic):
        try:
            self.credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
        except ValueError:  # the key does not parse: its text must not reach the error
            raise SettingsError("setting push_fcm_service_account: its private_key is not a PEM RSA key") from None
        token_uri = parse_url(info["token_uri"])
        if isinstance(token_uri, Permanent):
            raise SettingsError(f"setting push_fcm_service_account: token_uri: {token_uri.message}")
        self.token_uri: URL = token_uri
        self.policy = policy
        self.guard: GuardedResolver | None = None
        self.excerpt = excerpt
        self.request = functools.partial(google.auth.transport.requests.Request(), timeout=timeout_s)
        self._lock = asyncio.Lock()
        # The token and, on the monotonic clock, when it stops being used: every send asks, so
        # the answer is one comparison rather than google-auth's wall-clock date arithmetic.
        self.monotonic = monotonic
        self._token: str | None = None
        self._fresh_until = -math.inf

    async def current(self) -> str | Permanent | Transient:
        """A valid access token, minted when there is none or it is about to expire (EARLY before
        its expiry); else the outcome of the failed refresh."""
        if self.monotonic() < self._fresh_until:
            return self._token
        async with self._lock:
            if not self.monotonic() < self._fresh_until:  # another send may have refreshed it meanwhile
                if (failed := await self._refresh()) is not None:
                    return failed
            return self._token

    def forget(self, token: str) -> None:
        """FCM refused this token (401 UNAUTHENTICATED): the next send mints a new one."""
        if self._token == token:
            self._token, self._fresh_until = None, -math.inf
            self.credentials.token = None

    async def start(self) -> None:
        # google-auth posts with requests, which no guard sees: its target is checked before each refresh.
        self.guard = GuardedResolver(self.policy)

    async def close(self) -> None:
        if self.guard is not None:
            await self.guard.close()

    async def _refresh(self) -> Permanent | Transient | None:
        host = self.token_uri.raw_host or ""
        try:
            self.policy.check_host(host)
            await self.guard.resolve(host, self.token_uri.port or 443)
        except TargetRefused as exc:
            return Permanent("target_refused", f"token_uri: {exc}", provider="fcm")
        except OSError as exc:
            return Transient("fcm_token_unreachable", self.excerpt(str(exc)), provider="fcm")
        try:
            await asyncio.to_thread(self.credentials.refresh, self.request)
        except google.auth.exceptions.RefreshError as exc:
            # invalid_grant (a deleted or disabled key, a clock far off) stays; a 5xx or 429 of
            # the token endpoint is marked retryable by google-auth.
            kind = Transient if getattr(exc, "retryable", False) else Permanent
            return kind("fcm_token_refused", self.excerpt(str(exc)), provider="fcm")
        except google.auth.exceptions.TransportError as exc:
            return Transient("fcm_token_unreachable", self.excerpt(str(exc)), provider="fcm")
        self._token, self._fresh_until = self.credentials.token, self._deadline(self.credentials.expiry)
        return None

    def _deadline(self, expiry: datetime | None) -> float:
        """The monotonic time EARLY before `expiry` (google-auth's naive UTC); none: never expires."""
        if expiry is None:
            return math.inf
        left = expiry - EARLY - datetime.now(timezone.utc).replace(tzinfo=None)
        return self.monotonic() + left.total_seconds()
