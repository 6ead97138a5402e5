"""A template pushed over HTTP is rendered with its sample data in a render worker process: one
that would run away or outgrow the output cap is refused (422) with the reason, nothing is
stored, and the gateway goes on serving."""
from __future__ import annotations

import psycopg

from tests.gateway.conftest import make_token

# 400 million loop turns and no output: nothing the sandbox saw before the fix, so nothing stopped it.
SPIN = {"sample": {"s": "x" * 20000},
        "parts": {"sms": {"default": {"text": "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"}}}}
WIDE = {"sample": {"width": "400000000"}, "parts": {"sms": {"default": {"text": "{{ '{:{}}'.format('x', width) }}"}}}}


def test_a_runaway_or_oversized_template_is_refused_and_the_gateway_serves_on(gateway, pipeline):
    admin = make_token(scopes=["admin:templates"])
    spin = gateway.request("PUT", "/v1/templates/spin", admin, json=SPIN)
    assert spin.status_code == 422, spin.text
    assert "render_too_slow" in spin.json()["error"] and spin.json()["field"] == "spin/sms.text"
    wide = gateway.request("PUT", "/v1/templates/wide", admin, json=WIDE)
    assert wide.status_code == 422 and "output_too_large: wide/sms.text line 1: a format width" in wide.json()["error"]
    fine = gateway.request("PUT", "/v1/templates/fine", admin, json={**WIDE, "sample": {"width": "8"}})
    assert fine.status_code == 200 and fine.json()["version"] == 1
    with psycopg.connect(pipeline.database_url) as conn:
        assert conn.execute("SELECT name FROM templates").fetchall() == [("fine",)]
