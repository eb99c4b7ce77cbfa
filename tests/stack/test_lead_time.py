"""The local provider's ``lead_time="replica"`` mode (the demo's): launch -> first ready
worker, with REAL `forescale worker` processes (echo engine)."""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis

from forescale.controller.actuators.local import LocalProvider
from forescale.controller.settings import LocalSettings
from forescale.core.clock import ManualClock
from forescale.core.model import PoolSpec

POOL = PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1.0, max_nodes=4, lead_time_s=30)


async def test_replica_mode_reports_launch_to_worker_ready(aredis: aioredis.Redis, redis_url: str) -> None:
    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    clock = ManualClock()
    p = LocalProvider(aredis, redis_url, LocalSettings(drain_timeout_s=10), clock, lead_time="replica")
    try:
        await p.set_nodes("m1", POOL, 1, 1)
        await p.set_replicas("m1", POOL, 1)
        clock.advance(30)
        [obs] = await p.observe("m1", [POOL], clock.now())
        assert obs.ready_nodes == 1 and obs.lead_times_s == ()  # node up, worker not yet
        deadline = time.monotonic() + 30  # waits for a real process; not a timing assertion
        while (await p.replicas("m1", [POOL])).ready < 1:
            assert time.monotonic() < deadline, "worker never became ready"
            await asyncio.sleep(0.1)
        clock.advance(4)  # the controller's clock moves on before its next observation
        await p.replicas("m1", [POOL])
        [obs] = await p.observe("m1", [POOL], clock.now())
        assert obs.lead_times_s == (30.0,)  # measured when the worker was first seen ready
        [obs] = await p.observe("m1", [POOL], clock.now())
        assert obs.lead_times_s == ()  # once per node
    finally:
        await p.close()
    assert p.procs.procs == []
