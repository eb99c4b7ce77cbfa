"""The demo's controller process: ``forescale controller --provider local`` plus a script
of spot outages.

The local provider simulates pools inside the controller process, so a spot outage (the
pool's capacity vanishes: every node gets an interruption notice, launches fail with
insufficient capacity, then capacity returns) can only be staged in that process. This
module runs ``controller.service.serve`` (no second wiring) with one extra task that reads
the outage script from Redis (``fs:demo:outages``: JSON list of {pool, start, end} in
epoch seconds, written by the demo when the load starts) and flips the provider's
``unavailable`` knob and ``interrupt()`` at those times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal

import redis.asyncio as aioredis

from forescale import keys
from forescale.controller import service
from forescale.controller.actuators.local import LocalProvider
from forescale.controller.service import Parts
from forescale.controller.settings import ControllerSettings, LocalSettings
from forescale.core.clock import Clock

log = logging.getLogger("forescale.stack.controller")
OUTAGES_KEY = keys.DEMO_OUTAGES


async def stage_outages(
    redis: aioredis.Redis, local: LocalProvider, clock: Clock, stop: asyncio.Event
) -> None:
    """Apply the outage script (looked at ten times a second, so that a notice comes when
    the simulator's does, at the outage's start): inside a window the pool is unavailable and
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
        await clock.sleep(0.1)


async def _outages(parts: Parts, redis: aioredis.Redis, clock: Clock, stop: asyncio.Event) -> None:
    assert isinstance(parts.nodes, LocalProvider)  # the demo runs the local provider
    await stage_outages(redis, parts.nodes, clock, stop)


async def serve(settings: ControllerSettings, local: LocalSettings, stop: asyncio.Event) -> None:
    """``controller.service.serve`` (the one wiring) with the outage script alongside.

    Lead time = launch -> replica ready, as the simulator reports it (the worker start is
    part of what a pre-scale must cover); the demo runs its admin API elsewhere."""
    await service.serve(
        settings.model_copy(update={"provider": "local", "signals": "direct"}),
        stop,
        wiring=service.Wiring(local=local),
        lead_time="replica",
        api=False,
        extra=_outages,
    )


def main() -> int:
    settings, local = ControllerSettings(), LocalSettings()  # read once, here
    logging.basicConfig(level=settings.log_level, format="%(asctime)s controller %(levelname)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, local, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
