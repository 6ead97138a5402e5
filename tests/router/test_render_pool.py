"""router/render_pool.py with real worker processes: parts come back in order; a part that never
returns is stopped by killing its worker, while the rest of its batch and other callers carry on;
a worker that exits or runs out of memory fails one part only."""
from __future__ import annotations

import sys
import threading

import pytest

from router.render_pool import RenderPool
from router.templates import RenderError, Template


def misbehaving_pool(budget_s: float = 0.5, workers: int = 2, memory_mb: int = 256) -> RenderPool:
    command = [sys.executable, "-m", "tests.router.stuck_render_worker", "4096", str(budget_s), str(memory_mb)]
    return RenderPool(4096, budget_s, workers=workers, command=command)


def sms(source: str) -> Template:
    return Template("t", 1, {"sms": {"default": {"text": source}}})


@pytest.fixture
def pool():
    made = RenderPool(4096, 1.0, workers=2)
    yield made
    made.close()


def test_renders_come_back_in_order_with_their_errors(pool):
    slack = Template("s", 1, {"slack": {"default": {"text": "*{{ name }}*", "blocks": '[{"t": {{ name|tojson }}}]'}},
                              "email": {"default": {"subject": "Hi {{ name }}", "html": "<b>{{ name }}</b>"},
                                        "pt": {"subject": "Olá {{ name }}"}}})
    results = pool.render_many([(slack, "slack", None, {"name": "<!here>"}), (slack, "email", "pt-BR", {"name": "<i>"}),
                                (slack, "sms", None, {}), (sms("{{ nope }}"), "sms", None, {}),
                                (sms("{{ 'x' * 5000 }}"), "sms", None, {}), (sms("ok {{ n }}"), "sms", None, {"n": 1})])
    assert results[0] == {"text": "*&lt;!here&gt;*", "blocks": [{"t": "&lt;!here&gt;"}]}
    assert results[1] == {"subject": "Olá <i>", "html": "<b>&lt;i&gt;</b>"}
    assert [r.kind for r in results[2:5]] == ["no_parts", "missing_variable", "output_too_large"]
    assert results[2:5][1].where == "t/sms.text" and results[2:5][1].line == 1
    assert results[5] == {"text": "ok 1"}
    assert pool.render_channel(sms("again {{ n }}"), "sms", None, {"n": 2}) == {"text": "again 2"}
    with pytest.raises(RenderError, match="missing_variable"):
        pool.render_part(sms("{{ nope }}"), "sms", "text", "default", {})


def test_a_batch_larger_than_one_request_is_sent_in_several(pool):
    contexts = [{"n": n, "padding": "x" * 3_000_000} for n in range(4)]  # 12 MB: over the 8 MB of one request
    jobs = [(f"t/{n}", "sms", "text", "{{ n }} {{ padding|length }}", c) for n, c in enumerate(contexts)]
    assert pool.render_parts(jobs + jobs[:1]) == ["0 3000000", "1 3000000", "2 3000000", "3 3000000", "0 3000000"]


def test_a_part_that_never_returns_is_stopped_and_the_rest_of_the_batch_renders():
    pool = misbehaving_pool()
    try:
        first, stuck, after = pool.render_parts([("t/a", "sms", "text", "one {{ n }}", {"n": 1}),
                                                 ("t/b", "sms", "text", "STUCK", {}),
                                                 ("t/c", "sms", "text", "three {{ n }}", {"n": 3})])
        assert (first, after) == ("one 1", "three 3")
        assert isinstance(stuck, RenderError) and stuck.kind == "render_too_slow" and stuck.where == "t/b"
        assert "restarting its render worker" in stuck.detail
        assert pool.render_parts([("t/d", "sms", "text", "still {{ n }}", {"n": 4})]) == ["still 4"]
    finally:
        pool.close()


def test_a_stuck_render_holds_up_no_other_caller():
    pool = misbehaving_pool(budget_s=2.0)  # the stuck part is given 6 s before its worker is killed
    stuck_outcome: list = []
    taken = threading.Event()

    def render_stuck() -> None:
        taken.set()
        stuck_outcome.extend(pool.render_parts([("t/stuck", "sms", "text", "STUCK", {})]))

    stuck = threading.Thread(target=render_stuck)
    try:
        stuck.start()
        taken.wait(10)
        for n in range(3):
            assert pool.render_parts([("t/quick", "sms", "text", "quick {{ n }}", {"n": n})]) == [f"quick {n}"]
        assert stuck.is_alive() and not stuck_outcome  # the quick ones did not wait for it
        stuck.join(60)
        assert [o.kind for o in stuck_outcome] == ["render_too_slow"]
    finally:
        stuck.join(60)
        pool.close()


def test_a_worker_that_exits_or_runs_out_of_memory_fails_only_its_part():
    pool = misbehaving_pool(memory_mb=128)
    try:
        exited, hog, fine = pool.render_parts([("t/exit", "sms", "text", "EXIT", {}),
                                               ("t/hog", "sms", "text", "HOG", {}),
                                               ("t/fine", "sms", "text", "fine", {})])
        assert exited.kind == "render_error" and "exited with code 3" in exited.detail
        assert hog.kind == "output_too_large" and "out of memory" in hog.detail  # capped at +128 MB
        assert fine == "fine"
    finally:
        pool.close()
