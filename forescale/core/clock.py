"""Clocks. The core never reads one (it gets ``Observation.now``); loops receive one.

``SystemClock`` is the only place in forescale that reads wall time for a loop;
``ManualClock`` lets tests and the simulator step time forward deterministically.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()  # SystemClock is the one sanctioned wall-clock read

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told. ``sleep`` parks until ``advance`` passes its deadline."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + max(0.0, seconds), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many coroutines are parked in ``sleep`` (tests wait for this to rise)."""
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)


def to_grid(now: float, period_s: float, offset_s: float = 0.0) -> float:
    """Seconds from ``now`` to the next point ``k * period_s + offset_s`` after it (epoch
    grid). Periodic loops sleep this long instead of ``period_s`` so that their phase is
    fixed: what a tick reads of whole-second counters does not drift with processing time.
    A point less than a tenth of a period away is skipped (a tick that ran late does not
    run twice in a row)."""
    if period_s <= 0:
        return 0.0
    wait = (offset_s - now) % period_s
    return wait + period_s if wait < 0.1 * period_s else wait
