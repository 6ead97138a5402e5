"""Rendering rules: sandbox, StrictUndefined, HTML autoescape only in email html, one-line
subjects and SMS text, JSON parts, locale fallback, the output cap, the time budget, and known
escape payloads."""
from __future__ import annotations

import time

import pytest

from router.templates import RenderError, Renderer, Template, locale_chain


def render(source: str, channel: str = "sms", part: str = "text", context: dict | None = None, cap: int = 4096):
    template = Template("t", 1, {channel: {"default": {part: source}}})
    return Renderer(cap).render_part(template, channel, part, "default", context or {"name": "Ada", "items": [1, 2]})


def test_html_is_escaped_in_email_html_only():
    evil = {"name": "<script>alert(1)</script>"}
    assert render("<p>{{ name }}</p>", "email", "html", evil) == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert render("{{ name }}", "email", "text", evil) == "<script>alert(1)</script>"
    assert render("{{ name }}", "sms", "text", evil) == "<script>alert(1)</script>"


def test_subject_and_sms_lose_line_breaks_but_email_text_keeps_them():
    context = {"name": "Ada\r\nBcc: victim@example.com"}
    assert render("Hi {{ name }}", "email", "subject", context) == "Hi Ada Bcc: victim@example.com"
    assert render("Hi {{ name }}\n", "sms", "text", context) == "Hi Ada Bcc: victim@example.com"
    assert render("Hi\n{{ name }}", "email", "text", context) == "Hi\nAda\r\nBcc: victim@example.com"


def test_missing_variable_is_an_error_with_its_line():
    with pytest.raises(RenderError) as caught:
        render("line one\n{{ invoice.total }}")
    assert caught.value.kind == "missing_variable" and caught.value.line == 2 and "invoice" in caught.value.detail


def test_json_parts_are_parsed_and_invalid_json_refused():
    assert render('{"text": {{ name|tojson }}, "n": {{ items|length }}}', "webhook", "body",
                  {"name": 'A "quoted" name', "items": [1]}) == {"text": 'A "quoted" name', "n": 1}
    with pytest.raises(RenderError) as caught:
        render('{"text": "{{ name }}"}', "webhook", "body", {"name": 'a "quote'})
    assert caught.value.kind == "invalid_json"
    assert render('[{"type": "divider"}]', "slack", "blocks") == [{"type": "divider"}]
    with pytest.raises(RenderError, match="JSON array"):
        render('{"type": "divider"}', "slack", "blocks")


def test_locale_chain_falls_back_to_language_then_default():
    assert locale_chain("pt-BR") == ["pt-BR", "pt", "default"]
    assert locale_chain("pt_br") == ["pt-BR", "pt", "default"]
    assert locale_chain(None) == ["default"]
    template = Template("t", 1, {"email": {"default": {"subject": "Hello", "text": "Text"},
                                           "pt": {"subject": "Olá"}, "pt-BR": {"text": "Texto"}}})
    renderer = Renderer()
    assert renderer.render_channel(template, "email", "pt-BR", {}) == {"subject": "Olá", "text": "Texto"}
    assert renderer.render_channel(template, "email", "pt-PT", {}) == {"subject": "Olá", "text": "Text"}
    assert renderer.render_channel(template, "email", "de", {}) == {"subject": "Hello", "text": "Text"}
    with pytest.raises(RenderError) as caught:
        renderer.render_channel(template, "sms", None, {})
    assert caught.value.kind == "no_parts"


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ (''|attr('\\x5f\\x5fclass\\x5f\\x5f')|attr('\\x5f\\x5fmro\\x5f\\x5f'))[1]|attr('\\x5f\\x5fsubclasses\\x5f\\x5f')() }}",
    "{{ ''|attr('_' ~ '_class_' ~ '_') }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ '{a.__class__}'.format_map({'a': name}) }}",
    "{{ '{0.__init__.__globals__}'.format(namespace) }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''.join|attr('__self__') }}",
    "{{ items.append(3) }}",
    "{{ items.pop() }}",
    "{% set x = dict(a=1) %}{{ x.update(b=2) }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_known_sandbox_escapes_are_refused(payload):
    with pytest.raises(RenderError) as caught:
        render(payload)
    assert caught.value.kind in ("sandbox_violation", "missing_variable"), caught.value
    assert "unsafe" in caught.value.detail or "undefined" in caught.value.detail or "no attribute" in caught.value.detail


def test_direct_dunder_access_is_named_a_sandbox_violation():
    for payload in ESCAPES[:3] + ESCAPES[5:7]:
        with pytest.raises(RenderError) as caught:
            render(payload)
        assert caught.value.kind == "sandbox_violation", payload


@pytest.mark.parametrize("payload", [
    "{{ 'x' * 100000 }}",
    "{{ name|center(10000000) }}",
    "{{ name.ljust(10000000) }}",
    "{{ '%10000000s' % name }}",
    "{{ '{:>10000000}'.format(name) }}",
    "{% for i in range(4000) %}xx{% endfor %}",
    "{% for i in range(3000) %}{% for j in range(3000) %}x{% endfor %}{% endfor %}",
])
def test_output_over_the_cap_is_refused(payload):
    with pytest.raises(RenderError) as caught:
        render(payload, cap=4096)
    assert caught.value.kind == "output_too_large"


def test_output_under_the_cap_renders():
    assert render("{% for i in range(2000) %}x{% endfor %}", cap=4096) == "x" * 2000
    assert render("{{ '%5s' % name }}|{{ '{:>6}'.format(name) }}", "email", "text") == "  Ada|   Ada"


def test_huge_exponents_are_refused():
    with pytest.raises(RenderError) as caught:
        render("{{ 9 ** 99999999 }}")
    assert caught.value.kind == "sandbox_violation"


def test_the_cap_counts_bytes_not_characters():
    assert render("{{ name }}", "email", "text", {"name": "é" * 2048}, cap=4096) == "é" * 2048
    with pytest.raises(RenderError) as caught:
        render("{{ name }}", "email", "text", {"name": "é" * 2049}, cap=4096)
    assert caught.value.kind == "output_too_large"


@pytest.mark.parametrize("payload", [
    # Nested loops that output nothing: the output cap never trips, the time budget does.
    "{% for i in range(10000) %}{% for j in range(10000) %}{% if i == j %}{% endif %}{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% set k = name.upper %}{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% set k = items[0] * 2 %}{% endfor %}{% endfor %}",
])
def test_a_render_past_its_time_budget_is_stopped(payload):
    started = time.monotonic()
    template = Template("slow", 1, {"email": {"default": {"text": payload}}})
    with pytest.raises(RenderError) as caught:
        Renderer(max_render_s=0.2).render_part(template, "email", "text", "default", {"name": "Ada", "items": [1, 2]})
    assert caught.value.kind == "render_too_slow"
    assert time.monotonic() - started < 5  # unbounded, each of these runs for minutes


def test_the_time_budget_is_per_render_not_per_renderer():
    template = Template("quick", 1, {"email": {"default": {"text": "{% for i in range(1000) %}{{ i }}{% endfor %}"}}})
    renderer = Renderer(max_render_s=0.2)
    for _ in range(3):
        renderer.render_part(template, "email", "text", "default", {})
        time.sleep(0.25)  # a budget left over from the last render would have run out by now
    assert renderer.render_part(template, "email", "text", "default", {}).startswith("0123")


SLACK_DATA = {"name": "<!everyone> <!channel> <!here> <@U123> <http://evil.example|click> & co"}
SLACK_ESCAPED = ("&lt;!everyone&gt; &lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;http://evil.example|click&gt; "
                 "&amp; co")


def test_slack_parts_escape_data_for_mrkdwn_but_keep_the_templates_own():
    text = render("<!here> *New user* {{ name }} <{{ url }}|{{ label }}>", "slack", "text",
                  {**SLACK_DATA, "url": "https://example.com/?a=1&b=<2>", "label": "<!channel>"})
    assert text == (f"<!here> *New user* {SLACK_ESCAPED} "
                    "<https://example.com/?a=1&amp;b=&lt;2&gt;|&lt;!channel&gt;>")
    assert render("{{ name ~ '!' }}", "slack", "text", SLACK_DATA) == SLACK_ESCAPED + "!"
    # quotes and apostrophes are not HTML-escaped: Slack decodes only &amp; &lt; &gt;
    assert render("{{ name }}", "slack", "text", {"name": "it's \"fine\""}) == "it's \"fine\""


def test_slack_blocks_escape_the_strings_that_tojson_writes():
    blocks = render('[{"type": "section", "text": {"type": "mrkdwn", "text": {{ ("*" ~ name ~ "*")|tojson }}}, '
                    '"fields": {{ [name, {"k": name}]|tojson }}}]', "slack", "blocks", SLACK_DATA)
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{SLACK_ESCAPED}*"},
                       "fields": [SLACK_ESCAPED, {"k": SLACK_ESCAPED}]}]


def test_safe_marks_trusted_mrkdwn_in_slack_parts():
    context = {"link": "<https://status.example.com|status page>", "name": "<!everyone>"}
    assert render("{{ link|safe }} for {{ name }}", "slack", "text", context) == \
        "<https://status.example.com|status page> for &lt;!everyone&gt;"
    blocks = render('[{"type": "section", "text": {"type": "mrkdwn", "text": {{ link|safe|tojson }}}}]',
                    "slack", "blocks", context)
    assert blocks[0]["text"]["text"] == "<https://status.example.com|status page>"


def test_other_text_parts_are_not_slack_escaped():
    for channel, part in (("email", "text"), ("email", "subject"), ("sms", "text")):
        assert render("{{ name }}", channel, part, {"name": "<!here> & co"}) == "<!here> & co"
    assert render('{"t": {{ name|tojson }}}', "webhook", "body", {"name": "<!here> & co"}) == {"t": "<!here> & co"}
