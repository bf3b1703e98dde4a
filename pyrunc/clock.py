"""Time, passed in: the supervisor's decisions take a Clock, never `time.*` directly.

`wall()` is the epoch time written into facts and shown to users (startedAt, finishedAt, back-off
deadlines survive a supervisor restart, so they are wall-clock). `monotonic()` orders timers inside
one supervisor's life. Tests use FakeClock and move it by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to; both readings move together."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._wall += seconds
        self._monotonic += seconds
