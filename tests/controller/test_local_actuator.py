"""The local provider with REAL `forescale worker` processes (echo engine) on simulated pools."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from forescale.controller.actuators.local import LocalProvider
from forescale.controller.settings import LocalSettings
from forescale.core.clock import ManualClock
from forescale.core.errors import InsufficientCapacity
from tests.controller.conftest import ON_DEMAND, SPOT

FAST_SPOT = SPOT.model_copy(update={"lead_time_s": 30, "gpus_per_node": 2})


@pytest.fixture
async def provider(aredis: aioredis.Redis, redis_url: str) -> AsyncIterator[LocalProvider]:
    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    settings = LocalSettings(interruption_notice_s=120, drain_timeout_s=10, unavailable_pools="od-a")
    p = LocalProvider(aredis, redis_url, settings, ManualClock())
    yield p
    await p.close()
    assert p.procs.procs == []


async def until(predicate, timeout_s: float = 30.0):  # waits for real processes; not a timing assertion
    deadline = time.monotonic() + timeout_s
    while not (value := await predicate()):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)
    return value


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_start_when_nodes_are_ready_and_report_ready(provider: LocalProvider) -> None:
    clock = provider.clock
    assert isinstance(clock, ManualClock)
    await provider.set_nodes("m1", FAST_SPOT, 1, 2)
    await provider.set_replicas("m1", FAST_SPOT, 2)
    assert provider.procs.procs == []  # the node is still launching
    [obs] = await provider.observe("m1", [FAST_SPOT], clock.now())
    assert (obs.ready_nodes, obs.starting_nodes) == (0, 1)
    clock.advance(30)
    [obs] = await provider.observe("m1", [FAST_SPOT], clock.now())
    assert obs.ready_nodes == 1 and obs.lead_times_s == (30.0,)
    assert len(provider.procs.of("m1", "spot-a")) == 2  # two GPUs per node: both fit

    async def ready() -> bool:
        return (await provider.replicas("m1", [FAST_SPOT])).ready == 2

    await until(ready)
    counts = (await provider.replicas("m1", [FAST_SPOT])).by_pool["spot-a"]
    assert (counts.desired, counts.ready, counts.starting) == (2, 2, 0)
    pids = [w.pid for w in provider.procs.of("m1", "spot-a")]
    await provider.set_replicas("m1", FAST_SPOT, 1)  # scale down: newest worker gets SIGTERM
    await until(lambda: asyncio.sleep(0, result=sum(alive(p) for p in pids) == 1))


async def test_unavailable_pool_raises_and_is_reported(provider: LocalProvider) -> None:
    with pytest.raises(InsufficientCapacity):
        await provider.set_nodes("m1", ON_DEMAND, 2, 2)
    [obs] = await provider.observe("m1", [ON_DEMAND], provider.clock.now())
    assert obs.insufficient_capacity_at == provider.clock.now() and obs.starting_nodes == 0
