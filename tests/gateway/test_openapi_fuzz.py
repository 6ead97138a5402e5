"""Schemathesis against the gateway's own OpenAPI document: valid and invalid requests for every
operation, with a token holding every scope; no input may get a 5xx."""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.gateway.conftest import ALL_SCOPES, make_token

# Per operation and mode: enough to reach every validator in a minute or two; set
# TIDINGS_FUZZ_EXAMPLES=200 for a deeper run.
EXAMPLES = int(os.environ.get("TIDINGS_FUZZ_EXAMPLES", "15"))


def test_no_input_gets_a_server_error(gateway):
    schema = schemathesis.openapi.from_url(f"{gateway.base}/openapi.json")
    headers = {"Authorization": f"Bearer {make_token('fuzzer', scopes=ALL_SCOPES + ['alertmanager'])}"}
    failures, calls = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def call(case):
                nonlocal calls
                calls += 1
                response = case.call(base_url=gateway.base, headers=headers, timeout=60)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {mode.value}: {response.status_code} "
                                    f"{response.text[:300]}\n  {case.as_curl_command()}")
            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls > 100
    assert not failures, "\n".join(failures[:10])
