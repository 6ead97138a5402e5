"""The Telegram provider against a fake Bot API that speaks Telegram's request and answer shapes:
plain, HTML and MarkdownV2 text with what each must escape, silence for LOW priority, each
documented answer to its outcome (retry_after, blocked -> opted out, chat not found, migrated,
bad token), the 4096-character limit, pacing per chat and per bot, the token kept out of every
outcome, and the SSRF matrix refused on the operator's API base."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from channels.telegram.markup import escape_html
from channels.telegram.provider import TelegramProvider
from channels.telegram.spec import check_address
from consumer.channel_specs import AddressInvalid
from consumer.outcomes import Deferred, Delivered, Permanent, Suppressed, Transient
from consumer.settings import Settings, SettingsError
from tests.channels import test_outbound_ssrf as ssrf
from tests.fixtures.telegram import BLOCKED, LOOPBACK, TOKEN, FakeTelegram, error


@pytest.fixture
def telegram():
    server = FakeTelegram()
    yield server
    server.close()


def message(address: str = "123456789", subject: str | None = "Disk full", text: str | None = "node-7 at 97%",
            html: str | None = None, options: dict | None = None, priority: str = "HIGH",
            template: str | None = None) -> dict:
    return {"delivery_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()), "channel": "telegram",
            "priority": priority, "address": address, "subject": subject, "text": text, "html": html,
            "template": template, "options": json.dumps(options or {}), "attempt": 1}


def send_all(server: FakeTelegram, messages: list[dict], **settings) -> list:
    async def run():
        provider = TelegramProvider(Settings(**{**LOOPBACK, "telegram_api_base": server.base,
                                                "telegram_per_chat_per_s": 0, "telegram_per_s": 0, **settings}))
        await provider.start()
        try:
            return [await provider.send(m) for m in messages]
        finally:
            await provider.close()
    return asyncio.run(run())


def test_plain_text_reaches_the_chat_with_the_subject_on_top(telegram):
    [outcome] = send_all(telegram, [message(text="a_b *c* 1.5 <d> & e")])
    assert outcome == Delivered(status_code=200, provider_message_id="101")
    [sent] = telegram.sent
    assert telegram.requests == [f"/bot{TOKEN}/sendMessage"]
    assert sent["chat_id"] == 123456789 and "parse_mode" not in sent  # an integer, as documented
    assert sent["seen"] == "Disk full\na_b *c* 1.5 <d> & e" and sent["disable_notification"] is False


def test_low_priority_is_silent_unless_the_options_say_otherwise(telegram):
    send_all(telegram, [message(priority="LOW"), message(priority="NORMAL"),
                        message(priority="LOW", options={"disable_notification": False}),
                        message(priority="URGENT", options={"disable_notification": True})])
    assert [s["disable_notification"] for s in telegram.sent] == [True, False, False, True]


def test_a_templates_markdown_part_is_sent_as_markdown_v2_with_its_data_escaped(telegram):
    from router.template_store import Template
    from router.templates import Renderer

    data = {"host": "db-1.prod (eu-west)", "load": "97.5%!"}
    template = Template("t", 1, {"telegram": {"default": {"markdown": "*Alert* on {{ host }}: _{{ load }}_"}}})
    rendered = Renderer(4096).render_part(template, "telegram", "markdown", "default", data)
    assert rendered == "*Alert* on db\\-1\\.prod \\(eu\\-west\\): _97\\.5%\\!_"
    [outcome] = send_all(telegram, [message(subject="db-1.prod", text="fallback", template="t@1",
                                            options={"markdown": rendered})])
    assert outcome == Delivered(status_code=200, provider_message_id="101")  # the fake parses MarkdownV2 as Telegram
    [sent] = telegram.sent
    assert sent["parse_mode"] == "MarkdownV2" and sent["text"].startswith("*db\\-1\\.prod*\n*Alert*")
    assert sent["seen"] == "db-1.prod\nAlert on db-1.prod (eu-west): 97.5%!"


def test_html_is_sent_with_its_parse_mode_and_the_subject_escaped_for_it(telegram):
    data = 'Tom & Jerry <tom@example.com> said "hi"'
    html = f"<b>From:</b> {escape_html(data)}"  # as the router renders an html part: data escaped
    outcomes = send_all(telegram, [message(subject="Q&A <today>", text="plain fallback", html=html),
                                   message(address="@tidings_news", subject=None, html="<i>x</i> & <y>")])
    assert outcomes[0] == Delivered(status_code=200, provider_message_id="101")
    sent = telegram.sent[0]
    assert sent["parse_mode"] == "HTML" and sent["chat_id"] == 123456789
    assert sent["text"].startswith("<b>Q&amp;A &lt;today&gt;</b>\n")
    assert sent["seen"] == f"Q&A <today>\nFrom: {data}"
    # An unescaped `<` in HTML is refused by Telegram, as the fake does.
    assert isinstance(outcomes[1], Permanent) and outcomes[1].error_class == "telegram_bad_markup"
    assert "can't parse entities" in outcomes[1].message and len(telegram.sent) == 1


def test_markdown_v2_written_by_the_publisher_and_the_subject_escaped_for_it(telegram):
    outcomes = send_all(telegram, [
        message(subject="v1.2 (beta) - ready!", text="*bold* _it_ and 1\\.5 \\#2",
                options={"parse_mode": "MarkdownV2", "disable_link_preview": True, "message_thread_id": 7}),
        message(subject=None, text="Price: 1.5", options={"parse_mode": "MarkdownV2"})])
    assert isinstance(outcomes[0], Delivered)
    [sent] = telegram.sent
    assert sent["parse_mode"] == "MarkdownV2" and sent["text"].startswith("*v1\\.2 \\(beta\\) \\- ready\\!*\n")
    assert sent["seen"] == "v1.2 (beta) - ready!\nbold it and 1.5 #2"
    assert sent["link_preview_options"] == {"is_disabled": True} and sent["message_thread_id"] == 7
    assert outcomes[1].error_class == "telegram_bad_markup" and "Character '.' is reserved" in outcomes[1].message


def test_a_parse_mode_over_a_templates_plain_text_is_refused_before_sending(telegram):
    outcomes = send_all(telegram, [message(template="invoice@3", options={"parse_mode": "MarkdownV2"}),
                                   message(template="invoice@3", options={"parse_mode": "HTML"}),
                                   message(options={"parse_mode": "Markdown"})])
    assert [o.error_class for o in outcomes] == ["invalid_options"] * 3
    assert "parse_mode" in outcomes[0].message and telegram.requests == []


def test_the_limit_counts_characters_after_the_markup_is_parsed(telegram):
    in_html = "<b>" + "&amp;" * 4096 + "</b>"  # 4096 characters once parsed, 20k of markup
    outcomes = send_all(telegram, [message(subject=None, text="x" * 4097), message(subject=None, html=in_html),
                                   message(subject=None, text="  ")])
    assert outcomes[0].error_class == "telegram_text_too_long" and "4,097" in outcomes[0].message
    assert isinstance(outcomes[1], Delivered) and telegram.sent[0]["seen"] == "&" * 4096
    assert outcomes[2].error_class == "telegram_empty_text" and len(telegram.requests) == 1


@pytest.mark.parametrize("description", [BLOCKED, "Forbidden: user is deactivated",
                                         "Forbidden: bot was kicked from the group chat"])
def test_a_recipient_who_left_is_an_opt_out(telegram, description):
    telegram.blocked["123456789"] = description
    [outcome] = send_all(telegram, [message()])
    assert outcome == Suppressed("opted_out", description, 403, provider="telegram")


def test_each_documented_refusal_is_its_outcome(telegram):
    telegram.migrated["-4001"] = -1004001
    telegram.chats.add("-4001")
    telegram.answer_next(error(429, "Too Many Requests: retry after 17", retry_after=17))
    telegram.answer_next(error(403, "Forbidden: bot is not a member of the channel chat"))
    telegram.answer_next(error(502, "Bad Gateway"))
    telegram.answer_next("<html>502 Bad Gateway</html>", status=502)
    outcomes = send_all(telegram, [message()] * 4 + [message(address="42424242"), message(address="-4001")])
    assert outcomes[0] == Transient("telegram_throttled", "Too Many Requests: retry after 17", 429, 17.0)
    assert outcomes[1] == Permanent("telegram_forbidden", "Forbidden: bot is not a member of the channel chat", 403)
    assert [(type(o), o.error_class, o.status_code) for o in outcomes[2:4]] == [
        (Transient, "telegram_http_502", 502)] * 2
    assert outcomes[4] == Permanent("telegram_chat_not_found", "Bad Request: chat not found", 400)
    assert outcomes[5].error_class == "telegram_chat_migrated" and "send to chat id -1004001" in outcomes[5].message


def test_a_wrong_token_is_unauthorized_and_no_token_is_ever_shown(telegram):
    other = "7012345678:AAOtherTokenNotKnownToTheFake_999"
    [refused] = send_all(telegram, [message()], telegram_bot_token=other)
    assert refused.error_class == "telegram_unauthorized" and refused.status_code == 401
    telegram.answer_next(error(400, f"Bad Request: odd path /bot{TOKEN}/sendMessage"))  # an echo
    [echoed] = send_all(telegram, [message()])
    assert echoed.error_class == "telegram_bad_request" and "[redacted]" in echoed.message
    assert other not in refused.message and TOKEN not in echoed.message and telegram.sent == []


def test_the_worker_needs_a_token_shaped_like_one():
    with pytest.raises(SettingsError, match="telegram_bot_token: required"):
        TelegramProvider(Settings())
    with pytest.raises(SettingsError, match="telegram_bot_token: not a bot token") as refused:
        TelegramProvider(Settings(telegram_bot_token="123/../../evil"))
    assert "evil" not in str(refused.value)
    with pytest.raises(SettingsError, match="telegram_api_base"):
        TelegramProvider(Settings(telegram_bot_token=TOKEN, telegram_api_base="api.telegram.org"))


@pytest.mark.parametrize("address", ["123456789", "-1001234567890", "@tidings_news", "@abcde", " 42 "])
def test_chat_ids_and_channel_usernames_are_addresses(address):
    assert check_address(address) == address.strip()


@pytest.mark.parametrize("address", ["", "abc", "@abcd", "@" + "a" * 33, "@bad-name", "12.5", "+4412", "0",
                                     "https://t.me/tidings_news", "-", "1" * 17])
def test_anything_else_is_refused(address):
    with pytest.raises(AddressInvalid):
        check_address(address)


def test_sends_are_paced_per_chat_and_per_bot_and_a_long_queue_waits_on_a_retry_tier(telegram):
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def run():
        provider = TelegramProvider(Settings(**LOOPBACK, telegram_api_base=telegram.base, telegram_per_chat_per_s=1.0,
                                             telegram_per_s=4.0, telegram_max_pacing_wait_s=1.5),
                                    clock=lambda: now[0], sleep=sleep)
        await provider.start()
        try:
            first = [await provider.send(message()) for _ in range(2)]
            other = await provider.send(message(address="@tidings_news"))  # only the bot's pace holds it
            provider.per_chat.reserve("123456789")
            provider.per_chat.reserve("123456789")
            parked = await provider.send(message())
            return first, other, parked
        finally:
            await provider.close()

    first, other, parked = asyncio.run(run())
    assert all(isinstance(o, Delivered) for o in [*first, other])
    assert slept == [1.0, 0.25]  # the chat's second waits a second; the other chat a quarter (4 a second)
    assert isinstance(parked, Deferred) and parked.reason == "telegram_paced" and len(telegram.sent) == 3


def telegram_provider(allowed: str | None, url: str) -> TelegramProvider:
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base=url, telegram_allowed_targets=allowed,
                        telegram_timeout_s=5.0, telegram_per_chat_per_s=0, telegram_per_s=0)
    return TelegramProvider(settings, resolver=ssrf.FakeDns(ssrf.DNS))


# The SSRF matrix, a redirect to an internal address, and the control case (tests/channels/test_outbound_ssrf.py).
(test_the_ssrf_matrix_reaches_no_internal_address, test_a_redirect_to_an_internal_address_is_not_followed,
 test_control_an_allowed_internal_target_does_reach_the_canary) = ssrf.cases_for("telegram", telegram_provider, lambda url: message(), secret=TOKEN)
