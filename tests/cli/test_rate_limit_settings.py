"""A malformed rate-limit setting stops `tidings run router` at once, naming the variable, before
it connects to anything."""
from __future__ import annotations

import pytest

from tests.cli.run import tidings


@pytest.mark.parametrize("env, variable", [
    ({"TIDINGS_RATE_LIMITS": "recipient=100"}, "TIDINGS_RATE_LIMITS"),
    ({"TIDINGS_RATE_LIMIT_ACTION": "drop"}, "TIDINGS_RATE_LIMIT_ACTION"),
    ({"TIDINGS_RATE_LIMIT_EXEMPT": "critical"}, "TIDINGS_RATE_LIMIT_EXEMPT"),
])
def test_malformed_rate_limit_settings_stop_the_router(env, variable):
    result = tidings(None, "run", "router", timeout=30, TIDINGS_BOOTSTRAP_SERVERS="127.0.0.1:1", **env)
    assert result.returncode == 2
    assert variable in result.stdout + result.stderr
