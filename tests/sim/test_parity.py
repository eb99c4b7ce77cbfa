"""The simulator and the controller, given the same scenario, issue the same commands.

Both run over their own copy of the same simulated cluster (same seed): the simulator
through ``CorePolicy``, the controller through its real loop (store on a real Redis,
``ClusterPorts`` as its node and replica ports, a manual clock). Spot capacity vanishes
part-way, so launches meet insufficient capacity; neither side decides twice in a tick,
and every tick's port calls (kind, pool, count, in order) must be identical.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
from sim_helpers import START, availability_file, base_scenario, scenario

from forescale.controller.loop import Controller
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.model import PolicySpec
from forescale.core.ports import Signals
from forescale.sim.engine import Simulation
from forescale.sim.policies import CorePolicy
from forescale.sim.ports import ClusterPorts


class SimSource:
    """The controller's metrics source, reading the simulation's rates (no events consumed)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    async def read(self, spec: PolicySpec, now: float) -> Signals:
        return self.sim.signals(now)

    async def close(self) -> None:
        return None


def demand(seconds: int) -> np.ndarray:
    t = np.arange(seconds, dtype=float)
    return 6.0 + 4.0 * np.sin(t / 600.0)  # a swell, so both directions are exercised


async def test_simulator_and_controller_issue_the_same_commands(
    tmp_path: Path, aredis: aioredis.Redis
) -> None:
    avail = availability_file(tmp_path, 600, [1, 1] + [0] * 4 + [1] * 6)  # spot gone 1200-3600 s
    doc = base_scenario()
    doc["pools"][1]["spot"]["availability"] = {"path": str(avail)}
    sc = scenario(doc)
    d = demand(5400)

    # the simulator, recording every tick's port calls
    sim_a = Simulation(sc, d, START)
    policy = CorePolicy("forescale", sc, None, math.inf)
    policy.record = True
    sim_a.run(policy)
    sim_calls = policy.calls[1:]  # [0] is the warm start

    # the controller, ticking over its own copy of the cluster
    sim_b = Simulation(sc, d, START)
    warm = CorePolicy("forescale", sc, None, math.inf)
    warm.start(sim_b)
    store = Store(aredis)
    for p in sc.pool_specs():
        await store.pools.put(p)
    await store.policies.put(sc.policy)
    await store.save_state(sc.policy.model, warm.state)
    clock = ManualClock(START)
    ports = ClusterPorts(sim_b.cluster, START)
    ctl = Controller(store, SimSource(sim_b), ports, ports, clock, interval_s=sc.tick_s)
    ctl_calls = []
    ready = np.zeros(len(d))
    served, dropped = np.zeros(len(d)), np.zeros(len(d))
    tick = sc.tick_s
    for k in range(math.ceil(len(d) / tick)):
        now = START + k * tick
        if k:
            clock.advance(now - clock.now())
            sim_b.cluster.interrupt_unavailable(now)
            ports.now, ports.log = now, []
            await ctl.tick()
            ctl_calls.append(ports.log)
        i0, i1 = int(k * tick), min(len(d), int(k * tick + tick))
        sim_b.cluster.advance(now, START + i1, ready, i0)
        sim_b._serve(i0, i1, ready, served, dropped)

    assert len(ctl_calls) == len(sim_calls)
    for k, (a, b) in enumerate(zip(sim_calls, ctl_calls, strict=True)):
        assert a == b, f"tick {k + 1}: simulator {a} != controller {b}"
    assert sim_a.cluster.pools["spot"].insufficient_at is not None  # the outage was met
    assert sim_b.cluster.pools["spot"].insufficient_at == sim_a.cluster.pools["spot"].insufficient_at
    assert any(c[0] == "nodes" and c[2] == "spot" for calls in sim_calls[80:] for c in calls)
