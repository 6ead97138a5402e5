"""FCM's OAuth2 access tokens, minted from the service account by google-auth (a signed JWT
assertion posted to the account's token_uri) and kept until they near their expiry: one token
request serves every send of the hour, and one refresh runs at a time."""
from __future__ import annotations

import asyncio
import functools

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account
from yarl import URL

from channels.outbound import GuardedResolver, TargetPolicy, TargetRefused, parse_url
from consumer.outcomes import Permanent, Transient
from consumer.settings import SettingsError

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class AccessTokens:
    def __init__(self, info: dict, policy: TargetPolicy, *, timeout_s: float, excerpt):
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

    async def current(self) -> str | Permanent | Transient:
        """A valid access token, minted when there is none or it is about to expire (google-auth
        counts a token expired a few minutes early); else the outcome of the failed refresh."""
        if self.credentials.valid:
            return self.credentials.token
        async with self._lock:
            if not self.credentials.valid:  # another send may have refreshed it meanwhile
                if (failed := await self._refresh()) is not None:
                    return failed
            return self.credentials.token

    def forget(self, token: str) -> None:
        """FCM refused this token (401 UNAUTHENTICATED): the next send mints a new one."""
        if self.credentials.token == token:
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
        return None
