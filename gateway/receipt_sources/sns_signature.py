"""SNS HTTP(S) messages, step two: is it SNS's? The topic must be on the allow-list, the signing
certificate must come over HTTPS from `sns.<region>.amazonaws.com[.cn]` (fetched once per URL and
cached), and the signature must verify with its key; the SubscribeURL is held to the same hosts.

Refusals are data with an HTTP status: 403 for a message that is not SNS's (SNS does not retry a
4xx), 503 when the certificate cannot be fetched just now and 502 when a confirmation fails (SNS
retries a 5xx)."""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from channels.outbound import TargetPolicy
from channels.outbound_http import Answer, OutboundHttp
from consumer.events import Clock
from consumer.outcomes import Transient
from consumer.settings import Settings, SettingsError
from gateway.receipt_sources.sns_envelope import SnsEnvelope
from gateway.settings import GatewaySettings

AWS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CONFIRMATION_BYTES = 64 * 1024  # SNS answers with a short XML document, not read beyond its status
CACHED_CERTIFICATES = 32  # AWS signs with a handful per region; a new URL is a new certificate
FETCH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Refusal:
    status: int  # 403: not SNS's; 503: try again later
    reason: str


class SnsUrls:
    """Which URLs a message may send the gateway to: AWS's SNS endpoints over HTTPS, and the
    operator's extra prefixes (a local fake)."""

    def __init__(self, prefixes: tuple[str, ...] = ()):
        self.prefixes = prefixes
        # The prefixes' hosts may be private (a fake on loopback); AWS's must be public.
        self.policy = TargetPolicy.from_setting(",".join(urlsplit(p).hostname or "" for p in prefixes),
                                                "gateway_sns_url_prefixes")

    @classmethod
    def from_setting(cls, raw: str | None) -> "SnsUrls":
        prefixes = []
        for entry in filter(None, (part.strip() for part in (raw or "").split(","))):
            parts = urlsplit(entry)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
                raise SettingsError(f"setting gateway_sns_url_prefixes (TIDINGS_GATEWAY_SNS_URL_PREFIXES): {entry!r} "
                                    "is not an http(s) URL prefix such as http://127.0.0.1:9911/")
            # A prefix ends at a path boundary: http://127.0.0.1:99 must not admit http://127.0.0.1:999.
            prefixes.append(entry if parts.path.endswith("/") else entry + "/")
        return cls(tuple(prefixes))

    def allows(self, url: str, *, certificate: bool) -> bool:
        if any(url.startswith(prefix) for prefix in self.prefixes):
            return True
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        return (parts.scheme == "https" and parts.username is None and port in (None, 443)
                and AWS_HOST.fullmatch(parts.hostname or "") is not None
                and (not certificate or parts.path.endswith(".pem")))


class SnsVerifier:
    """Verifies SNS messages for one gateway; the certificates it fetched are kept for its life."""

    def __init__(self, topics: frozenset[str], urls: SnsUrls, clock: Clock):
        self.topics, self.urls, self.clock = topics, urls, clock
        self.certificates: OrderedDict[str, x509.Certificate] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> "SnsVerifier":
        own = settings.section(GatewaySettings)
        topics = frozenset(t.strip() for t in (own.gateway_sns_topic_arns or "").split(",") if t.strip())
        return cls(topics, SnsUrls.from_setting(own.gateway_sns_url_prefixes), clock)

    async def refusal(self, envelope: SnsEnvelope) -> Refusal | None:
        """None when the message is SNS's, about an allowed topic; else why not."""
        if envelope.topic_arn not in self.topics:
            # Checked first: a stranger's message costs no certificate fetch.
            return Refusal(403, f"TopicArn {envelope.topic_arn[:200]!r} is not in TIDINGS_GATEWAY_SNS_TOPIC_ARNS")
        if not self.urls.allows(envelope.signing_cert_url, certificate=True):
            return Refusal(403, "SigningCertURL is not an https://sns.<region>.amazonaws.com/ certificate")
        certificate = await self.certificate(envelope.signing_cert_url)
        if isinstance(certificate, Refusal):
            return certificate
        now = self.clock()
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return Refusal(403, "the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return Refusal(403, "the signing certificate's key is not RSA")
        try:
            key.verify(envelope.signature, envelope.signed, padding.PKCS1v15(), HASHES[envelope.signature_version]())
        except InvalidSignature:
            return Refusal(403, "the signature does not verify")
        return None

    async def confirm_subscription(self, envelope: SnsEnvelope) -> Refusal | None:
        """GET the SubscribeURL of a verified SubscriptionConfirmation; a failure is a 502, which
        SNS retries."""
        url = envelope.subscribe_url or ""
        if not self.urls.allows(url, certificate=False):
            return Refusal(403, "SubscribeURL is not an https://sns.<region>.amazonaws.com/ URL")
        answer = await self.get(url, MAX_CONFIRMATION_BYTES)
        if isinstance(answer, Answer) and 200 <= answer.status < 300:
            return None
        why = f"HTTP {answer.status}" if isinstance(answer, Answer) else answer.message[:200]
        return Refusal(502, f"the subscription could not be confirmed: {why}")

    async def certificate(self, url: str) -> x509.Certificate | Refusal:
        if url in self.certificates:
            self.certificates.move_to_end(url)
            return self.certificates[url]
        answer = await self.get(url, MAX_CERTIFICATE_BYTES)
        if not isinstance(answer, Answer):
            status = 503 if isinstance(answer, Transient) else 403
            return Refusal(status, f"the signing certificate could not be fetched: {answer.message[:200]}")
        if answer.status != 200:
            return Refusal(503 if answer.status >= 500 else 403,
                           f"the signing certificate could not be fetched: HTTP {answer.status}")
        try:
            certificate = x509.load_pem_x509_certificate(answer.body)
        except ValueError:
            return Refusal(403, "SigningCertURL does not hold a PEM certificate")
        self.certificates[url] = certificate
        while len(self.certificates) > CACHED_CERTIFICATES:
            self.certificates.popitem(last=False)
        return certificate

    async def get(self, url: str, max_bytes: int):
        """One GET through the outbound HTTP kit (SSRF guard, timeouts, capped read, no redirects):
        an Answer, or the Permanent/Transient outcome of what went wrong."""
        http = OutboundHttp(self.urls.policy, timeout_s=FETCH_TIMEOUT_S, max_answer_bytes=max_bytes, limit=4)
        await http.start()
        try:
            return await http.request("GET", url)
        finally:
            await http.close()
