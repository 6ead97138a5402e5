"""Template resource limits in the sandbox itself: every way the issue found (and a few more) to grow
a value past the output cap or to run past the time budget is refused before it allocates, with
a bounded peak of memory; ordinary templates near the limits still render."""
from __future__ import annotations

import tracemalloc

import pytest

from router.templates import RenderError, Renderer, Template

CAP = 256 * 1024
# Python allocations during one refused render, all told: the cap is 256 kB, so a few MB at most.
PEAK_BYTES = 24 * 1024 * 1024

ATTACKS = {
    # format widths, literal or given at render time
    "percent format filter": "{{ '%400000000s'|format('x') }}",
    "percent star width": "{{ '%*s' % (400000000, 'x') }}",
    "percent precision": "{{ '%.400000000f' % 1.5 }}",
    "nested format width": "{{ '{:{}}'.format('x', 400000000) }}",
    "nested format width as text": "{{ '{:{}}'.format('x', width) }}",
    "format_map width": "{{ '{x:{w}}'.format_map({'x': name, 'w': width}) }}",
    "literal format width": "{{ '{:400000000}'.format(name) }}",
    "format precision": "{{ '{:.400000000f}'.format(1.5) }}",
    "many fields": "{{ ('{0:200000}' * 50).format(name) }}",
    # growth through filters, methods and operators
    "join": "{% set s = 'x' * 200000 %}{{ [s, s, s, s]|join }}",
    "join of a generator": "{% set s = 'x' * 200000 %}{{ range(100)|map('replace', '0', s)|join }}",
    "replace": "{% set s = 'x' * 200000 %}{{ s|replace('x', s) }}",
    "indent": "{% set s = '\n' * 200000 %}{{ s|indent(200000) }}",
    "indent with a text width": "{% set s = '\n' * 200000 %}{{ s|indent('y' * 200000) }}",
    "center": "{{ name|center(400000000) }}",
    "wordwrap": "{{ ('x' * 200000)|wordwrap(1, wrapstring='y' * 1000) }}",
    "batch fill": "{% set s = 'x' * 200000 %}{{ ['a']|batch(250000, fill_with=s)|join }}",
    "str repetition": "{{ 'x' * 400000000 }}",
    "bytes repetition": "{{ (name.encode() * 400000)|length }}",
    "format through |attr": "{{ ('{:{}}'|attr('format'))('x', width) }}",
    "list repetition": "{% set s = 'x' * 250000 %}{{ ([s] * 2000)|length }}",
    "nested repetition": "{% set l = ['x' * 2000] * 100 %}{{ [l] * 100 }}",
    "doubling with ~": "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                       "{% endfor %}",
    "doubling a shared list": "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = [ns.l, ns.l] %}"
                              "{% endfor %}{{ ns.l|string|length }}",
    "shared literals": "{% set a = ['x' * 100000] %}{% set b = [a, a, a, a] %}{% set c = (b, b, b, b) %}{{ c }}",
    "macro output": "{% set s = 'x' * 200000 %}{% macro m() %}{% for i in range(10000) %}{{ s }}{% endfor %}"
                    "{% endmacro %}{{ m()|length }}",
    "set block output": "{% set x %}{% for i in range(10000) %}{% for j in range(10000) %}yy{% endfor %}{% endfor %}"
                        "{% endset %}{{ x|length }}",
    "ljust": "{{ name.ljust(400000000) }}",
    "zfill": "{{ name.zfill(400000000) }}",
    "expandtabs": "{{ ('\t' * 200000).expandtabs(200000) }}",
    "translate": "{{ ('x' * 1000).translate({120: 'y' * 100000}) }}",
    "to_bytes": "{{ (1).to_bytes(400000000, 'big') }}",
    "tojson indent": "{{ [1, [2, [3]]]|tojson(indent='x' * 200000) }}",
    "repr of shared data": "{{ '%s' % ([name] * 100000,) }}",
    # big integers
    "tower of powers": "{{ 9 ** (9 ** 9) }}",  # Jinja's ** groups from the left: 9 ** 9 ** 9 is small
    "huge power": "{{ 2 ** 100000000 }}",
    "power of a big base": "{{ (2 ** 255) ** 256 }}",
    "repeated squaring": "{% set ns = namespace(n=2 ** 255) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                         "{% endfor %}{{ ns.n }}",
    "huge range": "{{ range(400000000)|length }}",
    "sum of lists": "{{ [[1]] * 80000|sum(start=[]) }}",
    # time: loops over data call nothing the sandbox sees, yet must stop at the budget
    "nested loops over a string": "{% for a in name %}{% for b in name %}{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("payload", ATTACKS.values(), ids=ATTACKS.keys())
def test_each_way_to_outgrow_the_limits_is_refused_before_it_allocates(payload):
    template = Template("attack", 1, {"email": {"default": {"text": payload}}})
    tracemalloc.start()
    try:
        with pytest.raises(RenderError) as caught:
            Renderer(CAP, max_render_s=0.5).render_part(template, "email", "text", "default",
                                                        {"name": "x" * 3000, "width": "400000000"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.kind in ("output_too_large", "render_too_slow", "sandbox_violation"), caught.value
    assert peak < PEAK_BYTES, f"{peak / 2**20:.0f} MB allocated before the render was refused"


def test_a_refusal_says_what_and_how_large():
    with pytest.raises(RenderError) as caught:
        Renderer(CAP).render_part(Template("t", 1, {"sms": {"default": {"text": "{{ s|replace('x', s) }}"}}}),
                                  "sms", "text", "default", {"s": "x" * 100000})
    assert caught.value.kind == "output_too_large" and caught.value.line == 1
    assert "|replace would be about 10,000,000,000 characters, over the 262,144-byte output cap" in caught.value.detail


def test_templates_within_the_limits_still_render():
    items = [{"sku": f"A{i}", "qty": i} for i in range(2000)]
    context = {"name": "Ada", "amount": 1234567.891, "items": items, "big": "é" * 200000, "width": 12}
    cases = {
        "{{ '%-8s|%8.2f|%05d' % (name, amount, 42) }}": "Ada     |1234567.89|00042",
        "{{ '{:>{}}|{:,.1f}|{!r}'.format(name, width, amount, name) }}": "         Ada|1,234,567.9|'Ada'",
        "{{ '{n:*^9}'.format_map({'n': name}) }}": "***Ada***",
        "{{ items|length }} {{ items|map(attribute='qty')|sum }} {{ (items|last).sku }}": "2000 1999000 A1999",
        "{{ big|length }} {{ big|truncate(5, leeway=0) }}": "200000 éé...",
        "{{ dict(amount=500000000).amount }} {{ missing|default(1000000000) }}": "500000000 1000000000",
        "{{ 2 ** 256 }}": str(2 ** 256),
        "{{ (items|map(attribute='sku')|list)[:3]|join(', ') }}": "A0, A1, A2",
        "{% macro row(i) %}<{{ i.sku }}>{% endmacro %}{% for i in items[:3] %}{{ row(i) }}{% endfor %}":
            "<A0><A1><A2>",
        "{{ (['ab'] * 3)|join('-') }}": "ab-ab-ab",
        "{{ name ~ '!' ~ 3 }}": "Ada!3",
        "{{ ('x' * 1000)|length }} {{ 9 ** 9 ** 9 }}": f"1000 {(9 ** 9) ** 9}",
    }
    for source, expected in cases.items():
        template = Template("fine", 1, {"email": {"default": {"text": source}}})
        assert Renderer(CAP).render_part(template, "email", "text", "default", context) == expected, source


def test_a_part_source_over_the_cap_is_refused_before_it_is_compiled():
    template = Template("huge", 1, {"sms": {"default": {"text": "x" * 5000}}})
    with pytest.raises(RenderError) as caught:
        Renderer(4096).render_part(template, "sms", "text", "default", {})
    assert caught.value.kind == "template_too_large"
