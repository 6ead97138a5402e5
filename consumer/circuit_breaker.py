"""The one circuit breaker of Tidings: what stops calling a failing dependency for a while. Used by
the SMS provider failover, the webhook endpoint bulkhead and the channel worker's dead-letter limit.

closed -> open (for `cooldown_s`) -> half-open, where exactly one probe is admitted: its success
closes the circuit, its failure opens it again, and every other caller is refused while it is out.
While the circuit is open or half-open only the probe's verdict counts: a late answer to a call
admitted before the circuit opened changes nothing. What opens a closed circuit is the owner's rule:
`failures` consecutive failures, or the owner calling trip() (the dead-letter limit's share rule)."""
from __future__ import annotations

import time
from typing import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# While a probe is out, refused callers are told to come back after at most this long.
PROBE_WAIT_S = 1.0


class Admission:
    """The right to make one call; the probe's admission is its own object, so that its verdict
    is told apart from the late verdict of a call admitted while the circuit was closed."""

    __slots__ = ("probe",)

    def __init__(self, probe: bool):
        self.probe = probe

    def __repr__(self) -> str:
        return "Admission(probe)" if self.probe else "Admission(closed)"


_WHILE_CLOSED = Admission(probe=False)


class CircuitBreaker:
    def __init__(self, cooldown_s: float, failures: int = 0, clock: Callable[[], float] = time.monotonic):
        self.cooldown_s = cooldown_s
        self.failures = failures  # consecutive failures that open a closed circuit; 0: only trip() does
        self.clock = clock
        self.consecutive = 0
        self.open_until: float | None = None  # None while closed
        self.probe: Admission | None = None  # the probe that is out, in half-open
        self.trips = 0

    @property
    def state(self) -> str:
        if self.open_until is None:
            return CLOSED
        return OPEN if self.clock() < self.open_until else HALF_OPEN

    @property
    def at_rest(self) -> bool:
        """Closed with no failure counted: nothing to remember."""
        return self.open_until is None and self.consecutive == 0

    def remaining_s(self) -> float:
        """The rest of the cool-down (0 when closed or half-open)."""
        return 0.0 if self.open_until is None else max(0.0, self.open_until - self.clock())

    def retry_after_s(self) -> float:
        """How long a refused caller should wait: the rest of the cool-down, or a moment while the
        probe is out."""
        return self.remaining_s() or min(self.cooldown_s, PROBE_WAIT_S)

    def admit(self) -> Admission | None:
        """An admission for one call, or None when the circuit refuses it (open, or half-open with
        the probe out). No await comes between the check and taking the probe: one event loop
        never admits two probes."""
        state = self.state
        if state == CLOSED:
            return _WHILE_CLOSED
        if state == HALF_OPEN and self.probe is None:
            self.probe = Admission(probe=True)
            return self.probe
        return None

    def succeeded(self, admission: Admission) -> None:
        if admission is self.probe:
            self.probe, self.open_until = None, None
        if self.open_until is None:
            self.consecutive = 0

    def failed(self, admission: Admission) -> None:
        if admission is self.probe:
            self.probe = None
            self.trip()
        elif self.open_until is None and self.failures:
            self.consecutive += 1
            if self.consecutive >= self.failures:
                self.trip()

    def released(self, admission: Admission) -> None:
        """The call ended without a verdict on the dependency (it was never sent, it was cancelled,
        or the code around it raised): the probe's turn goes to the next caller."""
        if admission is self.probe:
            self.probe = None

    def trip(self) -> None:
        """Open now, for the cool-down."""
        self.open_until = self.clock() + self.cooldown_s
        self.probe = None
        self.trips += 1
