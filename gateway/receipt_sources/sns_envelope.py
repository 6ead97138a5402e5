"""SNS HTTP(S) messages, step one: the JSON envelope SNS posts, checked field by field, and the string
it signed, built as AWS documents it (sns/latest/dg/sns-verify-signature-of-message.html)."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from gateway.receipt_sources.report_fields import Malformed

# The name-value pairs each type signs, in byte order; Subject only when the message has one.
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL = frozenset({"Subject"})
SIGNATURE_VERSIONS = ("1", "2")  # SHA1withRSA, SHA256withRSA
MAX_SIGNATURE_BYTES = 1024  # an RSA-8192 signature; AWS signs with RSA-2048



@dataclass(frozen=True)
class SnsEnvelope:
    type: str
    message_id: str
    topic_arn: str
    message: str
    signature_version: str
    signature: bytes
    signing_cert_url: str
    subscribe_url: str | None
    signed: bytes  # the string to sign, UTF-8

    @property
    def is_notification(self) -> bool:
        return self.type == "Notification"


def read_envelope(body: Any) -> SnsEnvelope:
    """The envelope of one SNS message, or Malformed naming what is missing or wrong."""
    if not isinstance(body, dict):
        raise Malformed("request body: expected an SNS message (a JSON object)")
    kind = body.get("Type")
    if kind not in SIGNED_FIELDS:
        raise Malformed(f"Type: {str(kind)[:60]!r} is not one of {', '.join(SIGNED_FIELDS)}")
    for name in (*SIGNED_FIELDS[kind], "SignatureVersion", "Signature", "SigningCertURL"):
        if name in OPTIONAL and body.get(name) is None:
            continue
        if not isinstance(body.get(name), str) or (name not in ("Message", "Subject") and not body[name]):
            raise Malformed(f"{name}: required, a string")
    if body["SignatureVersion"] not in SIGNATURE_VERSIONS:
        raise Malformed(f"SignatureVersion: {body['SignatureVersion'][:20]!r} is not 1 or 2")
    try:
        signature = base64.b64decode(body["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("Signature: not base64") from None
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        raise Malformed("Signature: not an RSA signature")
    return SnsEnvelope(kind, body["MessageId"], body["TopicArn"], body["Message"], body["SignatureVersion"],
                       signature, body["SigningCertURL"], body.get("SubscribeURL"), string_to_sign(body))


def string_to_sign(body: dict) -> bytes:
    """Each signed name, a newline, its value, a newline (the JSON escapes already undone by the
    parser); a lone surrogate from a \\ud800 escape is kept, and then the signature does not verify."""
    fields = [name for name in SIGNED_FIELDS[body["Type"]] if body.get(name) is not None]
    return "".join(f"{name}\n{body[name]}\n" for name in fields).encode("utf-8", "surrogatepass")
