"""Lane scheduling decisions (consumer.priority) with an injected clock: which partitions stay
paused while a higher lane has work, the hysteresis, the starvation guard and rebalances."""
from __future__ import annotations

from consumer.priority import PriorityLanes, lane_of, split_by_lane

URGENT, HIGH, LOW = ("t.events.urgent", 0), ("t.events.high", 0), ("t.events.low", 0)
LOW_1 = ("t.events.low", 1)
RETRY = ("t.channel.webhook.retry.1s", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lanes_at_end(clock: Clock, *keys, resume_after_s=0.5, max_pause_s=30.0, lag_messages=1) -> PriorityLanes:
    lanes = PriorityLanes(resume_after_s, max_pause_s, lag_messages, clock=clock)
    lanes.assigned(keys)
    for key in keys:
        lanes.reached_end(key)
    return lanes


def test_lane_of_reads_the_priority_from_the_topic_name():
    assert [lane_of(t) for t in ("p.events.urgent", "p.channel.sms.high", "p.events.normal", "p.channel.email.low")] == [0, 1, 2, 3]
    assert lane_of("p.channel.webhook.retry.10s") is None and lane_of("p.deliveries") is None


def test_a_few_messages_from_a_caught_up_lane_pause_nothing_a_backlog_does():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, LOW, lag_messages=100)
    for _ in range(99):
        lanes.fetched(URGENT)
    assert lanes.to_pause() == set()  # 99 then the end: a consumer that keeps up
    lanes.reached_end(URGENT)
    for _ in range(100):
        lanes.fetched(URGENT)
    assert lanes.to_pause() == {LOW}  # 100 without reaching the end: URGENT is behind
    lanes.reached_end(URGENT)
    assert lanes.to_pause() == {LOW}  # caught up with Kafka, but not for resume_after_s yet
    clock.now += 1
    assert lanes.to_pause() == set()  # however many of its messages are still being worked on


def test_lower_lanes_pause_while_a_higher_lane_has_lag_and_resume_after_it_drains():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, HIGH, LOW, LOW_1, RETRY)
    assert lanes.to_pause() == set()
    lanes.fetched(URGENT)
    assert lanes.to_pause() == {HIGH, LOW, LOW_1}  # the top lane and retry tiers never
    lanes.reached_end(URGENT)
    assert lanes.to_pause() == {HIGH, LOW, LOW_1}  # at its end, but not for resume_after_s yet
    clock.now += 0.2
    assert lanes.to_pause() == {HIGH, LOW, LOW_1}  # idle, but not for resume_after_s yet
    clock.now += 0.5
    assert lanes.to_pause() == set()


def test_without_hysteresis_a_lane_stays_paused_while_a_higher_lane_is_behind():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, LOW, resume_after_s=0.0)
    lanes.fetched(URGENT)
    for _ in range(5):  # every loop turn while URGENT is behind, however little time passes
        assert lanes.to_pause() == {LOW}
        clock.now += 0.001
    lanes.reached_end(URGENT)
    assert lanes.to_pause() == set()  # resumed the turn URGENT catches up


def test_a_lane_waits_for_every_higher_lane_and_the_top_lane_for_none():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, HIGH, LOW)
    lanes.fetched(HIGH)
    assert lanes.to_pause() == {LOW}
    lanes.fetched(URGENT)
    assert lanes.to_pause() == {HIGH, LOW}
    lanes.reached_end(URGENT)
    clock.now += 1
    assert lanes.to_pause() == {LOW}  # HIGH runs again; LOW still waits for it
    lanes.reached_end(HIGH)
    clock.now += 1
    assert lanes.to_pause() == set()


def test_hysteresis_a_trickle_of_urgent_work_does_not_resume_and_re_pause_each_time():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, LOW)
    decisions = []
    for _ in range(10):  # one urgent message every 0.3 s, each done at once
        lanes.fetched(URGENT)
        decisions.append(lanes.to_pause())
        lanes.reached_end(URGENT)
        clock.now += 0.3
        decisions.append(lanes.to_pause())
    assert all(d == {LOW} for d in decisions)


def test_a_lane_paused_for_max_pause_s_runs_for_a_while_even_if_higher_lanes_stay_busy():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, LOW, max_pause_s=30.0)
    lanes.fetched(URGENT)
    assert lanes.to_pause() == {LOW}
    clock.now += 29
    assert lanes.to_pause() == {LOW}
    clock.now += 1
    assert lanes.to_pause() == set()  # 30 s paused: runs for 5 s
    clock.now += 4.9
    assert lanes.to_pause() == set()
    clock.now += 0.2
    assert lanes.to_pause() == {LOW}


def test_unknown_partitions_count_as_busy_until_their_first_end_of_partition():
    clock = Clock()
    lanes = PriorityLanes(0.5, 30.0, 1, clock=clock)
    lanes.assigned([URGENT, LOW])
    assert lanes.to_pause() == {LOW}
    lanes.reached_end(URGENT)
    clock.now += 1
    assert lanes.to_pause() == set()


def test_after_a_rebalance_newly_assigned_lower_partitions_are_paused_again():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, LOW)
    lanes.fetched(URGENT)
    assert lanes.to_pause() == {LOW}
    lanes.revoked([LOW])
    assert lanes.to_pause() == set()
    lanes.assigned([LOW, LOW_1])  # the group handed LOW back, and another LOW partition
    assert lanes.to_pause() == {LOW, LOW_1}
    lanes.revoked([URGENT])  # the higher lane went to another consumer: nothing holds LOW here
    lanes.reached_end(LOW)
    lanes.reached_end(LOW_1)
    clock.now += 1
    assert lanes.to_pause() == set()


def test_a_resumed_lane_that_got_messages_while_paused_pauses_the_lanes_below_again():
    clock = Clock()
    lanes = lanes_at_end(clock, URGENT, HIGH, LOW)
    lanes.fetched(URGENT)
    assert lanes.to_pause() == {HIGH, LOW}
    lanes.reached_end(URGENT)
    clock.now += 1
    assert lanes.to_pause() == set()  # HIGH was at its end: both resume together
    lanes.fetched(HIGH)  # HIGH had got messages meanwhile
    assert lanes.to_pause() == {LOW}
    lanes.reached_end(HIGH)
    clock.now += 0.5
    assert lanes.to_pause() == set()


def test_a_lane_never_fetched_holds_the_lanes_below_until_it_reports_its_end():
    clock = Clock()
    lanes = PriorityLanes(0.5, 30.0, 1, clock=clock)
    lanes.assigned([URGENT, HIGH, LOW])  # at start nothing is known
    assert lanes.to_pause() == {HIGH, LOW}
    lanes.reached_end(URGENT)
    clock.now += 1
    assert lanes.to_pause() == {LOW}  # HIGH resumes; LOW waits for HIGH's first report
    clock.now += 5
    assert lanes.to_pause() == {LOW}
    lanes.reached_end(HIGH)
    clock.now += 0.5
    assert lanes.to_pause() == set()


class Fetched:
    def __init__(self, topic: str, offset: int):
        self._topic, self.offset = topic, offset

    def topic(self) -> str:
        return self._topic


def test_a_fetched_batch_is_split_by_lane_most_urgent_first():
    batch = [Fetched("t.events.low", 1), Fetched("t.channel.webhook.retry.1s", 7), Fetched("t.events.urgent", 4),
             Fetched("t.events.low", 2), Fetched("t.events.high", 9)]
    groups = split_by_lane(batch)
    assert [[(m.topic(), m.offset) for m in g] for g in groups] == [
        [("t.events.urgent", 4)], [("t.events.high", 9)], [("t.events.low", 1), ("t.events.low", 2)],
        [("t.channel.webhook.retry.1s", 7)]]
    assert split_by_lane([]) == []
