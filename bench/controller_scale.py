"""Benchmark: one controller tick for 1000 policies against the fake Kubernetes API server,
with nothing to change: seconds per tick (budget 2 s) and API requests per tick (bounded).

The whole controller runs: Redis store (a real redis-server), the real decision core, the
Kubernetes actuator through the real kubernetes-asyncio client against the in-repo fake
API server (tests/fakekube), which counts every request it receives. Each policy has two
pools and its own scale target per pool (2000 Deployments it did not create, scaled to
what the demand asks before the clock starts), each pool a node and a placeholder. The
first ticks list every kind once and settle; the measured ticks then read the watch-fed
caches only, so the API request count per tick is 0 when nothing changes (before the
caches a tick listed nodes, pods and NodeClaims per model: 3000+ requests).

    PYTHONPATH=. .venv/bin/python bench/controller_scale.py [--policies 1000] [--ticks 3]

Prints one line per measured tick and, last, a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import redis.asyncio as aioredis
from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from forescale.controller.actuators import kube_objects as ko
from forescale.controller.actuators.kube_world import KubeWorld, store_policies
from forescale.controller.actuators.kubernetes import KubeNodes, KubeReplicas
from forescale.controller.loop import Controller
from forescale.controller.metrics import ControllerMetrics
from forescale.controller.settings import KubeSettings
from forescale.controller.store import Store
from forescale.core.clock import ManualClock
from forescale.core.model import Decision, PolicySpec, PoolSpec
from forescale.devstack.redis_server import RedisServer
from forescale.sim.fakes import FakeMetricsSource
from tests.fakekube.server import FakeKube

LIMIT_S = 2.0
S = KubeSettings(namespace="fs")
POOLS = (
    PoolSpec(name="spot-a", capacity_type="spot", price_per_node_hour=1.0, max_nodes=5000, lead_time_s=120),
    PoolSpec(name="od-a", capacity_type="on-demand", price_per_node_hour=3.0, max_nodes=5000, lead_time_s=90),
)


async def setup(fake: FakeKube, store: Store, n: int, source: FakeMetricsSource) -> None:
    for pool in POOLS:
        await store.pools.put(pool)
    for i in range(n):
        model = f"m{i:04d}"
        await store.policies.put(
            PolicySpec(
                model=model, target_rps_per_replica=10, min_replicas=1, max_replicas=8, on_demand_base=1
            )
        )
        source.set(model, rps=30.0)
        for pool in POOLS:
            fake.put("deployments", ko.worker_deployment(model, pool, S), "apps", ns="fs")


async def run(n: int, ticks: int) -> dict[str, object]:
    fake = FakeKube(history=100_000)
    await fake.start()
    with RedisServer() as server:
        redis = aioredis.Redis.from_url(server.url)
        store = Store(redis, decision_history=5)
        source = FakeMetricsSource()
        clock = ManualClock(1_700_000_000.0)
        await setup(fake, store, n, source)
        async with client.ApiClient(client.Configuration(host=fake.url)) as api:
            world = KubeWorld(api, S, clock, policies=store_policies(store))
            ctl = Controller(
                store, source, KubeNodes(api, S, clock, world), KubeReplicas(api, S, clock, world), clock,
                metrics=ControllerMetrics(CollectorRegistry()),
            )  # fmt: skip
            for _ in range(2):  # warm-up: first lists, then the scale-up to what demand asks
                await ctl.tick()
                clock.advance(15)
                await fake.settle(world.cache.informers.values(), timeout_s=120)
            rows = []
            decisions = []
            for t in range(ticks):
                before, writes_before = fake.started, _writes(fake)
                started = time.perf_counter()
                decisions = await ctl.tick()
                seconds = time.perf_counter() - started
                row = {"tick": t, "seconds": round(seconds, 3), "requests": fake.started - before,
                       "writes": _writes(fake) - writes_before, "decisions": len(decisions)}  # fmt: skip
                print(json.dumps(row), flush=True)
                rows.append(row)
                clock.advance(15)
                await fake.settle(world.cache.informers.values(), timeout_s=120)
            actuator_s, actuator_requests = await actuator_pass(ctl, decisions, fake)
            print(json.dumps({"actuator_seconds": round(actuator_s, 3), "requests": actuator_requests}))
            await world.close()
        await redis.aclose()
    await fake.close()
    median = statistics.median(float(str(r["seconds"])) for r in rows)
    return {
        "policies": n,
        "median_seconds_per_tick": round(median, 3),
        "max_requests_per_tick": max(int(str(r["requests"])) for r in rows),
        "informers": len(world.cache.informers),
        "actuator_seconds_per_tick": round(actuator_s, 3),
        "limit_s": LIMIT_S,
        "ok": median <= LIMIT_S,
    }


async def actuator_pass(ctl: Controller, decisions: list[Decision], fake: FakeKube) -> tuple[float, int]:
    """The Kubernetes actuator's share of a tick: observe, read replicas and set the same
    counts again for every model, without Redis, signals or the core (what the tick adds)."""
    before = fake.started
    started = time.perf_counter()
    now = ctl.clock.now()
    for d in decisions:
        await ctl.nodes.observe(d.model, POOLS, now)
        await ctl.replicas.replicas(d.model, POOLS)
        for t in d.pools:
            pool = next(p for p in POOLS if p.name == t.pool)
            await ctl.nodes.set_nodes(d.model, pool, t.nodes, t.replicas)
            await ctl.replicas.set_replicas(d.model, pool, t.replicas)
    return time.perf_counter() - started, fake.started - before


def _writes(fake: FakeKube) -> int:
    return sum(1 for r in fake.requests if r.method in ("POST", "PUT", "PATCH", "DELETE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.policies, args.ticks))))


if __name__ == "__main__":
    main()
