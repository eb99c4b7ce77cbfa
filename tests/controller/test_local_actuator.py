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


async def test_interruption_replacement_ready_before_drain_ends(provider: LocalProvider, store) -> None:
    """Fault test with real workers. Pass: after a spot interruption notice (120 s), the
    loop's next tick launches a replacement node; its worker is running and reports ready
    while the interrupted worker is still alive (before its SIGTERM at the end of the
    notice); at the end of the notice only the interrupted worker is stopped."""
    from forescale.controller.loop import Controller
    from forescale.core.model import PolicySpec
    from forescale.sim.fakes import FakeMetricsSource

    pool = SPOT.model_copy(update={"lead_time_s": 30})
    await store.pools.put(pool)
    await store.policies.put(PolicySpec(model="m1", target_rps_per_replica=10, min_replicas=1, max_replicas=4,
                                      spot_max_fraction=1.0, pools=("spot-a",)))  # fmt: skip
    source = FakeMetricsSource()
    source.set("m1", rps=10.0)
    clock = provider.clock
    assert isinstance(clock, ManualClock)
    ctl = Controller(store, source, provider, provider, clock)

    async def tick() -> None:
        clock.advance(15)
        await ctl.tick()

    for _ in range(3):
        await tick()
    [first] = provider.procs.of("m1", "spot-a")
    await until(lambda: ready_pids(provider, {first.pid}))
    provider.interrupt("m1", "spot-a")
    notice_at = clock.now()
    await tick()  # the controller asks for a replacement at once
    for _ in range(2):  # 30 s: the replacement node is ready, its worker starts
        await tick()
    new = [w for w in provider.procs.of("m1", "spot-a") if w is not first]
    assert new and clock.now() - notice_at < 120
    await until(lambda: ready_pids(provider, {w.pid for w in new}))
    assert alive(first.pid) and first.term_at is None  # the interrupted worker still serves
    while clock.now() - notice_at < 120:
        await tick()
    assert first.term_at is not None and all(w.term_at is None for w in new)
    await until(lambda: asyncio.sleep(0, result=not alive(first.pid)))


async def ready_pids(provider: LocalProvider, pids: set[int]) -> bool:
    from forescale.queue import heartbeat

    return pids <= (await heartbeat.live(provider.redis, "m1", time.time())).ready_pids


async def test_reserved_pool_launches_its_reservation_then_raises(provider: LocalProvider) -> None:
    from forescale.core.errors import ReservationExhausted
    from forescale.core.model import PoolSpec

    reserved = PoolSpec(name="res-a", capacity_type="reserved", price_per_node_hour=2, max_nodes=5,
                        reservation_nodes=2, lead_time_s=10)  # fmt: skip
    with pytest.raises(ReservationExhausted):
        await provider.set_nodes("m1", reserved, 4, 0)
    [obs] = await provider.observe("m1", [reserved], provider.clock.now())
    assert obs.starting_nodes == 2


async def test_random_spot_interruptions_then_nodes_leave_after_the_notice(aredis, redis_url: str) -> None:
    settings = LocalSettings(
        spot_interruptions_per_hour=3600 * 10, interruption_notice_s=120
    )  # ~certain per tick
    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    clock = ManualClock()
    p = LocalProvider(aredis, redis_url, settings, clock)
    try:
        await p.observe("m1", [SPOT, ON_DEMAND], clock.now())
        await p.set_nodes("m1", SPOT, 2, 0)
        await p.set_nodes("m1", ON_DEMAND, 2, 0)
        clock.advance(15)
        spot, od = await p.observe("m1", [SPOT, ON_DEMAND], clock.now())
        assert (spot.draining_nodes, spot.interruptions) == (2, 2)
        assert (od.draining_nodes, od.interruptions) == (0, 0)  # on-demand is never interrupted
        clock.advance(120)
        spot, _ = await p.observe("m1", [SPOT, ON_DEMAND], clock.now())
        assert (spot.draining_nodes, spot.starting_nodes, spot.ready_nodes) == (0, 0, 0)
    finally:
        await p.close()


FAILING = "{python} -c \"import sys; sys.stderr.write('boom: cannot load the model\\\\n'); sys.exit(3)\""


async def test_failing_worker_is_backed_off_and_its_reason_logged(aredis, redis_url: str, caplog) -> None:
    """A worker that exits at once is not restarted every tick: its exit code and the tail of
    its stderr are logged, and the next start waits 1 s, then 2 s, ... (wall clock)."""
    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    clock, wall = ManualClock(), ManualClock(time.time())
    p = LocalProvider(aredis, redis_url, LocalSettings(worker_command=FAILING), clock, wall=wall)
    try:
        await p.set_nodes("m1", FAST_SPOT, 1, 1)
        clock.advance(30)
        await p.set_replicas("m1", FAST_SPOT, 1)
        [w] = p.procs.of("m1", "spot-a")
        await w.proc.wait()
        caplog.set_level("WARNING", logger="forescale.controller.actuators.local_procs")
        await p.observe("m1", [FAST_SPOT], clock.now())  # reaps it: logged, backed off
        assert "exited with code 3" in caplog.text and "boom: cannot load the model" in caplog.text
        assert p.procs.of("m1", "spot-a") == []  # not restarted within the backoff
        wall.advance(1.0)
        await p.observe("m1", [FAST_SPOT], clock.now())
        [again] = p.procs.of("m1", "spot-a")  # restarted once the backoff is over
        await again.proc.wait()
        wall.advance(0.5)
        await p.observe("m1", [FAST_SPOT], clock.now())
        assert p.procs.failing[("m1", "spot-a")].count == 2
        assert p.procs.of("m1", "spot-a") == []  # now 2 s
    finally:
        await p.close()


async def test_policy_for_an_unregistered_model_is_flagged(
    aredis, redis_url: str, store, metrics, registry
) -> None:
    """A policy for a model with no registration: counted as
    forescale_controller_errors_total{kind="unregistered-model"} every tick, no worker is ever
    started for it, and the registered model next to it is served."""
    from forescale.controller.loop import Controller
    from forescale.core.model import PolicySpec
    from forescale.sim.fakes import FakeMetricsSource

    await aredis.hset("fs:models", "m1", json.dumps({"name": "m1", "engine": "echo"}))
    await store.pools.put(FAST_SPOT)
    for model in ("m1", "ghost"):
        await store.policies.put(PolicySpec(model=model, target_rps_per_replica=10, pools=("spot-a",)))
    clock = ManualClock()
    p = LocalProvider(aredis, redis_url, LocalSettings(drain_timeout_s=10), clock)
    source = FakeMetricsSource()
    for model in ("m1", "ghost"):
        source.set(model, rps=10.0)
    try:
        ctl = Controller(store, source, p, p, clock, metrics=metrics)
        for _ in range(3):
            assert [d.model for d in await ctl.tick()] == ["m1"]
            clock.advance(15)
        assert (
            registry.get_sample_value("forescale_controller_errors_total", {"kind": "unregistered-model"})
            == 3
        )
        assert p.procs.of("ghost", "spot-a") == [] and p.procs.of("m1", "spot-a")
    finally:
        await p.close()


async def test_the_cluster_starts_workers_between_ticks(provider: LocalProvider) -> None:
    """A node that becomes ready between two controller ticks gets its worker then, as on a
    real cluster (kubelet), not at the controller's next call; a model the last observation
    found unregistered gets none."""
    from forescale.controller.errors import ActuatorError

    clock = provider.clock
    assert isinstance(clock, ManualClock)
    provider.start()
    for model in ("m1", "ghost"):
        await provider.set_nodes(model, FAST_SPOT, 1, 1)
        await provider.set_replicas(model, FAST_SPOT, 1)
    with pytest.raises(ActuatorError):
        await provider.observe("ghost", [FAST_SPOT], clock.now())
    assert provider.procs.procs == []  # the nodes are still launching
    clock.advance(30)  # both nodes ready; no controller call follows
    await until(lambda: asyncio.sleep(0, result=len(provider.procs.of("m1", "spot-a")) == 1))
    assert provider.procs.of("ghost", "spot-a") == []
