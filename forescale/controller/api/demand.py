"""Recorded demand for the what-if: the routers' per-second arrival counters in Redis,
or their request counter in Prometheus.

``fs:arr:{model}:{second}`` holds the requests that arrived in that second (contracts.md);
routers let them expire after an hour, so the direct source usually reaches back one hour
even when a day is asked for. Seconds before the first counter found are not part of the
answer (no record is not zero traffic); seconds after it without a counter had no
arrivals (routers only write seconds that saw requests).

Prometheus keeps the whole day: ``PrometheusDemand`` reuses the prescaler's
``PrometheusHistory`` (one-minute rates of ``forescale_router_requests_total``), trimmed
the same way; a scrape gap inside the window replays as no traffic.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, Protocol, cast

import numpy as np
import redis.asyncio as aioredis

from forescale.prescaler.base import RateSeries

_CHUNK = 3600  # keys per MGET: a bounded reply, 24 round trips for a day


class DemandSource(Protocol):
    async def recorded(self, model: str, end: float, seconds: int) -> RateSeries | None:
        """Arrivals per second over ``[end - seconds, end)``, trimmed to what was recorded;
        None when nothing was."""
        ...


class RedisDemand:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def recorded(self, model: str, end: float, seconds: int) -> RateSeries | None:
        last = math.floor(end) - 1  # the second in progress is incomplete
        first = last - seconds + 1
        counts: list[Any] = []
        for lo in range(first, last + 1, _CHUNK):
            keys = [f"fs:arr:{model}:{s}" for s in range(lo, min(lo + _CHUNK, last + 1))]
            counts += await cast(Awaitable[list[Any]], self.redis.mget(keys))
        seen = [i for i, c in enumerate(counts) if c is not None]
        if not seen:
            return None
        values = np.array([0.0 if c is None else float(c) for c in counts[seen[0] :]])
        return RateSeries(float(first + seen[0]), 1.0, values)


class PrometheusDemand:
    def __init__(self, url: str, timeout_s: float = 10.0, step_s: float = 60.0) -> None:
        from forescale.prescaler.history import PrometheusHistory

        self.history = PrometheusHistory(url, timeout_s)
        self.step_s = step_s

    async def recorded(self, model: str, end: float, seconds: int) -> RateSeries | None:
        # prometheus-api-client is synchronous (requests): keep it off the event loop.
        series = await asyncio.to_thread(self.history.fetch, model, end, seconds, self.step_s)
        known = np.flatnonzero(np.isfinite(series.values))
        if len(known) == 0:
            return None
        first = int(known[0])
        return RateSeries(series.start + first * self.step_s, self.step_s, series.values[first:])
