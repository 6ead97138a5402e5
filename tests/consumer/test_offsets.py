"""Offsets advance only over a contiguous run of finished messages."""
from consumer.offsets import OffsetTracker


def test_offset_moves_only_past_the_first_unfinished_message():
    tracker = OffsetTracker()
    progress = {o: tracker.add("t", 0, o) for o in (10, 11, 12, 13)}
    key = ("t", 0)
    assert tracker.finish(key, progress[12], 12) is None  # 10 and 11 still running
    assert tracker.finish(key, progress[10], 10) == 11
    assert tracker.positions() == {key: 11}
    assert tracker.finish(key, progress[11], 11) == 13  # 12 was already done
    assert tracker.in_flight() == 1
    assert tracker.finish(key, progress[13], 13) == 14
    assert tracker.in_flight() == 0


def test_partitions_are_independent():
    tracker = OffsetTracker()
    a = tracker.add("t", 0, 5)
    b = tracker.add("t", 1, 7)
    assert tracker.finish(("t", 1), b, 7) == 8
    assert tracker.positions() == {("t", 1): 8}
    assert tracker.finish(("t", 0), a, 5) == 6


def test_work_from_before_a_revoke_moves_nothing_after_reassignment():
    tracker = OffsetTracker()
    stale = tracker.add("t", 0, 3)
    tracker.forget([("t", 0)])
    fresh = tracker.add("t", 0, 3)
    assert tracker.finish(("t", 0), stale, 3) is None
    assert tracker.positions() == {}
    assert tracker.finish(("t", 0), fresh, 3) == 4


def test_in_flight_counts_what_is_not_yet_past_the_stored_offset_across_partitions_and_revokes():
    tracker = OffsetTracker()
    a = {o: tracker.add("t", 0, o) for o in (1, 2, 3)}
    b = {o: tracker.add("t", 1, o) for o in (7, 8)}
    assert tracker.in_flight() == 5
    tracker.finish(("t", 0), a[2], 2)  # finished, but behind 1: still counted
    assert tracker.in_flight() == 5
    tracker.finish(("t", 0), a[1], 1)
    assert tracker.in_flight() == 3
    tracker.forget([("t", 1)])
    assert tracker.in_flight() == 1
    tracker.finish(("t", 1), b[7], 7)  # late completion of a revoked partition
    assert tracker.in_flight() == 1 == sum(tracker.in_flight_by_partition().values())
