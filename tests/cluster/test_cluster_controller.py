"""The controller on a real 3-shard Redis Cluster: ``controller.service.serve`` itself,
given a ``redis+cluster://`` URL, elects itself, ticks and scales Deployments on the fake
Kubernetes API server, for models whose keys live on three different shards. Policies and
pools are written with their WATCH/MULTI versioned puts, the signals read with MGET, and
every tick's state, forecasts and decisions go through pipelines that span the shards."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from redis.asyncio.cluster import RedisCluster

from forescale import keys
from forescale.controller.actuators import kube_objects as ko
from forescale.controller.api.app import create_app
from forescale.controller.api.deps import ApiDeps
from forescale.controller.leader import RedisLease
from forescale.controller.service import Wiring, serve
from forescale.controller.settings import ControllerSettings, KubeSettings
from forescale.controller.store import Store, VersionConflict
from forescale.core.clock import ManualClock
from forescale.core.model import PolicySpec, PoolSpec
from forescale.queue import arrivals
from forescale.queue.client import connect
from tests.api import conftest as api
from tests.fakekube.server import FakeKube

NOW = 1_700_000_000.0
MODELS = {"m1": 35, "m2": 12, "m3": 71}  # rps each: their keys hash to three different shards
POOL = PoolSpec(name="od-a", capacity_type="on-demand", price_per_node_hour=3.0, max_nodes=20, lead_time_s=90)


def replicas(fake: FakeKube) -> dict[str, int]:
    return {
        d["metadata"]["name"]: d["spec"]["replicas"]
        for d in fake.objects("deployments", "apps")
        if d["metadata"]["labels"]["forescale.io/role"] == "worker"
    }


async def test_controller_service_ticks_on_the_cluster(cluster_url: str, fake_kube: FakeKube) -> None:
    kube = KubeSettings(namespace="fs", host=fake_kube.url)
    r = connect(cluster_url, timeout_s=5.0)
    store = Store(r)
    await store.pools.put(POOL)
    shards = {cast(RedisCluster, r).get_node_from_key(keys.policy_state(m)).name for m in MODELS}
    assert len(shards) == 3
    for m, rps in MODELS.items():
        v1 = await store.policies.put(PolicySpec(model=m, target_rps_per_replica=5, max_replicas=10))
        # WATCH/MULTI on the cluster: of writers racing from the same version, one wins
        racing = [PolicySpec(model=m, target_rps_per_replica=t, max_replicas=10) for t in (10, 11, 12)]
        results = await asyncio.gather(*(store.policies.put(u, v1) for u in racing), return_exceptions=True)
        assert sum(isinstance(x, VersionConflict) for x in results) == 2, results
        won = next(u for u, x in zip(racing, results, strict=True) if isinstance(x, str))
        if won.target_rps_per_replica != 10:
            await store.policies.put(racing[0])  # the spec the tick below expects
        fake_kube.put("deployments", ko.worker_deployment(m, POOL, kube), "apps", ns="fs")
        pipe = r.pipeline(transaction=False)  # a router's flush: one model's counters, one slot
        arrivals.add(pipe, {(m, s): rps for s in range(int(NOW) - 120, int(NOW) + 300)})
        await pipe.execute()
    # a published forecast below the demand: read through the tick's cross-shard pipeline
    low = {
        "source": "test",
        "issued_at": NOW,
        "step_s": 60,
        "quantiles": [0.9],
        "points": [{"t": NOW, "rps": [1.0]}],
    }
    await r.set(keys.forecast("m1"), json.dumps([low]))

    clock = ManualClock(NOW)
    stop = asyncio.Event()
    settings = ControllerSettings(
        provider="kubernetes", redis_url=cluster_url, interval_s=15, metrics_port=0, identity="cluster-test"
    )
    task = asyncio.create_task(
        serve(settings, stop, clock, wiring=Wiring(kube=kube), registry=CollectorRegistry(), api=False)
    )
    try:
        for _ in range(200):  # the lease, then a tick: each waits on the clock
            if all([await store.list_decisions(m) for m in MODELS]) or task.done():
                break
            clock.advance(1.0)
            await asyncio.sleep(0.02)
        assert not task.done(), task.exception()
        for m, rps in MODELS.items():
            [d, *_] = await store.list_decisions(m)
            assert d.desired_replicas == -(-rps // 10), d
            assert (await store.load_state(m)).last_desired == d.desired_replicas
        assert await store.model_errors() == {}
        want = {f"fs-{m}-od-a": -(-rps // 10) for m, rps in MODELS.items()}
        for _ in range(200):
            if replicas(fake_kube) == want:
                break
            await asyncio.sleep(0.02)
        assert replicas(fake_kube) == want
    finally:
        stop.set()
        clock.advance(60.0)
        await asyncio.wait_for(task, 30)
        await r.aclose()


async def test_admin_api_and_lease_on_the_cluster(cluster_url: str) -> None:
    """The admin API's versioned writes, audit, status and a what-if over the counters, and
    the local provider's Redis lease (a one-key script), on the cluster."""
    r = connect(cluster_url, timeout_s=5.0)
    try:
        for m, rps in MODELS.items():
            await r.mset({keys.arrivals(m, int(NOW) - 600 + i): rps for i in range(600)})  # one slot each
        app = create_app(api.settings(), ApiDeps(store=Store(r), clock=ManualClock(NOW)))
        async with TestClient(TestServer(app)) as client:
            assert (await client.put("/v1/pools/od-a", json=api.pool(), headers=api.W)).status == 201
            dry = await client.put("/v1/policies/m3?dry_run=true", json=api.policy("m3"), headers=api.W)
            assert dry.status == 200, await dry.text()
            assert (await dry.json())["what_if"]["requests"] == 71 * 600
            for m in MODELS:
                put = await client.put(f"/v1/policies/{m}", json=api.policy(m), headers=api.W)
                assert put.status == 201, await put.text()
                stale = {**api.W, "If-Match": '"0000000000000000"'}
                assert (
                    await client.put(f"/v1/policies/{m}", json=api.policy(m), headers=stale)
                ).status == 412
            status = await client.get("/v1/status", headers=api.R)
            assert status.status == 200 and {m["model"] for m in (await status.json())["models"]} == set(
                MODELS
            )
            audit = await client.get("/v1/audit", headers=api.R)
            assert audit.status == 200 and len((await audit.json())["items"]) == 4  # a pool, 3 policies
        lease = RedisLease(r, duration_s=15.0)
        assert await lease.acquire("a", NOW) and not await lease.acquire("b", NOW + 1)
        assert await lease.holder() == "a"
        await lease.release("a")
        assert await lease.acquire("b", NOW + 2)
    finally:
        await r.aclose()
