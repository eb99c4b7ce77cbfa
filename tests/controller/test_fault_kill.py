"""Fault test: `forescale controller` killed with SIGKILL in the middle of a reconcile.

Two real controller processes (kubernetes provider, direct Redis signals) against the fake
API server running in this test's event loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import redis.asyncio as aioredis

from forescale import keys
from forescale.controller.actuators import kube_objects as ko
from forescale.controller.settings import KubeSettings
from forescale.controller.store import Store
from forescale.core.model import PolicySpec, ScalingBehavior, ScalingRule
from tests.controller.conftest import ON_DEMAND
from tests.fakekube.server import FakeKube

FAST_UP = ScalingBehavior(stabilization_window_s=0, rules=(ScalingRule(type="pods", value=100, period_s=15),))
WORKER = "/apis/apps/v1/namespaces/fs/deployments/fs-m1-od-a"


async def start_controller(redis_url: str, kube_url: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "FORESCALE_REDIS_URL": redis_url,
        "FORESCALE_CONTROLLER_PROVIDER": "kubernetes",
        "FORESCALE_CONTROLLER_INTERVAL_S": "0.5",
        "FORESCALE_CONTROLLER_LEASE_DURATION_S": "3",
        "FORESCALE_CONTROLLER_METRICS_PORT": "0",
        "FORESCALE_API_PORT": "0",  # any free port: two controllers run side by side
        "FORESCALE_KUBE_HOST": kube_url,
        "FORESCALE_KUBE_NAMESPACE": "fs",
        "FORESCALE_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "forescale.cli", "controller", env=env, stdout=asyncio.subprocess.DEVNULL
    )


async def until(predicate, timeout_s: float = 60.0):  # waits on real processes; not a timing assertion
    deadline = time.monotonic() + timeout_s
    while not (value := await predicate()):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)
    return value


def replica_history(fake: FakeKube) -> list[int]:
    """spec.replicas of the worker Deployment after every write the API server accepted."""
    return [
        e.obj["spec"]["replicas"]
        for e in fake.store.events
        if e.kind.plural == "deployments" and e.obj["metadata"]["name"] == "fs-m1-od-a"
    ]


async def test_kill_9_mid_reconcile_resumes_without_spike_or_duplicate(
    redis_url: str, aredis: aioredis.Redis, fake_kube: FakeKube
) -> None:
    """Pass: (1) controller A scales the worker Deployment to 6 (60 req/s, 10 per replica);
    (2) demand rises to 70 req/s and A is killed (SIGKILL) while its reconcile is inside the
    scale call to 7, after deciding and before persisting; demand then drops to 0;
    (3) controller B takes the Lease over, resumes from the persisted PolicyState and
    keeps 6 replicas (the scale-down stabilization window it inherited still holds; a
    controller that lost its state would drop to 1 at once): every value the Deployment
    ever had is non-decreasing and at most 6, and B's decisions are all 6."""
    store = Store(aredis)
    await store.pools.put(ON_DEMAND)
    await store.policies.put(PolicySpec(model="m1", target_rps_per_replica=10, min_replicas=1,
                                        max_replicas=10, scale_up=FAST_UP, pools=("od-a",)))  # fmt: skip
    kube = KubeSettings(namespace="fs")  # the worker Deployment, as forescale's manifests create it
    fake_kube.put("deployments", ko.worker_deployment("m1", ON_DEMAND, kube), "apps", ns="fs")
    now = int(time.time())
    await aredis.mset({keys.arrivals("m1", s): 60 for s in range(now - 120, now + 600)})
    a = await start_controller(redis_url, fake_kube.url)
    b = None
    try:
        await until(lambda: asyncio.sleep(0, result=replica_history(fake_kube)[-1:] == [6]))
        await until(lambda: aredis.exists(keys.policy_state("m1")))
        in_scale = asyncio.Event()
        fake_kube.inject(method="GET", path=f"{WORKER}/scale", delay_s=30, action=in_scale.set)
        # A reads from watch-fed caches and calls the API only to change something: a bit
        # more demand makes it decide 7 and enter the scale call, where it is killed
        await aredis.mset({keys.arrivals("m1", s): 70 for s in range(now - 120, now + 600)})
        await asyncio.wait_for(in_scale.wait(), 30)
        await aredis.delete(*[keys.arrivals("m1", s) for s in range(now - 120, now + 600)])
        a.send_signal(signal.SIGKILL)
        await a.wait()
        killed_at = time.time()
        b = await start_controller(redis_url, fake_kube.url)

        async def b_decided() -> bool:
            return len(await store.list_decisions("m1", since=killed_at)) >= 6

        await until(b_decided)
        after = await store.list_decisions("m1", since=killed_at)
        assert [d.desired_replicas for d in after] == [6] * len(after)
        history = replica_history(fake_kube)
        assert history == sorted(history) and max(history) == 6 and history[-1] == 6
    finally:
        for proc in (a, b):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 20)
