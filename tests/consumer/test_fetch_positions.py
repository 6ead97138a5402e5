"""The fetch order check: a fetched offset past the expected one is a gap to fetch again, never
a step over; repeats are dropped; a gap that survives every re-fetch is real and accepted."""
from consumer.fetch_positions import FetchPositions, Gap

KEY = ("t", 0)


def test_contiguous_offsets_are_taken_and_repeats_dropped():
    positions = FetchPositions()
    positions.expect(KEY, 10)
    assert [positions.check(KEY, o) for o in (10, 11, 12)] == [True, True, True]
    assert positions.check(KEY, 11) is False  # fetched again after a resume: already taken


def test_a_gap_is_fetched_again_from_the_first_missing_offset():
    positions = FetchPositions()
    positions.expect(KEY, 10)
    assert positions.check(KEY, 10) is True
    assert positions.check(KEY, 13) == Gap(KEY, 11, 13)  # 11 and 12 never arrived
    assert positions.check(KEY, 11) is True  # the re-fetch
    assert positions.check(KEY, 12) is True
    assert positions.check(KEY, 13) is True


def test_a_gap_right_after_the_committed_offset_is_noticed():
    positions = FetchPositions()
    positions.expect(KEY, 100)
    assert positions.check(KEY, 101) == Gap(KEY, 100, 101)


def test_without_a_committed_offset_the_first_fetched_one_starts_the_partition():
    positions = FetchPositions()
    positions.expect(KEY, None)
    assert positions.check(KEY, 57) is True
    assert positions.check(KEY, 59) == Gap(KEY, 58, 59)


def test_a_gap_still_there_after_every_refetch_is_accepted():
    positions = FetchPositions(max_refetches=2)
    positions.expect(KEY, 0)
    assert positions.check(KEY, 0) is True
    assert isinstance(positions.check(KEY, 5), Gap)
    assert isinstance(positions.check(KEY, 5), Gap)
    assert positions.check(KEY, 5) is True  # compaction or transaction markers on a real topic
    assert positions.check(KEY, 6) is True


def test_forgotten_partitions_start_again():
    positions = FetchPositions()
    positions.expect(KEY, 5)
    positions.forget({KEY})
    assert positions.check(KEY, 42) is True
