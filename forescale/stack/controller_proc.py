"""The demo's controller process: ``forescale controller --provider local`` plus a script
of spot outages.

The local provider simulates pools inside the controller process, so a spot outage (the
pool's capacity vanishes: every node gets an interruption notice, launches fail with
insufficient capacity, then capacity returns) can only be staged in that process. This
module wires the same parts as ``controller.service.serve`` and adds one task that reads
the outage script from Redis (``fs:demo:outages``: JSON list of {pool, start, end} in
epoch seconds, written by the demo when the load starts) and flips the provider's
``unavailable`` knob and ``interrupt()`` at those times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket

import redis.asyncio as aioredis
from prometheus_client import REGISTRY, start_http_server

from forescale import keys
from forescale.controller.actuators.local import LocalProvider
from forescale.controller.leader import LeaderElector, RedisLease
from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.settings import ControllerSettings, LocalSettings
from forescale.controller.signals.direct import DirectSource
from forescale.controller.store import Store
from forescale.core.clock import Clock, SystemClock

log = logging.getLogger("forescale.stack.controller")
OUTAGES_KEY = keys.DEMO_OUTAGES


async def stage_outages(
    redis: aioredis.Redis, local: LocalProvider, clock: Clock, stop: asyncio.Event
) -> None:
    """Apply the outage script once a second: inside a window the pool is unavailable and
    every healthy node of it is interrupted; after it, capacity is back."""
    while not stop.is_set():
        raw = await redis.get(OUTAGES_KEY)
        now = clock.now()
        for o in json.loads(raw) if raw else []:
            inside = o["start"] <= now < o["end"]
            if inside and o["pool"] not in local.unavailable:
                local.unavailable.add(o["pool"])
                for model, pool in list(local.slots):
                    while pool == o["pool"] and local.interrupt(model, pool) is not None:
                        pass
                log.info("spot outage in %s: capacity gone, nodes interrupted", o["pool"])
            elif not inside and o["pool"] in local.unavailable and now >= o["end"]:
                local.unavailable.discard(o["pool"])
                log.info("spot outage in %s over: capacity back", o["pool"])
        await clock.sleep(0.5)


async def serve(settings: ControllerSettings, stop: asyncio.Event) -> None:
    clock = SystemClock()
    metrics = ControllerMetrics(REGISTRY)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    redis = aioredis.Redis.from_url(settings.redis_url)
    # Lead time = launch -> replica ready, as the simulator reports it (the worker start
    # is part of what a pre-scale must cover).
    local = LocalProvider(redis, settings.redis_url, LocalSettings(), clock, lead_time="replica")
    try:
        elector = LeaderElector(
            RedisLease(redis, settings.lease_duration_s), clock, f"{socket.gethostname()}-{os.getpid()}"
        )
        ctl = Controller(
            Store(redis, settings.decision_history),
            DirectSource(redis),
            local,
            local,
            clock,
            interval_s=settings.interval_s,
            elector=elector,
            metrics=metrics,
        )
        await asyncio.gather(elector.run(stop), ctl.run(stop), stage_outages(redis, local, clock, stop))
    finally:
        await local.close()
        await redis.aclose()


def main() -> int:
    settings = ControllerSettings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s controller %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
