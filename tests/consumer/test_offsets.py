"""Offsets advance only over a contiguous run of finished messages."""
from consumer.offsets import OffsetTracker


def test_offset_moves_only_past_the_first_unfinished_message():
    tracker = OffsetTracker()
    handles = {o: tracker.add("t", 0, o) for o in (10, 11, 12, 13)}
    key = ("t", 0)

    def finish(offset):
        progress, epoch = handles[offset]
        return tracker.finish(key, progress, epoch, offset)

    assert finish(12) is None  # 10 and 11 still running
    assert finish(10) == 11
    assert tracker.positions() == {key: 11}
    assert finish(11) == 13  # 12 was already done
    assert tracker.in_flight() == 1
    assert finish(13) == 14
    assert tracker.in_flight() == 0


def test_partitions_are_independent():
    tracker = OffsetTracker()
    a, a_epoch = tracker.add("t", 0, 5)
    b, b_epoch = tracker.add("t", 1, 7)
    assert tracker.finish(("t", 1), b, b_epoch, 7) == 8
    assert tracker.positions() == {("t", 1): 8}
    assert tracker.finish(("t", 0), a, a_epoch, 5) == 6


def test_work_from_before_a_revoke_moves_nothing_after_reassignment():
    tracker = OffsetTracker()
    stale, stale_epoch = tracker.add("t", 0, 3)
    tracker.forget([("t", 0)])
    fresh, fresh_epoch = tracker.add("t", 0, 3)
    assert tracker.finish(("t", 0), stale, stale_epoch, 3) is None
    assert tracker.positions() == {}
    assert tracker.finish(("t", 0), fresh, fresh_epoch, 3) == 4


def test_a_rewound_offset_must_be_done_again_before_the_offset_passes_it():
    tracker = OffsetTracker()
    key = ("t", 0)
    handles = {o: tracker.add("t", 0, o) for o in (0, 1, 2)}
    tracker.rewind(key, 1)  # offset 1 is not due yet: it will be fetched again, and 2 after it
    assert tracker.in_flight() == 1
    progress, epoch = handles[2]
    assert tracker.finish(key, progress, epoch, 2) is None  # the pre-rewind run of 2 does not count
    progress, epoch = handles[0]
    assert tracker.finish(key, progress, epoch, 0) == 1
    again = {o: tracker.add("t", 0, o) for o in (1, 2)}
    progress, epoch = again[2]
    assert tracker.finish(key, progress, epoch, 2) is None  # 1 is still unfinished
    progress, epoch = again[1]
    assert tracker.finish(key, progress, epoch, 1) == 3
