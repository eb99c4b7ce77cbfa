"""Schedule floors: recurring (cron, UTC) or one-off windows with a replica floor.

A window counts when it overlaps ``[now, now + lead_time]``: capacity for a scheduled
event has to be requested a lead time before the event starts, not at its start.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from croniter import croniter

from forescale.core.model import ScheduleSpec


@functools.lru_cache(maxsize=4096)
def _next_start(cron: str, after: float) -> float:
    """First cron start strictly after ``after`` (cached: the same instants recur each tick)."""
    start = datetime.fromtimestamp(after, tz=UTC)
    return float(croniter(cron, start).get_next(float))


def active(s: ScheduleSpec, now: float, lead_s: float) -> bool:
    """Whether a window of ``s`` overlaps ``[now, now + lead_s]``."""
    if s.start is not None:
        start = s.start
    else:
        assert s.cron is not None  # PolicySpec guarantees exactly one of the two
        # Asked from the minute boundary (cron's resolution) so the cache hits for a minute;
        # a start between that boundary and `after` has ended, so take the one after it.
        after = now - s.duration_s
        start = _next_start(s.cron, math.floor(after / 60) * 60.0)
        if start <= after:
            start = _next_start(s.cron, start)
    return now - s.duration_s < start <= now + lead_s


def floor(schedules: Sequence[ScheduleSpec], now: float, lead_s: float) -> tuple[int, list[str]]:
    """The highest floor among active windows, and the names of those windows."""
    best = 0
    names = []
    for s in schedules:
        if active(s, now, lead_s):
            names.append(s.name)
            best = max(best, s.min_replicas)
    return best, names
