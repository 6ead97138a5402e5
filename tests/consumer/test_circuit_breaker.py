"""The one circuit breaker: closed -> open for the cool-down -> half-open with exactly one probe,
whose verdict alone closes or re-opens it."""
from __future__ import annotations

from consumer.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def opened(failures: int = 2, cooldown_s: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    circuit = CircuitBreaker(cooldown_s, failures, clock)
    for _ in range(failures):
        circuit.failed(circuit.admit())
    assert circuit.state == OPEN
    return circuit, clock


def test_consecutive_failures_open_it_and_a_success_resets_the_run():
    circuit = CircuitBreaker(30.0, 3, Clock())
    for _ in range(2):
        circuit.failed(circuit.admit())
    circuit.succeeded(circuit.admit())
    circuit.failed(circuit.admit()), circuit.failed(circuit.admit())
    assert circuit.state == CLOSED and circuit.consecutive == 2
    circuit.failed(circuit.admit())
    assert circuit.state == OPEN and circuit.trips == 1


def test_open_refuses_until_the_cool_down_is_over():
    circuit, clock = opened(cooldown_s=30.0)
    assert circuit.admit() is None and circuit.remaining_s() == 30.0 and circuit.retry_after_s() == 30.0
    clock.now += 29.5
    assert circuit.admit() is None and circuit.retry_after_s() == 0.5
    clock.now += 0.5
    assert circuit.state == HALF_OPEN and circuit.remaining_s() == 0.0


def test_half_open_admits_exactly_one_probe_and_refuses_everyone_else_while_it_is_out():
    circuit, clock = opened()
    clock.now += 30
    probe = circuit.admit()
    assert probe is not None and probe.probe
    assert [circuit.admit() for _ in range(5)] == [None] * 5
    assert circuit.retry_after_s() == 1.0  # come back in a moment: the probe decides soon
    circuit.succeeded(probe)
    assert circuit.state == CLOSED and circuit.consecutive == 0
    assert circuit.admit() is not None and circuit.admit() is not None  # closed: everyone again


def test_a_failed_probe_opens_it_again_for_a_whole_cool_down():
    circuit, clock = opened(cooldown_s=30.0)
    clock.now += 40
    circuit.failed(circuit.admit())
    assert circuit.state == OPEN and circuit.remaining_s() == 30.0 and circuit.trips == 2


def test_late_verdicts_of_calls_admitted_while_closed_change_nothing_once_it_opened():
    clock = Clock()
    circuit = CircuitBreaker(30.0, 1, clock)
    early, late_success, late_failure = circuit.admit(), circuit.admit(), circuit.admit()
    circuit.failed(early)
    assert circuit.state == OPEN
    circuit.succeeded(late_success)  # an answer to a call sent before the circuit opened
    circuit.failed(late_failure)
    assert circuit.state == OPEN and circuit.remaining_s() == 30.0 and circuit.trips == 1
    clock.now += 30
    probe = circuit.admit()
    circuit.succeeded(late_success)  # still not the probe
    assert circuit.state == HALF_OPEN and circuit.admit() is None
    circuit.succeeded(probe)
    assert circuit.state == CLOSED


def test_a_probe_released_without_a_verdict_hands_the_turn_to_the_next_caller():
    """Not sent (no slot), cancelled, or the code around it raised: no verdict on the dependency."""
    circuit, clock = opened()
    clock.now += 30
    circuit.released(circuit.admit())
    assert circuit.state == HALF_OPEN
    next_probe = circuit.admit()
    assert next_probe is not None and next_probe.probe and circuit.admit() is None


def test_without_a_failure_count_only_the_owner_trips_it():
    clock = Clock()
    circuit = CircuitBreaker(10.0, 0, clock)
    for _ in range(100):
        circuit.failed(circuit.admit())
    assert circuit.state == CLOSED and circuit.at_rest  # nothing counted, nothing to remember
    circuit.trip()
    assert circuit.state == OPEN and not circuit.at_rest
    clock.now += 10
    circuit.succeeded(circuit.admit())
    assert circuit.state == CLOSED and circuit.at_rest
