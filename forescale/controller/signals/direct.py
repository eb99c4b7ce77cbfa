"""Signals read straight from Redis, for setups without Prometheus (the local default).

Demand: routers INCRBY ``fs:arr:{model}:{epoch_second}`` at least once per second, so the
second in progress is incomplete: a window of ``w`` seconds ending at ``now`` sums the
``w`` whole seconds before the current one. Queue: ``XLEN fs:req:{model}`` (backlog + in
flight; not XINFO lag, see DESIGN.md's known traps). A Redis error marks every signal stale.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import cast

import redis.asyncio as aioredis

from forescale import keys
from forescale.core.model import PolicySpec
from forescale.core.ports import Signals
from forescale.queue import arrivals

log = logging.getLogger(__name__)
ALL_SIGNALS = ("rps_short", "rps_stable", "queue_depth")


class DirectSource:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._warned: set[str] = set()

    async def read(self, spec: PolicySpec, now: float) -> Signals:
        foreign = [m.kind for m in spec.metrics if m.query is not None or m.preset != "forescale"]
        if foreign:
            # Redis holds only forescale's own counters: reading them for an engine's traffic
            # would see no demand and scale down. Stale instead: the core holds capacity.
            if spec.model not in self._warned:
                self._warned.add(spec.model)
                log.warning("%s: metrics %s need Prometheus (signals=prometheus)", spec.model, foreign)
            return Signals(at=now, stale=ALL_SIGNALS)
        last = math.floor(now) - 1  # last whole second
        stable = max(1, round(spec.stable_window_s))
        short = max(1, min(stable, round(spec.panic_window_s)))
        try:
            counted = await arrivals.read(self.redis, spec.model, last + 1 - stable, last)
            depth = await cast(Awaitable[int], self.redis.xlen(keys.request_stream(spec.model)))
        except (aioredis.RedisError, OSError) as exc:
            log.warning("direct signals for %s failed: %s", spec.model, exc)
            return Signals(at=now, stale=ALL_SIGNALS)
        per_second = counted.per_second()[::-1]  # newest first
        return Signals(
            at=now,
            rps_short=sum(per_second[:short]) / short,
            rps_stable=sum(per_second) / stable,
            queue_depth=int(depth),
        )

    async def close(self) -> None:
        return None
