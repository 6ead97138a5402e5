"""The dead-letter limit trips on a run of dead letters or a high share, holds for the cool-down,
then lets one try through."""
from consumer.dead_letter_limit import DeadLetterLimit


def test_trips_on_the_consecutive_count_then_half_opens_after_the_cooldown():
    limit = DeadLetterLimit(max_consecutive=3, max_share=1.0, window=100, cooldown_s=10)
    assert limit.admit_dead_letter(0) and limit.admit_dead_letter(0)
    assert not limit.admit_dead_letter(0)  # the third in a row would reach the limit
    assert limit.is_tripped(5) and not limit.admit_dead_letter(5)
    assert not limit.is_tripped(10)  # cool-down over: half-open
    assert not limit.admit_dead_letter(11)  # still failing: trips again at once
    assert limit.trips == 2
    assert not limit.is_tripped(21)
    limit.succeeded(21)  # a success closes it
    assert limit.admit_dead_letter(22)


def test_trips_on_the_share_of_a_full_window_only():
    limit = DeadLetterLimit(max_consecutive=1000, max_share=0.5, window=10, cooldown_s=10)
    for _ in range(4):
        limit.succeeded(0)
        assert limit.admit_dead_letter(0)
    limit.succeeded(0)
    assert limit.admit_dead_letter(0) is False  # 5 of the last 10 would be dead letters


def test_successes_reset_the_run():
    limit = DeadLetterLimit(max_consecutive=3, max_share=1.0, window=100, cooldown_s=10)
    for _ in range(10):
        assert limit.admit_dead_letter(0) and limit.admit_dead_letter(0)
        limit.succeeded(0)


def test_only_the_first_outcome_after_the_cooldown_decides():
    """A success while the limit holds (a delivery sent before it tripped) does not close it; after
    the cool-down the first outcome is the one probe of the circuit breaker."""
    limit = DeadLetterLimit(max_consecutive=1, max_share=1.0, window=100, cooldown_s=10)
    assert not limit.admit_dead_letter(0) and limit.tripped_until == 10
    limit.succeeded(5)
    assert limit.is_tripped(6) and not limit.admit_dead_letter(6)
    limit.succeeded(10)  # the probe: closed
    assert not limit.is_tripped(10) and limit.trips == 1
