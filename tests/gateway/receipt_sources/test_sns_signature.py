"""SNS message verification against AWS's documented algorithm: the string to sign of each type,
SHA1withRSA and SHA256withRSA signatures made with a test certificate served on loopback, the
certificate URL's host rule, the topic allow-list, the certificate cache and the SubscribeURL GET."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from consumer.settings import SettingsError
from gateway.receipt_sources.report_fields import Malformed
from gateway.receipt_sources.sns_envelope import read_envelope, string_to_sign
from gateway.receipt_sources.sns_signature import SnsUrls, SnsVerifier
from tests.fixtures.sns import TOPIC


def verifier(fake, topics=(TOPIC,), clock=lambda: datetime.now(timezone.utc)) -> SnsVerifier:
    return SnsVerifier(frozenset(topics), SnsUrls.from_setting(fake.base), clock)


def refusal(verifier: SnsVerifier, message: dict):
    return asyncio.run(verifier.refusal(read_envelope(message)))


def test_the_string_to_sign_is_awss_example_for_a_notification_and_a_confirmation():
    # The two examples on AWS's "Verifying the signatures of Amazon SNS messages" page.
    notification = {"Type": "Notification", "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
                    "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
                    "Subject": "My subject", "Message": "My Test Message", "Timestamp": "2019-01-31T04:37:04.321Z",
                    "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe"}
    assert string_to_sign(notification) == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\nSubject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n")
    del notification["Subject"]
    assert b"Subject" not in string_to_sign(notification)
    confirmation = {"Type": "SubscriptionConfirmation", "MessageId": "3d891288-136d-417f-bc05-901c108273ee",
                    "Token": "233...", "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
                    "Message": "My Test Message", "Timestamp": "2019-01-31T19:25:13.719Z",
                    "SubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&Token=233..."}
    assert string_to_sign(confirmation) == (
        b"Message\nMy Test Message\nMessageId\n3d891288-136d-417f-bc05-901c108273ee\n"
        b"SubscribeURL\nhttps://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&Token=233...\n"
        b"Timestamp\n2019-01-31T19:25:13.719Z\nToken\n233...\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nSubscriptionConfirmation\n")


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_message_signed_with_snss_key_verifies_and_its_certificate_is_fetched_once(fake_sns, version):
    check = verifier(fake_sns)
    assert refusal(check, fake_sns.notification({"hello": "world"}, subject="Line one\nline two", version=version)) is None
    assert refusal(check, fake_sns.confirmation(version=version)) is None
    assert refusal(check, fake_sns.confirmation(kind="UnsubscribeConfirmation", version=version)) is None
    assert fake_sns.certificate_fetches == 1  # cached by URL


@pytest.mark.parametrize("tamper", [
    lambda m: {**m, "Message": m["Message"] + " "},
    lambda m: {**m, "Timestamp": "2030-01-01T00:00:00.000Z"},
    lambda m: {**m, "Subject": "added after signing"},
    lambda m: {**m, "SignatureVersion": "2"},  # signed as 1: the SHA256 check fails
])
def test_a_changed_message_does_not_verify(fake_sns, tamper):
    result = refusal(verifier(fake_sns), tamper(fake_sns.notification({"a": 1})))
    assert result.status == 403 and result.reason == "the signature does not verify"


def test_a_forgers_certificate_or_a_key_that_is_not_rsa_is_refused(fake_sns, sns_signing_keys):
    forged = fake_sns.notification({"a": 1}, key=sns_signing_keys["forger"])
    assert refusal(verifier(fake_sns), forged).status == 403
    fake_sns.key = sns_signing_keys["ecdsa"]  # the URL now serves an ECDSA certificate
    result = refusal(verifier(fake_sns), fake_sns.notification({"a": 1}, key=sns_signing_keys["forger"]))
    assert (result.status, result.reason) == (403, "the signing certificate's key is not RSA")


def test_a_topic_that_is_not_allowed_is_refused_before_any_certificate_is_fetched(fake_sns):
    result = refusal(verifier(fake_sns), fake_sns.notification({"a": 1}, topic="arn:aws:sns:eu-west-1:1:other"))
    assert result.status == 403 and "TopicArn" in result.reason
    assert refusal(verifier(fake_sns, topics=()), fake_sns.notification({"a": 1})).status == 403
    assert fake_sns.certificate_fetches == 0


@pytest.mark.parametrize("url", [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",      # not https
    "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem",
    "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",                 # user info
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-x.pem",
    "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",          # not a certificate
    "https://127.0.0.1/x.pem",
])
def test_a_certificate_url_off_snss_hosts_is_refused_and_not_fetched(fake_sns, url):
    message = fake_sns.notification({"a": 1}, certificate_url=url)
    result = refusal(verifier(fake_sns), message)
    assert result.status == 403 and "SigningCertURL" in result.reason
    assert fake_sns.certificate_fetches == 0


def test_snss_own_hosts_are_allowed_in_every_region_and_in_china():
    urls = SnsUrls()
    for url in ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
                "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3242f4f2.pem",
                "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-1.pem"):
        assert urls.allows(url, certificate=True), url
    assert urls.allows("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=1", certificate=False)
    assert not urls.allows("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", certificate=True)
    # An extra prefix admits only what starts with it, up to a path boundary.
    local = SnsUrls.from_setting("http://127.0.0.1:99")
    assert local.allows("http://127.0.0.1:99/x.pem", certificate=True)
    assert not local.allows("http://127.0.0.1:999/x.pem", certificate=True)
    with pytest.raises(SettingsError, match="TIDINGS_GATEWAY_SNS_URL_PREFIXES"):
        SnsUrls.from_setting("ftp://127.0.0.1/")


def test_a_certificate_outside_its_validity_is_refused(fake_sns):
    # trustme's certificates are valid from 2000 to 3000: the clock goes back to before.
    before = lambda: datetime(1999, 12, 31, tzinfo=timezone.utc)  # noqa: E731
    result = refusal(verifier(fake_sns, clock=before), fake_sns.notification({"a": 1}))
    assert (result.status, result.reason) == (403, "the signing certificate is not valid now")


def test_a_certificate_that_cannot_be_fetched_now_is_retried_later(fake_sns):
    fake_sns.certificate_status = 503
    check = verifier(fake_sns)
    assert refusal(check, fake_sns.notification({"a": 1})).status == 503
    fake_sns.certificate_status = 404
    assert refusal(check, fake_sns.notification({"a": 1})).status == 403
    fake_sns.certificate_status = 200
    assert refusal(check, fake_sns.notification({"a": 1})) is None  # failures are not cached
    assert fake_sns.certificate_fetches == 3


def test_the_subscription_is_confirmed_by_a_get_of_the_subscribe_url(fake_sns):
    check = verifier(fake_sns)
    confirmation = read_envelope(fake_sns.confirmation())
    assert asyncio.run(check.confirm_subscription(confirmation)) is None
    [query] = fake_sns.confirmations
    assert query["TopicArn"] == TOPIC and query["Token"]
    elsewhere = read_envelope(fake_sns.confirmation(subscribe_url="https://evil.example/?Action=ConfirmSubscription"))
    assert asyncio.run(check.confirm_subscription(elsewhere)).status == 403
    failing = read_envelope(fake_sns.confirmation(subscribe_url=f"{fake_sns.base}/?Action=Nope"))
    assert asyncio.run(check.confirm_subscription(failing)).status == 502
    assert len(fake_sns.confirmations) == 1


@pytest.mark.parametrize("change, field", [
    (lambda m: {**m, "Type": "Telegram"}, "Type"),
    (lambda m: {k: v for k, v in m.items() if k != "TopicArn"}, "TopicArn"),
    (lambda m: {**m, "MessageId": 7}, "MessageId"),
    (lambda m: {**m, "SignatureVersion": "3"}, "SignatureVersion"),
    (lambda m: {**m, "Signature": "not base64!"}, "Signature"),
    (lambda m: {k: v for k, v in m.items() if k != "Token"}, "Token"),
])
def test_a_message_missing_what_its_type_signs_is_malformed(fake_sns, change, field):
    with pytest.raises(Malformed, match=f"^{field}"):
        read_envelope(change(fake_sns.confirmation()))
