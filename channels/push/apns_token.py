"""The APNs provider authentication token: a JWT signed ES256 with the team's .p8 key
(`{"iss": team, "iat": now}`, header `kid`). Apple refuses one older than an hour
(ExpiredProviderToken) and renewing more often than every 20 minutes (TooManyProviderTokenUpdates),
so one token serves every send for 40 minutes."""
from __future__ import annotations

import time
from typing import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from consumer.settings import SettingsError

TOKEN_AGE_S = 40 * 60
MIN_RENEWAL_S = 20 * 60


class ProviderToken:
    def __init__(self, key_pem: str, key_id: str, team_id: str, clock: Callable[[], float] = time.time):
        try:
            self._key = load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError):
            raise SettingsError("setting push_apns_key: not a readable .p8 private key") from None
        if not isinstance(self._key, ec.EllipticCurvePrivateKey) or self._key.curve.name != "secp256r1":
            raise SettingsError("setting push_apns_key: APNs keys are P-256 EC keys (ES256)")
        self.key_id, self.team_id, self.clock = key_id, team_id, clock
        self._token: str | None = None
        self._issued_at = 0.0
        self._renewed_on_refusal_at: float | None = None

    def current(self) -> str:
        now = self.clock()
        if self._token is None or now - self._issued_at >= TOKEN_AGE_S:
            self._mint(now)
        return self._token

    def renew_after_refusal(self, refused: str) -> bool:
        """APNs refused `refused` (ExpiredProviderToken, InvalidProviderToken): mint a new one unless
        another send already did; False when one minted for a refusal is younger than 20 minutes,
        since renewing again would only earn TooManyProviderTokenUpdates."""
        now = self.clock()
        if refused != self._token:
            return True
        if self._renewed_on_refusal_at is not None and now - self._renewed_on_refusal_at < MIN_RENEWAL_S:
            return False
        self._renewed_on_refusal_at = now
        self._mint(now)
        return True

    def _mint(self, now: float) -> None:
        self._token = jwt.encode({"iss": self.team_id, "iat": int(now)}, self._key, algorithm="ES256",
                                 headers={"kid": self.key_id})
        self._issued_at = now
