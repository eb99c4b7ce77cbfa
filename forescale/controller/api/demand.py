"""Recorded demand for the what-if: the routers' per-second arrival counters and the
prescaler's kept history in Redis, or the routers' request counter in Prometheus.

``fs:arr:{model}:{second}`` holds the requests that arrived in that second (contracts.md);
routers let them expire after an hour. The prescaler (without Prometheus) keeps its own
per-step rates longer (``fs:prescaler:history:{model}:{step}``, read through
``forescale.prescaler.history.kept_history``), so ``RedisDemand`` answers at 1 s: the
prescaler's steps, each spread evenly over its seconds, overlaid by the counters where
they exist (the last hour, finer). Seconds before the first record are not part of the
answer (no record is not zero traffic); seconds after the first counter without one had
no arrivals (routers only write seconds that saw requests); a step the prescaler never
kept, before the counters begin, is a gap (NaN, replayed as no traffic).

Prometheus keeps the whole day: ``PrometheusDemand`` reuses the prescaler's
``PrometheusHistory`` (one-minute rates of ``forescale_router_requests_total``), trimmed
the same way; a scrape gap inside the window replays as no traffic.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

import numpy as np
import redis.asyncio as aioredis

from forescale.core.metrics_spec import MetricSpec
from forescale.prescaler.base import RateSeries
from forescale.prescaler.history import COUNTER_TTL_S, kept_history
from forescale.prescaler.settings import PrescalerSettings
from forescale.queue import arrivals

DEFAULT_HISTORY_STEP_S = float(PrescalerSettings.model_fields["step_s"].default)


class DemandSource(Protocol):
    async def recorded(
        self, model: str, end: float, seconds: int, metrics: tuple[MetricSpec, ...] = ()
    ) -> RateSeries | None:
        """Arrivals per second over ``[end - seconds, end)``, trimmed to what was recorded;
        None when nothing was. ``metrics``: the policy's, whose request-rate metric is read
        where the source can (Prometheus); Redis holds only forescale's own counters."""
        ...


class RedisDemand:
    """``history_step_s``: the prescaler's ``step_s`` (its history hash is per step). The
    controller passes the step its entry point read (``ControllerSettings.history_step_s``,
    the prescaler's own ``FORESCALE_PRESCALER_STEP_S``): with another step the kept history
    would be missed and only the last hour of counters replayed."""

    def __init__(self, redis: aioredis.Redis, history_step_s: float = DEFAULT_HISTORY_STEP_S) -> None:
        self.redis = redis
        self.history_step_s = history_step_s

    async def recorded(
        self, model: str, end: float, seconds: int, metrics: tuple[MetricSpec, ...] = ()
    ) -> RateSeries | None:
        last = math.floor(end) - 1  # the second in progress is incomplete
        first = last - seconds + 1
        values = np.full(seconds, np.nan)
        kept = await kept_history(self.redis, model, first, last + 1, self.history_step_s)
        if kept is not None:
            _spread(values, first, kept)
        # Counters older than their TTL do not exist: only the last hour is read (one MGET).
        counted = await self._counters(model, max(first, last + 1 - COUNTER_TTL_S), last)
        if counted is not None:
            values[round(counted.start) - first :] = counted.values
        known = np.flatnonzero(np.isfinite(values))
        if len(known) == 0:
            return None
        return RateSeries(float(first + known[0]), 1.0, values[known[0] :])

    async def _counters(self, model: str, first: int, last: int) -> RateSeries | None:
        """Per-second counts from the first counter found in ``[first, last]`` on."""
        counted = await arrivals.read(self.redis, model, first, last)
        seen = counted.first_counted()
        if seen is None:
            return None
        return RateSeries(float(first + seen), 1.0, np.array(counted.per_second()[seen:], dtype=float))


def _spread(values: np.ndarray, first: int, kept: RateSeries) -> None:
    """Each kept step's rate on every second of it inside ``values`` (which starts at ``first``)."""
    step = kept.step_s
    for i, rate in enumerate(kept.values):
        if math.isfinite(rate):
            lo = max(0, math.ceil(kept.start + i * step) - first)
            hi = min(len(values), math.ceil(kept.start + (i + 1) * step) - first)
            values[lo:hi] = rate


class PrometheusDemand:
    def __init__(self, url: str, timeout_s: float = 10.0, step_s: float = 60.0) -> None:
        from forescale.prescaler.history import PrometheusHistory

        self.history = PrometheusHistory(url, timeout_s)
        self.step_s = step_s

    async def recorded(
        self, model: str, end: float, seconds: int, metrics: tuple[MetricSpec, ...] = ()
    ) -> RateSeries | None:
        # prometheus-api-client is synchronous (requests): keep it off the event loop.
        series = await asyncio.to_thread(self.history.fetch, model, end, seconds, self.step_s, metrics)
        known = np.flatnonzero(np.isfinite(series.values))
        if len(known) == 0:
            return None
        first = int(known[0])
        return RateSeries(series.start + first * self.step_s, self.step_s, series.values[first:])
